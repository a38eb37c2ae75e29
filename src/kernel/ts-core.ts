// The plain TypeScript KernelCore (`Kernel.create({ impl: "ts" })`): the same frame allocator
// and the same one range loop as assembly/kernel/, written the way a careful JavaScript
// programmer would write them without WebAssembly — and the reference the differential tests
// hold the WebAssembly core to (identical tables, frame records and counts).
//
// How it stays fast without BigInt:
// - RAM and the frame records are one Int32Array over the Machine's linear memory; an 8-byte
//   entry is two words (lo, hi). Every bit the loops test (P, R/W, PS, A, D, the OS's bits
//   9-11) is in lo; frames past 4 GiB cannot exist, so a non-zero hi address part means "not
//   ours".
// - Addresses are doubles. Every address the loop handles is a multiple of 4096 below 2^64, so
//   it needs at most 52 significant bits and is exact; 2^64 stands for "the top" (u64 0 as an
//   exclusive end). Indices come from exact divisions by powers of two.
// - Per-PTE loops exist once for 8-byte and once for 4-byte entries, with the operation's
//   parameters in locals.
//
// What it shares with the WebAssembly core instead of repeating: the contract and its
// constants (core.ts: frame-record flags, SRC_*, KG_*, KS counter indexes), the entry bits
// (src/x86.ts) and the whole per-call plan (reserve.ts runs the count pass, the
// reservation and the release for both). What must mirror assembly/kernel/ by hand, because
// the differential test holds them byte-identical: the frame allocator's order (free stack,
// reservation stack, the large-page run scan from a rotating cursor, which allocations fault
// injection counts) and the range loop's visiting order, entry writes and counters.

import type { CoreAccess } from "../machine/machine.js";
import {
  FI_FREE, FI_KERNEL, FRAME_RECORD_BYTES, FI_LINK, FI_RES, FI_TABLE, KG_FOLDED, KG_KEEP, KG_LARGE, KS, KS_COUNT, PTE_SW_SPECIAL, SRC_ANON,
  SRC_NEW, SRC_PHYS, type KernelCore,
} from "./core.js";
import { PTE_A as A, PTE_D as D, PTE_PS as PS, PTE_RW as RW, PTE_XD } from "../x86.js";

const PAGE = 4096;
const TWO32 = 2 ** 32;
const TOP = 2 ** 64;
const NO_TABLE = -1; // a table the count pass knows is still to be allocated

// Entry bits as words: all but XD in the low word.
const PTE_RW = Number(RW);
const PTE_A = Number(A);
const PTE_D = Number(D);
const PTE_PS = Number(PS);
const PTE_SPECIAL = Number(PTE_SW_SPECIAL); // no reference count (zero page, ioremap, kernel image)
const ADDR_LO = 0xfffff000 | 0; // address bits 31:12
const ADDR_HI = 0xfffff; //        address bits 51:32

const OP_COPY = 1, OP_ZAP = 2, OP_PROTECT = 3, OP_POPULATE = 4, OP_COUNT_COPY = 5, OP_COUNT_POPULATE = 6;
const OP_SPLIT = 7, OP_COUNT_SPLIT = 8;
const PTE_XD_HI = Number(PTE_XD >> 32n) | 0; // bit 63, in the high word

/** u64 bigint as an exact double (page-aligned); an exclusive end of 0 is the top, 2^64. */
const addr = (v: bigint): number => Number(BigInt.asUintN(64, v));
const endAddr = (v: bigint): number => (BigInt.asUintN(64, v) === 0n ? TOP : addr(v));
const lo32 = (v: bigint): number => Number(BigInt.asUintN(32, v)) | 0;
const hi32 = (v: bigint): number => Number(BigInt.asUintN(32, BigInt.asUintN(64, v) >> 32n)) | 0;

class TsCore implements KernelCore {
  readonly stat = new Float64Array(KS_COUNT);
  readonly #m: Int32Array;
  readonly #ramWord: number; // word index of physical address 0
  readonly #ramBytes: number;
  readonly #fb: number; //      word index of frame record 0

  // Frame allocator (as assembly/kernel/frames.ts).
  #nFrames = 0;
  #freeHead = 0; // pfn + 1 of the top of the free stack, 0 if empty
  #freeCount = 0;
  #resHead = 0;
  #resCount = 0;
  #failIn = 0;
  #tablePages = 0;
  // Large pages: reserved runs (as assembly/kernel/frames.ts).
  #hugeHead = 0;
  #hugeFrames = 512;
  #hugeCursor = 0;
  #hugeReserved = 0;

  // Geometry, per software level 1 (PTE) .. top.
  #gSize = new Float64Array(8);
  #gMask = new Int32Array(8);
  #gFlags = new Int32Array(8);
  #gTableBits = new Int32Array(8);
  #top = 4;
  #wide = true;

  // The running operation.
  #op = 0;
  #leafLevel = 1;
  #copyCow = false;
  #copyClear = 0;
  #copyFresh = false;
  #zapClear = true;
  #zapFloor = 0;
  #zapCeiling = TOP;
  #protClrLo = 0;
  #protClrHi = 0;
  #protSetLo = 0;
  #protSetHi = 0;
  #popWrite = false;
  #popSrc = SRC_ANON;
  #tplLo = 0;
  #tplHi = 0;
  #zeroLo = 0;
  #zeroHi = 0;
  #phys = 0;
  #needTables = 0;
  #needFrames = 0;
  #needHuge = 0;
  #lastSpan = new Float64Array(8);

  // Work of the running call, added to stat when it returns.
  #visited = 0;
  #read = 0;
  #written = 0;
  #copied = 0;
  #levels = 0;
  #framesCopied = 0;
  #faults = 0;
  #replaced = 0;

  constructor(access: CoreAccess) {
    this.#m = new Int32Array(access.memory.buffer);
    this.#ramWord = access.ramOffset >> 2;
    this.#ramBytes = (access.blocks.extra!.bytes / FRAME_RECORD_BYTES) * PAGE; // one record per frame
    this.#fb = access.blocks.extra!.offset >> 2;
  }

  // ---- frames -------------------------------------------------------------------------------

  #pushFree(pfn: number): void {
    const m = this.#m;
    const r = this.#fb + pfn * 2;
    const head = this.#freeHead;
    m[r] = FI_FREE | head;
    m[r + 1] = 0;
    if (head) m[this.#fb + (head - 1) * 2 + 1] = pfn + 1;
    this.#freeHead = pfn + 1;
    this.#freeCount++;
  }

  #unlinkFree(pfn: number): void {
    const m = this.#m;
    const r = this.#fb + pfn * 2;
    const next = m[r]! & FI_LINK;
    const prev = m[r + 1]!;
    if (prev) m[this.#fb + (prev - 1) * 2] = FI_FREE | next;
    else this.#freeHead = next;
    if (next) m[this.#fb + (next - 1) * 2 + 1] = prev;
    this.#freeCount--;
  }

  #allocate(): number {
    if (this.#failIn) {
      this.#failIn--;
      if (!this.#failIn) return 0;
    }
    const head = this.#freeHead;
    if (!head) return 0;
    this.#unlinkFree(head - 1);
    return head;
  }

  #popReserved(): number {
    const pfn = this.#resHead - 1;
    this.#resHead = this.#m[this.#fb + pfn * 2]! & FI_LINK;
    this.#resCount--;
    return pfn;
  }

  framesInit(nFrames: number): void {
    this.#nFrames = nFrames;
    this.#freeHead = 0;
    this.#freeCount = 0;
    this.#resHead = 0;
    this.#resCount = 0;
    this.#failIn = 0;
    this.#tablePages = 0;
    this.#hugeHead = 0;
    this.#hugeReserved = 0;
    this.#hugeCursor = 0;
    for (let pfn = nFrames; pfn > 0; pfn--) this.#pushFree(pfn - 1);
    this.stat.fill(0);
  }

  claim(pfn: number, flags: number): boolean {
    if (pfn >= this.#nFrames || !(this.#m[this.#fb + pfn * 2]! & FI_FREE)) return false;
    this.#unlinkFree(pfn);
    this.#m[this.#fb + pfn * 2] = flags;
    this.#m[this.#fb + pfn * 2 + 1] = 1;
    if (flags & FI_TABLE) this.#tablePages++;
    return true;
  }

  injectFailure(n: number): void {
    this.#failIn = n;
  }
  freeCount(): number {
    return this.#freeCount;
  }
  tablePages(): number {
    return this.#tablePages;
  }
  reserved(): number {
    return this.#resCount + this.#hugeReserved * this.#hugeFrames;
  }
  frameInfo(pfn: number): number {
    return pfn < this.#nFrames ? this.#m[this.#fb + pfn * 2]! >>> 0 : 0;
  }
  frameCount(pfn: number): number {
    return pfn < this.#nFrames ? this.#m[this.#fb + pfn * 2 + 1]! >>> 0 : 0;
  }

  reserve(n: number): boolean {
    const m = this.#m;
    for (let i = 0; i < n; i++) {
      const f = this.#allocate();
      if (!f) {
        for (let j = 0; j < i; j++) this.#pushFree(this.#popReserved());
        return false;
      }
      m[this.#fb + (f - 1) * 2] = FI_RES | this.#resHead;
      m[this.#fb + (f - 1) * 2 + 1] = 0;
      this.#resHead = f;
      this.#resCount++;
    }
    return true;
  }

  release(): void {
    while (this.#resHead) this.#pushFree(this.#popReserved());
    while (this.#hugeHead) this.#releaseRun();
  }

  /** First frame (pfn + 1) of an aligned run of n free frames, or 0. */
  #findRun(n: number): number {
    const m = this.#m;
    const blocks = Math.floor(this.#nFrames / n);
    for (let i = 0; i < blocks; i++) {
      const b = (this.#hugeCursor + i) % blocks;
      const base = b * n;
      let free = true;
      for (let j = 0; j < n; j++) {
        if (!(m[this.#fb + (base + j) * 2]! & FI_FREE)) {
          free = false;
          break;
        }
      }
      if (free) {
        this.#hugeCursor = (b + 1) % blocks;
        return base + 1;
      }
    }
    return 0;
  }

  #releaseRun(): void {
    const base = this.#hugeHead - 1;
    this.#hugeHead = this.#m[this.#fb + base * 2]! & FI_LINK;
    this.#hugeReserved--;
    for (let j = this.#hugeFrames; j > 0; j--) this.#pushFree(base + j - 1);
  }

  reserveHuge(count: number, frames: number): boolean {
    const m = this.#m;
    this.#hugeFrames = frames;
    for (let i = 0; i < count; i++) {
      let injected = false;
      if (this.#failIn) {
        this.#failIn--;
        injected = this.#failIn === 0;
      }
      const r = injected ? 0 : this.#findRun(frames);
      if (!r) {
        for (let j = 0; j < i; j++) this.#releaseRun();
        return false;
      }
      const base = r - 1;
      for (let j = 0; j < frames; j++) {
        this.#unlinkFree(base + j);
        m[this.#fb + (base + j) * 2] = FI_RES;
        m[this.#fb + (base + j) * 2 + 1] = 0;
      }
      m[this.#fb + base * 2] = FI_RES | this.#hugeHead;
      this.#hugeHead = r;
      this.#hugeReserved++;
    }
    return true;
  }

  /** Takes a reserved run as a large data page (every frame count 1); returns its first pfn. */
  #takeHuge(): number {
    if (!this.#hugeHead) throw new Error("wasm-mmu: kernel took more large pages than it reserved (count pass and work disagree)");
    const m = this.#m;
    const base = this.#hugeHead - 1;
    this.#hugeHead = m[this.#fb + base * 2]! & FI_LINK;
    this.#hugeReserved--;
    for (let j = 0; j < this.#hugeFrames; j++) {
      m[this.#fb + (base + j) * 2] = 0;
      m[this.#fb + (base + j) * 2 + 1] = 1;
    }
    return base;
  }

  #take(flags: number): number {
    if (!this.#resHead) throw new Error("wasm-mmu: kernel took more frames than it reserved (count pass and work disagree)");
    const pfn = this.#popReserved();
    this.#m[this.#fb + pfn * 2] = flags;
    this.#m[this.#fb + pfn * 2 + 1] = 1;
    if (flags & FI_TABLE) {
      this.#tablePages++;
      this.stat[KS.tablePagesAllocated]!++;
    }
    return pfn;
  }

  #zeroFrame(pfn: number): void {
    const w = this.#ramWord + pfn * 1024;
    this.#m.fill(0, w, w + 1024);
  }

  take(table: boolean, zero: boolean): number {
    const pfn = this.#take(table ? FI_TABLE : 0);
    if (zero) this.#zeroFrame(pfn);
    return pfn;
  }

  #freeTable(pfn: number): void {
    this.#tablePages--;
    this.stat[KS.tablePagesFreed]!++;
    this.#pushFree(pfn);
  }

  free(pfn: number): void {
    if (this.#m[this.#fb + pfn * 2]! & FI_TABLE) this.#freeTable(pfn);
    else this.#pushFree(pfn);
  }

  /** Drops one reference to a data frame; frees it at zero. Kernel frames are never freed here. */
  #putFrame(pfn: number): void {
    const m = this.#m;
    const r = this.#fb + pfn * 2;
    const c = m[r + 1]! >>> 0;
    if (c > 1) m[r + 1] = c - 1;
    else if (!(m[r]! & (FI_KERNEL | FI_FREE | FI_RES))) this.#pushFree(pfn);
  }

  // ---- geometry -----------------------------------------------------------------------------

  geoLevel(level: number, shift: number, idxBits: number, flags: number, tableBits: number): void {
    this.#gSize[level] = 2 ** shift;
    this.#gMask[level] = idxBits ? (1 << idxBits) - 1 : 0;
    this.#gFlags[level] = flags;
    this.#gTableBits[level] = tableBits;
  }

  geoInit(topLevel: number, entryBytes: 4 | 8): void {
    this.#top = topLevel;
    this.#wide = entryBytes === 8;
  }

  #childLevel(level: number): number {
    let l = level - 1;
    while (this.#gFlags[l]! & KG_FOLDED) l--;
    return l;
  }

  // ---- per-PTE loops (word indices into memory) ---------------------------------------------

  /** fork, 8-byte entries: copy, write-protect private writable pages on both sides, mark the
   *  child's copy old, raise the frame's count — one pass. */
  #copyPtes8(sp: number, dp: number, n: number): void {
    const m = this.#m;
    const cow = this.#copyCow;
    const clear = ~this.#copyClear;
    const limit = this.#nFrames;
    const fb1 = this.#fb + 1;
    const end = sp + 2 * n;
    let copied = 0;
    let wp = 0;
    for (; sp < end; sp += 2, dp += 2) {
      let lo = m[sp]!;
      const hi = m[sp + 1]!;
      if ((lo | hi) !== 0) {
        if (cow && (lo & PTE_RW) !== 0) {
          lo &= ~PTE_RW;
          m[sp] = lo;
          wp++;
        }
        if ((lo & PTE_SPECIAL) === 0 && (hi & ADDR_HI) === 0) {
          const pfn = lo >>> 12;
          if (pfn < limit) m[fb1 + 2 * pfn]++;
        }
        lo &= clear;
        copied++;
      }
      m[dp] = lo;
      m[dp + 1] = hi;
    }
    this.#visited += n;
    this.#read += n;
    this.#written += n + wp;
    this.#copied += copied;
  }

  /** fork, 4-byte entries. */
  #copyPtes4(sp: number, dp: number, n: number): void {
    const m = this.#m;
    const cow = this.#copyCow;
    const clear = ~this.#copyClear;
    const limit = this.#nFrames;
    const fb1 = this.#fb + 1;
    const end = sp + n;
    let copied = 0;
    let wp = 0;
    for (; sp < end; sp++, dp++) {
      let e = m[sp]!;
      if (e !== 0) {
        if (cow && (e & PTE_RW) !== 0) {
          e &= ~PTE_RW;
          m[sp] = e;
          wp++;
        }
        if ((e & PTE_SPECIAL) === 0) {
          const pfn = e >>> 12;
          if (pfn < limit) m[fb1 + 2 * pfn]++;
        }
        e &= clear;
        copied++;
      }
      m[dp] = e;
    }
    this.#visited += n;
    this.#read += n;
    this.#written += n + wp;
    this.#copied += copied;
  }

  /** munmap / exit, 8-byte entries: drop each mapped frame's count (freeing at zero), clear
   *  the entry if asked. */
  #zapPtes8(p: number, n: number): void {
    const m = this.#m;
    const clear = this.#zapClear;
    const limit = this.#nFrames;
    const fb1 = this.#fb + 1;
    const end = p + 2 * n;
    let written = 0;
    for (; p < end; p += 2) {
      const lo = m[p]!;
      const hi = m[p + 1]!;
      if ((lo | hi) === 0) continue;
      if ((lo & PTE_SPECIAL) === 0 && (hi & ADDR_HI) === 0) {
        const pfn = lo >>> 12;
        if (pfn < limit) {
          const c = m[fb1 + 2 * pfn]!;
          if (c > 1) m[fb1 + 2 * pfn] = c - 1;
          else this.#putFrame(pfn);
        }
      }
      if (clear) {
        m[p] = 0;
        m[p + 1] = 0;
        written++;
      }
    }
    this.#visited += n;
    this.#read += n;
    this.#written += written;
  }

  /** munmap / exit, 4-byte entries. */
  #zapPtes4(p: number, n: number): void {
    const m = this.#m;
    const clear = this.#zapClear;
    const limit = this.#nFrames;
    const fb1 = this.#fb + 1;
    const end = p + n;
    let written = 0;
    for (; p < end; p++) {
      const e = m[p]!;
      if (e === 0) continue;
      if ((e & PTE_SPECIAL) === 0) {
        const pfn = e >>> 12;
        if (pfn < limit) {
          const c = m[fb1 + 2 * pfn]!;
          if (c > 1) m[fb1 + 2 * pfn] = c - 1;
          else this.#putFrame(pfn);
        }
      }
      if (clear) {
        m[p] = 0;
        written++;
      }
    }
    this.#visited += n;
    this.#read += n;
    this.#written += written;
  }

  /** mprotect: new permission bits in every mapped entry. */
  #protectPtes(p: number, n: number): void {
    const m = this.#m;
    const step = this.#wide ? 2 : 1;
    const clo = ~this.#protClrLo, chi = ~this.#protClrHi, slo = this.#protSetLo, shi = this.#protSetHi;
    const end = p + step * n;
    let written = 0;
    for (; p < end; p += step) {
      const lo = m[p]!;
      const hi = step === 2 ? m[p + 1]! : 0;
      if ((lo | hi) === 0) continue;
      m[p] = (lo & clo) | slo;
      if (step === 2) m[p + 1] = (hi & chi) | shi;
      written++;
    }
    this.#visited += n;
    this.#read += n;
    this.#written += written;
  }

  /** Does populating this entry need a new frame? */
  #needsFrame(lo: number, hi: number): boolean {
    if (this.#popSrc === SRC_PHYS) return false;
    if ((lo | hi) === 0) return this.#popSrc === SRC_NEW || this.#popWrite;
    if (!this.#popWrite || (lo & PTE_RW) !== 0) return false;
    if (lo & PTE_SPECIAL) return true; // zero page: a write gets its own page
    return (hi & ADDR_HI) === 0 && lo >>> 12 < this.#nFrames && this.frameCount(lo >>> 12) > 1;
  }

  /** Stores an entry (hi ignored for 4-byte entries). */
  #store(p: number, lo: number, hi: number): void {
    this.#m[p] = lo;
    if (this.#wide) this.#m[p + 1] = hi;
  }

  /** A new zeroed data frame from the reservation, stored as a leaf with the template's bits. */
  #storeNewFrame(p: number): void {
    const f = this.#take(0);
    this.#zeroFrame(f);
    this.#store(p, (f * PAGE) | this.#tplLo, this.#tplHi);
  }

  /** Fault work on n PTEs: demand-zero, zero page on reads, copy-on-write breaks. */
  #populatePtes(p: number, n: number): void {
    const m = this.#m;
    const step = this.#wide ? 2 : 1;
    const src = this.#popSrc;
    const write = this.#popWrite;
    for (let i = 0; i < n; i++, p += step) {
      const lo = m[p]!;
      const hi = step === 2 ? m[p + 1]! : 0;
      this.#read++;
      let done = true;
      if ((lo | hi) === 0) {
        if (src === SRC_PHYS) this.#store(p, (this.#phys % TWO32) | this.#tplLo, Math.floor(this.#phys / TWO32) | this.#tplHi);
        else if (src === SRC_NEW || write) this.#storeNewFrame(p);
        else this.#store(p, this.#zeroLo, this.#zeroHi);
      } else if (write && src === SRC_ANON && (lo & PTE_RW) === 0) {
        if (lo & PTE_SPECIAL) {
          this.#storeNewFrame(p);
        } else {
          const pfn = lo >>> 12;
          if ((hi & ADDR_HI) !== 0 || pfn >= this.#nFrames) {
            done = false; // not ours: leave it
          } else if (this.frameCount(pfn) === 1) {
            this.#store(p, lo | PTE_RW | PTE_D | PTE_A, hi); // the only user: reuse the page
          } else {
            const f = this.#take(0);
            const to = this.#ramWord + f * 1024;
            const from = this.#ramWord + pfn * 1024;
            m.copyWithin(to, from, from + 1024);
            this.#putFrame(pfn);
            this.#framesCopied++;
            this.#store(p, (f * PAGE) | this.#tplLo, this.#tplHi);
          }
        }
      } else {
        done = false;
      }
      if (done) {
        this.#written++;
        this.#faults++;
        if ((lo | hi) !== 0) this.#replaced++;
      }
      this.#phys += PAGE;
    }
    this.#visited += n;
  }

  /** Count pass of populate over n PTEs of an existing table. */
  #countPtes(p: number, n: number): void {
    const m = this.#m;
    const step = this.#wide ? 2 : 1;
    for (let i = 0; i < n; i++, p += step) {
      if (this.#needsFrame(m[p]!, step === 2 ? m[p + 1]! : 0)) this.#needFrames++;
    }
    this.#visited += n;
    this.#read += n;
  }

  // ---- the loop -----------------------------------------------------------------------------

  /** Counts a table the operation will need, once per table (walks go in address order). */
  #countTable(level: number, span: number): void {
    if (this.#lastSpan[level] !== span) {
      this.#lastSpan[level] = span;
      this.#needTables++;
    }
  }

  /**
   * Runs the current operation over [addr, end) of the table at `level` (physical address
   * `table`, or NO_TABLE in a count pass; `dtable`: the destination of a copy).
   */
  #rangeLevel(level: number, table: number, dtable: number, addr: number, end: number): void {
    this.#levels++;
    const flags = this.#gFlags[level]!;
    if (flags & KG_FOLDED) {
      this.#rangeLevel(level - 1, table, dtable, addr, end);
      return;
    }
    const size = this.#gSize[level]!;
    const entries = this.#gMask[level]! + 1;
    // Word indices and counts stay small integers (| 0): V8 then keeps them untagged, and the
    // per-PTE loops never see a heap number where they learned a small integer.
    const first = (Math.floor(addr / size) % entries) | 0;
    const n = ((Math.floor((end - PAGE) / size) % entries) - first + 1) | 0;
    const step = this.#wide ? 2 : 1;
    const m = this.#m;
    if (this.#copyFresh) {
      // A new destination table: zero what this pass will not write.
      this.#copyFresh = false;
      const d = (this.#ramWord + dtable / 4) | 0;
      if (level === 1) {
        m.fill(0, d, d + first * step);
        m.fill(0, d + (first + n) * step, d + 1024);
      } else {
        m.fill(0, d, d + 1024);
      }
    }
    if (level === 1 && this.#leafLevel === 1) {
      const p = table === NO_TABLE ? 0 : (this.#ramWord + table / 4 + first * step) | 0;
      switch (this.#op) {
        case OP_COPY: {
          const dp = (this.#ramWord + dtable / 4 + first * step) | 0;
          if (step === 2) this.#copyPtes8(p, dp, n);
          else this.#copyPtes4(p, dp, n);
          break;
        }
        case OP_ZAP:
          if (step === 2) this.#zapPtes8(p, n);
          else this.#zapPtes4(p, n);
          break;
        case OP_PROTECT:
          this.#protectPtes(p, n);
          break;
        case OP_POPULATE:
          this.#populatePtes(p, n);
          break;
        case OP_COUNT_POPULATE:
          if (table === NO_TABLE) {
            if (this.#popSrc !== SRC_PHYS && (this.#popSrc === SRC_NEW || this.#popWrite)) this.#needFrames += n;
          } else {
            this.#countPtes(p, n);
          }
          break;
      }
      return;
    }

    const keep = (flags & KG_KEEP) !== 0;
    const large = level > 1 && (flags & KG_LARGE) !== 0;
    const op = this.#op;
    let p = (this.#ramWord + table / 4 + first * step) | 0;
    let dp = (this.#ramWord + dtable / 4 + first * step) | 0;
    for (;;) {
      const span = Math.floor(addr / size) * size;
      const next = span + size < end ? span + size : end;
      this.#visited++;
      if (table === NO_TABLE) {
        // Count pass below a table that does not exist yet.
        if (level === this.#leafLevel) {
          if (this.#popSrc !== SRC_PHYS) this.#needHuge++;
        } else {
          this.#countTable(this.#childLevel(level), span);
          this.#rangeLevel(level - 1, NO_TABLE, 0, addr, next);
        }
      } else {
        const lo = m[p]!;
        const hi = step === 2 ? m[p + 1]! : 0;
        this.#read++;
        if (level === this.#leafLevel) {
          this.#largeAtLeafLevel(level, p, lo, hi, size);
        } else if (large && (lo & PTE_PS) !== 0) {
          this.#largeLeaf(p, dp, lo, hi, addr, next, size);
        } else if ((lo | hi) !== 0) {
          const tAddr = step === 2 ? (hi & ADDR_HI) * TWO32 + ((lo & ADDR_LO) >>> 0) : (lo & ADDR_LO) >>> 0;
          if (tAddr <= this.#ramBytes - PAGE) {
            switch (op) {
              case OP_COPY: {
                let dlo = m[dp]!;
                const dhi = step === 2 ? m[dp + 1]! : 0;
                this.#read++;
                if ((dlo | dhi) === 0) {
                  dlo = (this.#take(FI_TABLE) * PAGE) | this.#gTableBits[level]!;
                  this.#store(dp, dlo, 0);
                  this.#written++;
                  this.#copyFresh = true;
                }
                const dAddr = step === 2 ? (dhi & ADDR_HI) * TWO32 + ((dlo & ADDR_LO) >>> 0) : (dlo & ADDR_LO) >>> 0;
                this.#rangeLevel(level - 1, tAddr, dAddr, addr, next);
                break;
              }
              case OP_ZAP:
                this.#rangeLevel(level - 1, tAddr, 0, addr, next);
                if (!keep && span >= this.#zapFloor && span + size <= this.#zapCeiling) {
                  this.#freeTable(tAddr / PAGE);
                  if (this.#zapClear) {
                    this.#store(p, 0, 0);
                    this.#written++;
                  }
                }
                break;
              case OP_COUNT_COPY: {
                // Tables below a KEEP level come with the new root (PAE's PMDs).
                const child = this.#childLevel(level);
                if (!keep) this.#countTable(child, span);
                if (child > 1) this.#rangeLevel(level - 1, tAddr, 0, addr, next);
                break;
              }
              default:
                this.#rangeLevel(level - 1, tAddr, 0, addr, next);
            }
          }
        } else if (op === OP_POPULATE) {
          const pfn = this.#take(FI_TABLE);
          this.#zeroFrame(pfn);
          this.#store(p, (pfn * PAGE) | this.#gTableBits[level]!, 0);
          this.#written++;
          this.#rangeLevel(level - 1, pfn * PAGE, 0, addr, next);
        } else if (op === OP_COUNT_POPULATE) {
          this.#countTable(this.#childLevel(level), span);
          this.#rangeLevel(level - 1, NO_TABLE, 0, addr, next);
        }
      }
      if (next === end) break;
      addr = next;
      p += step;
      dp += step;
    }
  }

  /** Are all n frames from pfn referenced once (by this mapping alone)? */
  #allOnce(pfn: number, n: number): boolean {
    for (let i = 0; i < n; i++) {
      if (pfn + i >= this.#nFrames || this.frameCount(pfn + i) !== 1) return false;
    }
    return true;
  }

  /**
   * An entry at the level where the operation's leaves are large (leafLevel > 1): populate maps
   * a large page (physical range, or a new zeroed run) or breaks copy-on-write on one; split
   * turns a large leaf into a table of small ones; the count passes size their reservations.
   */
  #largeAtLeafLevel(level: number, p: number, lo: number, hi: number, size: number): void {
    const m = this.#m;
    const op = this.#op;
    const frames = size / PAGE;
    const large = level > 1 && (this.#gFlags[level]! & KG_LARGE) !== 0 && (lo & PTE_PS) !== 0;
    const full = this.#wide ? (hi & ADDR_HI) * TWO32 + ((lo & ADDR_LO) >>> 0) : (lo & ADDR_LO) >>> 0;
    const baseAddr = full - (full % size);
    const base = baseAddr / PAGE;
    const cow = large && this.#popWrite && this.#popSrc === SRC_ANON && (lo & PTE_RW) === 0;
    if (op === OP_POPULATE) {
      let nlo = 0, nhi = 0, done = true;
      if ((lo | hi) === 0) {
        if (this.#popSrc === SRC_PHYS) {
          nlo = (this.#phys % TWO32) | this.#tplLo | PTE_PS;
          nhi = Math.floor(this.#phys / TWO32) | this.#tplHi;
        } else {
          const f = this.#takeHuge();
          const w = this.#ramWord + f * 1024;
          m.fill(0, w, w + frames * 1024);
          nlo = (f * PAGE) | this.#tplLo | PTE_PS;
          nhi = this.#tplHi;
        }
      } else if (cow) {
        if (this.#allOnce(base, frames)) {
          nlo = lo | PTE_RW | PTE_D | PTE_A; // the only user: reuse the page
          nhi = hi;
        } else {
          const f = this.#takeHuge();
          const from = this.#ramWord + base * 1024;
          m.copyWithin(this.#ramWord + f * 1024, from, from + frames * 1024);
          this.#refFrames(base, frames, -1);
          this.#framesCopied += frames;
          nlo = (f * PAGE) | this.#tplLo | PTE_PS;
          nhi = this.#tplHi;
        }
      } else {
        done = false;
      }
      if (done) {
        this.#store(p, nlo, nhi);
        this.#written++;
        this.#faults++;
        if ((lo | hi) !== 0) this.#replaced++;
      }
    } else if (op === OP_COUNT_POPULATE) {
      if ((lo | hi) === 0 ? this.#popSrc !== SRC_PHYS : cow && !this.#allOnce(base, frames)) this.#needHuge++;
    } else if (op === OP_SPLIT && large) {
      // The same frames and rights in a table of small leaves (PS and a large page's PAT bit off).
      const t = this.#take(FI_TABLE);
      const bitsLo = lo & 0xfff & ~PTE_PS;
      const bitsHi = hi & PTE_XD_HI;
      const n = this.#gMask[1]! + 1;
      const step = this.#wide ? 2 : 1;
      let d = this.#ramWord + t * 1024;
      for (let j = 0; j < n; j++, d += step) {
        const a = baseAddr + j * PAGE;
        this.#store(d, (a % TWO32) | bitsLo, Math.floor(a / TWO32) | bitsHi);
      }
      this.#store(p, (t * PAGE) | this.#gTableBits[level]!, 0);
      this.#written += n + 1;
    } else if (op === OP_COUNT_SPLIT && large) {
      this.#needTables++;
    }
    this.#phys += size;
  }

  /** A large leaf met by copy, zap or protect (the Kernel splits partly covered ones first). */
  #largeLeaf(p: number, dp: number, lo: number, hi: number, addr: number, next: number, size: number): void {
    const op = this.#op;
    const whole = addr % size === 0 && next - addr === size;
    const special = (lo & PTE_SPECIAL) !== 0;
    const base = (hi & ADDR_HI) * TWO32 + ((lo & ADDR_LO) >>> 0);
    const pfn = (base - (base % size)) / PAGE;
    const frames = size / PAGE;
    if (op === OP_COPY) {
      let s = lo;
      if (this.#copyCow && (lo & PTE_RW) !== 0) {
        s = lo & ~PTE_RW;
        this.#m[p] = s;
        this.#written++;
      }
      if (!special) this.#refFrames(pfn, frames, 1);
      this.#store(dp, s & ~this.#copyClear, hi);
      this.#written++;
      this.#copied++;
    } else if (op === OP_ZAP && whole) {
      if (!special) this.#refFrames(pfn, frames, -1);
      if (this.#zapClear) {
        this.#store(p, 0, 0);
        this.#written++;
      }
    } else if (op === OP_PROTECT && whole) {
      this.#store(p, (lo & ~this.#protClrLo) | this.#protSetLo, (hi & ~this.#protClrHi) | this.#protSetHi);
      this.#written++;
    }
  }

  /** Adds delta to the count of each of n frames from pfn (a large page counts every frame). */
  #refFrames(pfn: number, n: number, delta: number): void {
    for (let i = 0; i < n; i++) {
      const f = pfn + i;
      if (f >= this.#nFrames) return;
      if (delta > 0) this.#m[this.#fb + 2 * f + 1]++;
      else this.#putFrame(f);
    }
  }

  /** Runs the operation over [start, end) from a root table (pfn) and adds its counts. */
  #run(root: number, droot: number, start: bigint, end: bigint): void {
    this.#rangeLevel(this.#top, root * PAGE, droot * PAGE, addr(start), endAddr(end));
    const s = this.stat;
    s[KS.entriesVisited]! += this.#visited;
    s[KS.entriesRead]! += this.#read;
    s[KS.entriesWritten]! += this.#written;
    s[KS.entriesCopied]! += this.#copied;
    s[KS.levelsVisited]! += this.#levels;
    s[KS.framesCopied]! += this.#framesCopied;
    s[KS.pagesPopulated]! += this.#faults;
    s[KS.entriesReplaced]! += this.#replaced;
    this.#visited = this.#read = this.#written = this.#copied = this.#levels = this.#framesCopied = this.#faults = this.#replaced = 0;
  }

  // ---- operations ---------------------------------------------------------------------------

  countBegin(): void {
    this.#needTables = 0;
    this.#needFrames = 0;
    this.#needHuge = 0;
    this.#lastSpan.fill(-1);
  }
  needTables(): number {
    return this.#needTables;
  }
  needFrames(): number {
    return this.#needFrames;
  }
  needHuge(): number {
    return this.#needHuge;
  }

  countSplit(root: number, start: bigint, end: bigint, level: number): void {
    this.#op = OP_COUNT_SPLIT;
    this.#leafLevel = level;
    this.#run(root, 0, start, end);
  }

  split(root: number, start: bigint, end: bigint, level: number): void {
    this.#op = OP_SPLIT;
    this.#leafLevel = level;
    this.#run(root, 0, start, end);
  }

  countCopy(root: number, start: bigint, end: bigint): void {
    this.#op = OP_COUNT_COPY;
    this.#leafLevel = 1;
    this.#run(root, 0, start, end);
  }

  copy(src: number, dst: number, start: bigint, end: bigint, cow: boolean, shared: boolean): void {
    this.#op = OP_COPY;
    this.#leafLevel = 1;
    this.#copyCow = cow;
    this.#copyClear = shared ? PTE_A | PTE_D : PTE_A;
    this.#copyFresh = false;
    this.#run(src, dst, start, end);
  }

  zap(root: number, start: bigint, end: bigint, floor: bigint, ceiling: bigint, clear: boolean): void {
    this.#op = OP_ZAP;
    this.#leafLevel = 1;
    this.#zapFloor = addr(floor);
    this.#zapCeiling = endAddr(ceiling);
    this.#zapClear = clear;
    this.#run(root, 0, start, end);
  }

  protect(root: number, start: bigint, end: bigint, clearBits: bigint, setBits: bigint): void {
    this.#op = OP_PROTECT;
    this.#leafLevel = 1;
    this.#protClrLo = lo32(clearBits);
    this.#protClrHi = hi32(clearBits);
    this.#protSetLo = lo32(setBits);
    this.#protSetHi = hi32(setBits);
    this.#run(root, 0, start, end);
  }

  countPopulate(root: number, start: bigint, end: bigint, write: boolean, src: number, leafLevel: number): void {
    this.#op = OP_COUNT_POPULATE;
    this.#popWrite = write;
    this.#popSrc = src;
    this.#leafLevel = leafLevel;
    this.#run(root, 0, start, end);
  }

  populate(
    root: number, start: bigint, end: bigint, write: boolean, src: number, leafLevel: number,
    template: bigint, zeroEntry: bigint, phys: bigint,
  ): void {
    this.#op = OP_POPULATE;
    this.#popWrite = write;
    this.#popSrc = src;
    this.#leafLevel = leafLevel;
    this.#tplLo = lo32(template);
    this.#tplHi = hi32(template);
    this.#zeroLo = lo32(zeroEntry);
    this.#zeroHi = hi32(zeroEntry);
    this.#phys = addr(phys);
    this.#run(root, 0, start, end);
  }

  cloneEntries(dst: number, src: number, first: number, n: number): void {
    const step = this.#wide ? 2 : 1;
    const from = this.#ramWord + src * 1024 + first * step;
    this.#m.copyWithin(this.#ramWord + dst * 1024 + first * step, from, from + n * step);
    const s = this.stat;
    s[KS.entriesRead]! += n;
    s[KS.entriesWritten]! += n;
    s[KS.entriesCopied]! += n;
  }

  readEntry(pfn: number, index: number): bigint {
    const w = this.#ramWord + pfn * 1024 + index * (this.#wide ? 2 : 1);
    const lo = BigInt(this.#m[w]! >>> 0);
    return this.#wide ? (BigInt(this.#m[w + 1]! >>> 0) << 32n) | lo : lo;
  }

  writeEntry(pfn: number, index: number, value: bigint): void {
    const w = this.#ramWord + pfn * 1024 + index * (this.#wide ? 2 : 1);
    this.#m[w] = lo32(value);
    if (this.#wide) this.#m[w + 1] = hi32(value);
  }

  syncEntries(dst: number, src: number, first: number, n: number): number {
    const m = this.#m;
    const step = this.#wide ? 2 : 1;
    let sp = this.#ramWord + src * 1024 + first * step;
    let dp = this.#ramWord + dst * 1024 + first * step;
    let copied = 0;
    for (let i = 0; i < n; i++, sp += step, dp += step) {
      const lo = m[sp]!, hi = step === 2 ? m[sp + 1]! : 0;
      const dlo = m[dp]!, dhi = step === 2 ? m[dp + 1]! : 0;
      if ((lo | hi) !== 0 && (dlo | dhi) === 0) {
        m[dp] = lo;
        if (step === 2) m[dp + 1] = hi;
        copied++;
      }
    }
    const s = this.stat;
    s[KS.entriesVisited]! += n;
    s[KS.entriesRead]! += 2 * n;
    s[KS.entriesWritten]! += copied;
    s[KS.entriesCopied]! += copied;
    return copied;
  }
}

/** The TypeScript KernelCore over a Machine's linear memory (the comparison baseline). */
export function tsCore(access: CoreAccess): KernelCore {
  return new TsCore(access);
}
