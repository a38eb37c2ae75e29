// The replay's parser: lackey text to batch entries in WebAssembly (assembly/lackey.ts), one
// linear address and access byte per page an access touches, ready to be copied into each
// design's batch buffers. It runs in an instance of the core of its own (no guest RAM to speak
// of), so one parse serves every design. src/tools/lackey.ts is the general parser (one record
// per access); the tests hold both to the same grammar.

import { LayoutPlan, instantiateCore, type CoreExports } from "../wasm/core.js";
import { LackeyParser, type LackeyCounts } from "./lackey.js";

/** Bytes of trace text handed to WebAssembly at a time. */
const WINDOW = 1 << 20;
/** A line cut by a chunk boundary is carried over; an access line is far shorter than this. */
const CARRY_MAX = 4096;
const NL = 10;
const COUNTERS = 8;

/** Entries of one batch: addresses as (low, high) u32 pairs and access bytes. Reused. */
export interface EntryBlock {
  count: number;
  vaWords: Uint32Array;
  access: Uint8Array;
}

export interface EntryCounts extends LackeyCounts {
  /** Accesses that cross a 4 KiB page boundary (one extra entry per further page). */
  pageCrossings: number;
  /** Entries: one per page an access touches. */
  entries: number;
}

export class TraceEntryParser {
  readonly capacity: number;
  #core: CoreExports;
  #mem: Uint8Array;
  #in: number;
  #vas: number;
  #accs: number;
  #counts: number;
  #countWords: BigUint64Array;
  #kindAccess: number;
  #block: EntryBlock;
  #carry = 0; // bytes of an unfinished line, kept at the start of the window
  #lost = 0; //  bytes of that line beyond CARRY_MAX (it is then noise or malformed)
  #bytes = 0;
  #entries = 0;
  #firstMalformedLine: number | null = null;

  private constructor(core: CoreExports, memory: WebAssembly.Memory, plan: LayoutPlan, capacity: number, kindAccess: number) {
    this.#core = core;
    this.capacity = capacity;
    this.#mem = new Uint8Array(memory.buffer);
    this.#in = plan.blocks.in!.offset;
    this.#vas = plan.blocks.vas!.offset;
    this.#accs = plan.blocks.accs!.offset;
    this.#counts = plan.blocks.counts!.offset;
    this.#countWords = new BigUint64Array(memory.buffer, this.#counts, COUNTERS);
    this.#kindAccess = kindAccess;
    this.#block = {
      count: 0,
      vaWords: new Uint32Array(memory.buffer, this.#vas, capacity * 2),
      access: new Uint8Array(memory.buffer, this.#accs, capacity),
    };
  }

  /** A parser whose blocks hold up to capacity entries; access byte per kind I, L, S, M. */
  static async create(capacity: number, accessOfKind: readonly [number, number, number, number]): Promise<TraceEntryParser> {
    const plan = new LayoutPlan();
    plan.add("ctrl", 4096);
    plan.add("in", WINDOW + CARRY_MAX + 64);
    plan.add("vas", capacity * 8);
    plan.add("accs", capacity);
    plan.add("counts", COUNTERS * 8);
    const { exports, memory } = await instantiateCore(plan, 1 << 16, 46);
    const kindAccess = accessOfKind.reduce((w, a, k) => w | ((a & 0xff) << (8 * k)), 0);
    return new TraceEntryParser(exports, memory, plan, capacity, kindAccess);
  }

  /** Entries so far. */
  get entries(): number {
    return this.#entries;
  }

  /** Parses a chunk; onBlock gets each block of entries (and must be done with it when it returns). */
  push(chunk: Uint8Array, onBlock: (block: EntryBlock) => void): void {
    this.#bytes += chunk.length;
    let at = 0;
    if (this.#carry || this.#lost) {
      // Finish the line cut by the last chunk boundary.
      const nl = chunk.indexOf(NL);
      const end = nl < 0 ? chunk.length : nl + 1;
      const keep = Math.min(end, CARRY_MAX - this.#carry);
      this.#mem.set(chunk.subarray(0, keep), this.#in + this.#carry);
      this.#carry += keep;
      this.#lost += end - keep;
      if (nl < 0) return;
      this.#lineDone(onBlock);
      at = end;
    }
    const last = chunk.lastIndexOf(NL);
    while (at <= last) {
      // Whole lines, a window at a time.
      let end = Math.min(last + 1, at + WINDOW);
      if (end <= last) end = chunk.lastIndexOf(NL, end - 1) + 1;
      if (end <= at) throw new RangeError(`trace line longer than ${WINDOW} bytes at byte ${this.#bytes - chunk.length + at}`);
      this.#mem.set(chunk.subarray(at, end), this.#in);
      this.#parse(end - at, onBlock);
      at = end;
    }
    if (at < chunk.length) {
      const keep = Math.min(chunk.length - at, CARRY_MAX);
      this.#mem.set(chunk.subarray(at, at + keep), this.#in);
      this.#carry = keep;
      this.#lost = chunk.length - at - keep;
    }
  }

  /** The carried line (at the start of the window) has its newline: parse it. */
  #lineDone(onBlock: (block: EntryBlock) => void): void {
    if (this.#lost) {
      // Too long to be an access: noise unless it starts like one.
      const c = this.#mem[this.#in]!;
      const malformed = c === 73 || c === 32;
      if (malformed && this.#firstMalformedLine === null) this.#firstMalformedLine = this.#lines() + 1;
      this.#countWords[malformed ? 5 : 4]! += 1n;
    } else this.#parse(this.#carry, onBlock);
    this.#carry = 0;
    this.#lost = 0;
  }

  /** Lines parsed so far: each is an access, noise or malformed. */
  #lines(): number {
    const w = this.#countWords;
    return Number(w[0]! + w[1]! + w[2]! + w[3]! + w[4]! + w[5]!);
  }

  /** Parses window bytes [0, len), whole lines, handing over each block of entries. */
  #parse(len: number, onBlock: (block: EntryBlock) => void): void {
    const linesBefore = this.#lines();
    const malformedBefore = this.#countWords[5]!;
    this.#parseWindow(len, onBlock);
    if (this.#firstMalformedLine === null && this.#countWords[5]! > malformedBefore) {
      // The first malformed line is in this window: the general parser (same grammar) finds
      // which, once per trace. (An access of more pages than a block holds is malformed only
      // here; then the next window with a malformed line tries again.)
      const general = new LackeyParser(() => {}, 256);
      general.push(this.#mem.subarray(this.#in, this.#in + len));
      const first = general.end().firstMalformedLine;
      if (first !== null) this.#firstMalformedLine = linesBefore + first;
    }
  }

  #parseWindow(len: number, onBlock: (block: EntryBlock) => void): void {
    for (let from = 0; from < len; ) {
      from += this.#core.lackeyParse(this.#in + from, len - from, this.#vas, this.#accs, this.capacity, this.#kindAccess, this.#counts);
      const n = Number(this.#countWords[7]!);
      this.#entries += n;
      this.#block.count = n;
      if (n) onBlock(this.#block);
    }
  }

  /** Ends the trace: a last line without a newline still counts. */
  end(onBlock: (block: EntryBlock) => void): EntryCounts {
    if (this.#carry || this.#lost) {
      if (!this.#lost) this.#mem[this.#in + this.#carry++] = NL;
      this.#lineDone(onBlock);
    }
    const w = this.#countWords;
    const byKind: [number, number, number, number] = [Number(w[0]), Number(w[1]), Number(w[2]), Number(w[3])];
    return {
      accesses: byKind[0] + byKind[1] + byKind[2] + byKind[3],
      byKind,
      noiseLines: Number(w[4]),
      malformedLines: Number(w[5]),
      firstMalformedLine: this.#firstMalformedLine,
      bytes: this.#bytes,
      pageCrossings: Number(w[6]),
      entries: this.#entries,
    };
  }
}
