// What a CPU with TLBs and paging-structure caches is allowed to answer, written from the Intel
// SDM Vol. 3A 4.10 (it shares nothing with src/ or assembly/). A processor may cache any
// translation the paging structures give at any moment (4.10.2.1: speculatively too, for any
// linear address), and any paging-structure entry that references a table (4.10.3.1), and may
// keep using a cached entry after the structures in memory change, until an operation that must
// invalidate it (4.10.4.1; 4.10.4.2 for page faults). A walk that starts below a cached entry
// combines that entry's (possibly stale) rights with the entries now in memory (4.10.3.2).
//
// So the model keeps, as sets, every TLB entry and every paging-structure-cache entry a CPU
// could hold now: after every step it derives them from the current state for each linear
// address the case uses (from CR3, and from every cached entry that applies), and it removes
// exactly what each invalidation must remove. An access may then answer with the fresh walk,
// with any cached translation that applies (its rights checked under the current registers,
// 4.10.2.2), or with a walk resumed below any cached entry that applies. The Machine's answer
// must be one of these.

import { RefMachine, type RefAccess, type RefResult, type Used, type Walk } from "./walker.js";

type Mode = ReturnType<RefMachine["mode"]>;

/** A translation a TLB could hold (SDM 4.10.2.2). */
interface TlbEntry {
  pcid: number;
  mode: Mode;
  /** Page number: linear address >> log2(pageSize). */
  page: bigint;
  shift: bigint;
  /** SDM 4.10.2.4: G in the leaf with CR4.PGE = 1 when it was cached. */
  global: boolean;
  base: bigint;
  pageSize: number;
  level: number;
  used: Used[];
}

/** A paging-structure-cache entry: a table reference at `level` (SDM 4.10.3.1). */
interface PwcEntry {
  pcid: number;
  mode: Mode;
  level: number;
  /** The linear-address bits above what the entry maps: va >> shift. */
  prefix: bigint;
  shift: bigint;
  /** The entries from the top down to this one, as they were, and the table it references. */
  used: Used[];
  table: bigint;
}

const AD = 0x60n;
const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;

export class StaleModel {
  readonly tlb = new Map<string, TlbEntry>();
  readonly pwc = new Map<string, PwcEntry>();

  /** vas: the linear addresses the case translates (the only ones whose entries matter). */
  constructor(readonly ref: RefMachine, private readonly vas: bigint[]) {}

  /** The current PCID (SDM 4.10.1): CR3[11:0] with CR4.PCIDE = 1, else 0. */
  pcid(): number {
    return bit(this.ref.regs.cr4, 17) ? Number(this.ref.regs.cr3 & 0xfffn) : 0;
  }

  private linear(va: bigint): bigint {
    const m = this.ref.mode();
    return va & (m === "5-level" ? (1n << 57n) - 1n : m === "4-level" ? (1n << 48n) - 1n : 0xffffffffn);
  }

  /** Linear-address bit where the region an entry of this level maps begins. */
  private shiftOf(level: number): bigint {
    return this.ref.mode() === "32-bit" ? (level === 2 ? 22n : 12n) : BigInt(12 + 9 * (level - 1));
  }

  private usable(e: { pcid: number; mode: Mode; global?: boolean }): boolean {
    return e.mode === this.ref.mode() && (e.pcid === this.pcid() || e.global === true);
  }

  private matchingPwc(va: bigint): PwcEntry[] {
    const la = this.linear(va);
    return [...this.pwc.values()].filter((e) => this.usable(e) && la >> e.shift === e.prefix);
  }

  private matchingTlb(va: bigint): TlbEntry[] {
    const la = this.linear(va);
    return [...this.tlb.values()].filter((e) => this.usable(e) && la >> e.shift === e.page);
  }

  /** Adds what a walk could leave in the caches: its table references, its translation. */
  private record(va: bigint, w: Walk, from: number): void {
    const mode = this.ref.mode(), pcid = this.pcid(), la = this.linear(va);
    const used = w.used.map((u) => ({ ...u, value: u.value & ~AD }));
    // Every entry but the last that the walk read is a table reference it followed.
    for (let i = from; i < used.length - 1; i++) {
      const shift = this.shiftOf(used[i]!.level);
      const e: PwcEntry = { pcid, mode, level: used[i]!.level, prefix: la >> shift, shift, used: used.slice(0, i + 1), table: used[i + 1]!.pa & ~0xfffn };
      this.pwc.set(`${pcid}|${mode}|${e.level}|${e.prefix}|${e.used.map((u) => `${u.pa}:${u.value}`).join(",")}`, e);
    }
    if (w.kind !== "ok") return;
    const shift = BigInt(Math.log2(w.pageSize));
    const leaf = used[used.length - 1]!;
    const global = bit(leaf.value, 8) && bit(this.ref.regs.cr4, 7);
    const e: TlbEntry = {
      pcid, mode, page: la >> shift, shift, global, base: w.pa - (va & (BigInt(w.pageSize) - 1n)), pageSize: w.pageSize, level: w.level, used,
    };
    this.tlb.set(`${pcid}|${mode}|${e.page}|${shift}|${global}|${e.base}|${used.map((u) => `${u.pa}:${u.value}`).join(",")}`, e);
  }

  /** Everything a CPU could cache in the current state (call after every step). */
  observe(): void {
    if (this.ref.mode() === "off") return;
    const seen = new Set<bigint>();
    for (const va of this.vas) {
      if (this.ref.precheck(va) !== null) continue;
      const page = va >> 12n;
      if (seen.has(page)) continue;
      seen.add(page);
      this.record(va, this.ref.walk(va), 0);
      for (const p of this.matchingPwc(va)) this.record(va, this.ref.walk(va, { level: p.level - 1, table: p.table, used: p.used }), p.used.length);
    }
  }

  /** The fresh result, and every result the cached state permits, for this access now. */
  permitted(va: bigint, access: RefAccess): { fresh: RefResult; all: RefResult[] } {
    const pre = this.ref.precheck(va, access);
    if (pre !== null || this.ref.mode() === "off") {
      const fresh = this.ref.translate(va, { ...access, probe: true });
      return { fresh, all: [fresh] };
    }
    const fresh = this.ref.evaluate(va, access, this.ref.walk(va), false);
    const all = [fresh];
    for (const t of this.matchingTlb(va)) {
      const w: Walk = { kind: "ok", pa: t.base | (va & (BigInt(t.pageSize) - 1n)), pageSize: t.pageSize, level: t.level, used: t.used };
      all.push(this.ref.evaluate(va, access, w, false));
    }
    for (const p of this.matchingPwc(va)) {
      all.push(this.ref.evaluate(va, access, this.ref.walk(va, { level: p.level - 1, table: p.table, used: p.used }), false));
    }
    return { fresh, all };
  }

  private drop(tlb: (e: TlbEntry) => boolean, pwc: (e: PwcEntry) => boolean): void {
    for (const [k, e] of this.tlb) if (tlb(e)) this.tlb.delete(k);
    for (const [k, e] of this.pwc) if (pwc(e)) this.pwc.delete(k);
  }

  private canonical(va: bigint): boolean {
    const m = this.ref.mode();
    if (m !== "4-level" && m !== "5-level") return true;
    const top = m === "5-level" ? 56 : 47;
    const upper = va >> BigInt(top);
    return upper === 0n || upper === (1n << BigInt(64 - top)) - 1n;
  }

  /** INVLPG: the page's TLB entries of the current PCID and global ones; every PWC entry of
   * the current PCID. A no-op for a non-canonical address. */
  invlpg(va: bigint): void {
    if (!this.canonical(va)) return;
    const pcid = this.pcid(), la = this.linear(va);
    this.drop((e) => (e.pcid === pcid || e.global) && la >> e.shift === e.page, (e) => e.pcid === pcid);
  }

  /** INVPCID (after the #GP checks passed). */
  invpcid(type: number, pcid: number, va: bigint): void {
    const la = this.linear(va);
    if (type === 0) this.drop((e) => e.pcid === pcid && !e.global && la >> e.shift === e.page, (e) => e.pcid === pcid && la >> e.shift === e.prefix);
    else if (type === 1) this.drop((e) => e.pcid === pcid && !e.global, (e) => e.pcid === pcid);
    else if (type === 2) this.drop(() => true, () => true);
    else this.drop((e) => !e.global, () => true);
  }

  /** The invalidations a register write that succeeded must make (cur: before, values: what was written). */
  registersWritten(cur: { cr0: bigint; cr3: bigint; cr4: bigint }, cr3Written: bigint | undefined): void {
    const next = this.ref.regs;
    const all = (): void => this.drop(() => true, () => true);
    // MOV to CR0 clearing PG; MOV to CR4 changing PGE or clearing PCIDE: everything.
    if (bit(cur.cr0, 31) && !bit(next.cr0, 31)) return all();
    if (bit(cur.cr4, 7) !== bit(next.cr4, 7) || (bit(cur.cr4, 17) && !bit(next.cr4, 17))) return all();
    const pcid = this.pcid();
    // MOV to CR4 changing PAE or setting SMEP: the current PCID's entries.
    if (bit(cur.cr4, 5) !== bit(next.cr4, 5) || (!bit(cur.cr4, 20) && bit(next.cr4, 20))) {
      this.drop((e) => e.pcid === pcid && !e.global, (e) => e.pcid === pcid);
    }
    // MOV to CR3: the new PCID's non-global entries, unless PCIDE = 1 and bit 63 was set.
    if (cr3Written !== undefined && !(bit(next.cr4, 17) && bit(cr3Written, 63))) {
      this.drop((e) => e.pcid === pcid && !e.global, (e) => e.pcid === pcid);
    }
  }

  /** SDM 4.10.4.2: a page fault removes the faulting page's entries of the current PCID and the
   * PWC entries that would be used for the address. */
  pageFault(va: bigint): void {
    const pcid = this.pcid(), la = this.linear(va);
    this.drop((e) => e.pcid === pcid && !e.global && la >> e.shift === e.page, (e) => e.pcid === pcid && la >> e.shift === e.prefix);
  }
}
