// Trace replay: every access of a lackey trace runs through a process on a Kernel of each
// chosen design, on a Machine with the chosen TLB and paging-structure caches. The trace is
// read once and parsed in WebAssembly into batch entries (one per page an access touches);
// each block goes to every design through its Machine's batch buffers in linear memory (one
// WebAssembly call per batch, not per access). A page fault
// stops the batch; the kernel's fault handler resolves it and the batch resumes there, as the
// faulting instruction would restart.

import { Kernel } from "../kernel/kernel.js";
import { DESIGN_NAMES, type DesignName } from "../kernel/designs.js";
import { KernelError, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from "../kernel/constants.js";
import type { Process } from "../kernel/kernel.js";
import { ACCESS_FETCH, ACCESS_USER, ACCESS_WRITE, type BatchBuffers, type MachineStats } from "../machine/machine.js";
import { SKYLAKE_TLB, type PwcConfig, type TlbConfig } from "../machine/tlb.js";
import { checkInt, checkOptions } from "../errors.js";
import { KIND_I, KIND_L, KIND_M, KIND_S, traceBytes } from "./lackey.js";
import { TraceEntryParser, type EntryBlock, type EntryCounts } from "./replay-parse.js";

export interface ReplayOptions {
  /** Designs to replay on (default: x86_64-4level). */
  designs?: DesignName[];
  /** TLB structures (Machine.create's `tlb`; false = none). */
  tlb?: TlbConfig | false;
  /** Paging-structure caches (Machine.create's `pwc`; false = none). */
  pwc?: PwcConfig | false;
  /** Guest RAM per design in bytes (default 512 MiB). */
  ramBytes?: number;
  /** Progress: raw trace bytes read so far, the total if known, and translations so far. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined, translations: number) => void;
  /** Called per design once the trace is done, with the kernel and the process it ran on. */
  inspect?: (design: DesignName, kernel: Kernel, process: Process) => void;
  /** A malformed line is an error (RangeError) instead of being counted and skipped. */
  strict?: boolean;
}

export interface CacheRate {
  name: string;
  hits: number;
  misses: number;
  hitRate: number;
}

export interface ReplayResult {
  design: DesignName;
  accesses: number;
  instructionFetches: number;
  loads: number;
  stores: number;
  modifies: number;
  /** Translations made: one per access, plus one per further page an access crosses into. */
  translations: number;
  /** Accesses that cross a 4 KiB page boundary. */
  pageCrossings: number;
  /** Translations the design cannot hold (above its user address space); not simulated. */
  outOfRange: number;
  /** Page faults the kernel handled (a read then a write to a fresh page faults twice: the
   * zero page, then copy-on-write). */
  pageFaults: number;
  /** Distinct 4 KiB pages the replay made resident. */
  residentPages: number;
  walks: number;
  walkMemRefs: number;
  memRefsPerWalk: number;
  tlbHits: number;
  tlbMisses: number;
  tlbHitRate: number;
  /** First-level TLB hit rates by side (NaN without split instruction/data structures). */
  itlbHitRate: number;
  dtlbHitRate: number;
  /** Per TLB structure and per paging-structure cache. */
  tlb: CacheRate[];
  pwc: CacheRate[];
  /** Page-table pages of the process (its pgd included) at the end. */
  tablePages: number;
  /** End to end (reading, inflating, parsing and simulating every design) per second. */
  accessesPerSecond: number;
  /** This design's simulation alone (batches and fault handling) per second. */
  simulatedAccessesPerSecond: number;
  simulationSeconds: number;
}

export interface ReplayReport {
  trace: string;
  /** Lines of the trace that were not accesses: valgrind's messages, malformed lines. */
  noiseLines: number;
  malformedLines: number;
  /** Line number (from 1) of the first malformed line, or null. */
  firstMalformedLine: number | null;
  traceBytes: number;
  seconds: number;
  results: ReplayResult[];
}

const PAGE = 4096;
const MIB = 1 << 20;
/** Areas the replay maps on demand: aligned chunks of this size, read/write/execute. */
const CHUNK = 1n << 20n;
const RWX = PROT_READ | PROT_WRITE | PROT_EXEC;
/** Access bits per trace kind: I fetch, L read, S write, M read-modify-write (one write). */
const ACCESS_OF_KIND: [number, number, number, number] = [0, 0, 0, 0];
ACCESS_OF_KIND[KIND_I] = ACCESS_USER | ACCESS_FETCH;
ACCESS_OF_KIND[KIND_L] = ACCESS_USER;
ACCESS_OF_KIND[KIND_S] = ACCESS_USER | ACCESS_WRITE;
ACCESS_OF_KIND[KIND_M] = ACCESS_USER | ACCESS_WRITE;

const rate = (hits: number, misses: number) => (hits + misses ? hits / (hits + misses) : NaN);

/** One design's replay state: its Kernel, the process, and the batch buffers of its Machine. */
class DesignReplay {
  readonly counts = { translations: 0, outOfRange: 0 };
  seconds = 0;
  #batch: BatchBuffers;
  #va: Uint32Array;
  #acc: Uint8Array;
  #wide: boolean;
  /** Chunks of the address space already given to the trace (true) or out of its reach. */
  #chunks = new Map<number, boolean>();

  constructor(
    readonly design: DesignName,
    readonly kernel: Kernel,
    readonly process: Process,
    readonly tlbConfig: TlbConfig | false | undefined,
  ) {
    this.#batch = kernel.machine.batch();
    this.#va = this.#batch.vaWords;
    this.#acc = this.#batch.access;
    this.#wide = kernel.design.entryBytes === 8 && kernel.design.hardware !== "pae";
  }

  get capacity(): number {
    return this.#batch.capacity;
  }

  /** Runs a block of entries (one per page an access touches) through the Machine. */
  simulate(block: EntryBlock): void {
    const t0 = performance.now();
    let n = block.count;
    this.counts.translations += n;
    if (this.#wide) {
      this.#va.set(block.vaWords.subarray(0, 2 * n));
      this.#acc.set(block.access.subarray(0, n));
    } else {
      // Addresses beyond 32 bits never reach a 32-bit machine.
      const from = block.vaWords, acc = block.access;
      let e = 0;
      for (let i = 0; i < n; i++) {
        if (from[2 * i + 1] !== 0) continue;
        this.#va[2 * e] = from[2 * i]!;
        this.#va[2 * e + 1] = 0;
        this.#acc[e++] = acc[i]!;
      }
      this.counts.outOfRange += n - e;
      n = e;
    }
    this.#run(n);
    this.seconds += (performance.now() - t0) / 1000;
  }

  /** Translates batch entries [0, n), resolving page faults as the kernel would. */
  #run(n: number): void {
    const b = this.#batch;
    let k = b.run(n);
    while (k < n) {
      const va = (BigInt(this.#va[2 * k + 1]!) << 32n) | BigInt(this.#va[2 * k]!);
      const a = this.#acc[k]!;
      if (this.#resolve(va, a)) k = b.run(n, k);
      else {
        this.counts.outOfRange++;
        k = k + 1 < n ? b.run(n, k + 1) : n;
      }
    }
  }

  /** The page-fault handler, once the address's chunk is mapped (false: the design cannot
   * hold the address, or refuses the access). */
  #resolve(va: bigint, a: number): boolean {
    const chunk = Number(va / CHUNK);
    let ok = this.#chunks.get(chunk);
    try {
      if (ok === undefined) this.#chunks.set(chunk, (ok = this.#cover(va)));
      return ok && this.process.handleFault(va, { write: (a & ACCESS_WRITE) !== 0, user: true, fetch: (a & ACCESS_FETCH) !== 0 });
    } catch (err) {
      if (err instanceof KernelError && err.code === "ENOMEM") {
        const mib = this.kernel.machine.ramBytes / MIB;
        throw new KernelError("ENOMEM", `${this.design} ran out of guest RAM (${mib} MiB) at 0x${va.toString(16)}: give it more (ramBytes, --ram-mib)`);
      }
      throw err;
    }
  }

  /**
   * Gives the aligned chunk around va read/write/execute rights: mprotect where the process has
   * areas, mmap(MAP_FIXED) in the gaps (which hold no pages, so nothing is zapped). False if the
   * chunk is not all user address space in this design.
   */
  #cover(va: bigint): boolean {
    const start = va & ~(CHUNK - 1n);
    const end = start + CHUNK;
    if (end > this.kernel.userTop) return false;
    const p = this.process;
    const map = (from: bigint, to: bigint) => p.mmap({ addr: from, length: to - from, prot: RWX, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
    let at = start;
    for (const m of p.maps()) {
      if (m.end <= start || m.start >= end) continue;
      const s = m.start > start ? m.start : start;
      const e = m.end < end ? m.end : end;
      if (s > at) map(at, s);
      if (m.prot !== RWX) p.mprotect(s, e - s, RWX);
      at = e;
    }
    if (at < end) map(at, end);
    return true;
  }
}

/** TLB sides of the configured first-level structures, by name. */
function sidesOf(tlb: TlbConfig | false | undefined): Map<string, string> {
  const config = tlb === undefined ? SKYLAKE_TLB : tlb;
  const sides = new Map<string, string>();
  if (config) for (const s of config.structures) if ((s.level ?? 1) === 1) sides.set(s.name, s.side);
  return sides;
}

/** First-level hit rate of one side: its structures' hits over their lookups. */
function sideRate(stats: MachineStats, sides: Map<string, string>, side: string): number {
  const mine = stats.tlb.filter((s) => sides.get(s.name) === side);
  if (mine.length === 0) return NaN;
  // A structure's misses are the lookups of its level and side that no structure answered.
  return rate(mine.reduce((n, s) => n + s.hits, 0), Math.max(...mine.map((s) => s.misses)));
}

function resultOf(r: DesignReplay, trace: EntryCounts, seconds: number): ReplayResult {
  const m = r.kernel.machine.stats();
  const ps = r.process.stats();
  const sides = sidesOf(r.tlbConfig);
  const userTop = r.kernel.userTop;
  const resident = r.kernel.machine.mappings().reduce((n: number, x) => (x.va < userTop ? n + x.size / PAGE : n), 0);
  const caches = (list: MachineStats["tlb"]) => list.map((c) => ({ ...c, hitRate: rate(c.hits, c.misses) }));
  return {
    design: r.design,
    accesses: trace.accesses,
    instructionFetches: trace.byKind[KIND_I],
    loads: trace.byKind[KIND_L],
    stores: trace.byKind[KIND_S],
    modifies: trace.byKind[KIND_M],
    translations: r.counts.translations,
    pageCrossings: trace.pageCrossings,
    outOfRange: r.counts.outOfRange,
    pageFaults: ps.pageFaults,
    residentPages: resident,
    walks: m.walks,
    walkMemRefs: m.walkMemRefs,
    memRefsPerWalk: m.walks ? m.walkMemRefs / m.walks : 0,
    tlbHits: m.tlbHits,
    tlbMisses: m.tlbMisses,
    tlbHitRate: rate(m.tlbHits, m.tlbMisses),
    itlbHitRate: sideRate(m, sides, "instruction"),
    dtlbHitRate: sideRate(m, sides, "data"),
    tlb: caches(m.tlb),
    pwc: caches(m.pwc),
    tablePages: ps.tablePages,
    accessesPerSecond: seconds > 0 ? trace.accesses / seconds : 0,
    simulatedAccessesPerSecond: r.seconds > 0 ? trace.accesses / r.seconds : 0,
    simulationSeconds: r.seconds,
  };
}

const OPTION_KEYS = ["designs", "tlb", "pwc", "ramBytes", "onProgress", "inspect", "strict"] as const;

/** How to make a trace, for the error on a file that holds none. */
export const MAKE_A_TRACE = "valgrind --tool=lackey --trace-mem=yes --log-file=trace.txt PROGRAM";

/**
 * A trace without a single access line, or (strict) with malformed lines, is refused: a RangeError
 * naming the trace, the lines it found and what makes a trace.
 */
function checkTrace(name: string, counts: EntryCounts, strict: boolean): void {
  const lines = counts.accesses + counts.noiseLines + counts.malformedLines;
  const malformed = counts.malformedLines === 0 ? "" : `, ${counts.malformedLines} malformed (the first is line ${counts.firstMalformedLine ?? "?"})`;
  if (counts.accesses === 0) {
    throw new RangeError(
      `${name}: no lackey access lines (I, L, S or M) in ${lines} lines${malformed}; make a trace with: ${MAKE_A_TRACE}`,
    );
  }
  if (strict && counts.malformedLines > 0) {
    throw new RangeError(`${name}: ${counts.malformedLines} malformed lines, the first is line ${counts.firstMalformedLine ?? "?"} (strict)`);
  }
}

/**
 * Replays a lackey trace (a file path, "-" for stdin, or a stream; gzip or plain) on a process
 * of each design, reading the trace once.
 */
export async function replay(trace: string | NodeJS.ReadableStream, options: ReplayOptions = {}): Promise<ReplayReport> {
  const o = checkOptions<ReplayOptions>("replay options", options, OPTION_KEYS);
  const designs = o.designs ?? ["x86_64-4level"];
  if (!Array.isArray(designs) || designs.length === 0) throw new TypeError(`designs must be a non-empty array, got ${String(designs)}`);
  for (const d of designs) {
    if (!DESIGN_NAMES.includes(d)) throw new RangeError(`unknown design ${JSON.stringify(d)} (designs: ${DESIGN_NAMES.join(", ")})`);
  }
  if (new Set(designs).size !== designs.length) throw new RangeError(`designs must not repeat, got ${designs.join(", ")}`);
  const ramBytes = o.ramBytes === undefined ? 512 * MIB : checkInt("ramBytes", o.ramBytes, 8 * MIB, 2 ** 32);
  if (o.strict !== undefined && typeof o.strict !== "boolean") throw new TypeError(`strict must be a boolean, got ${typeof o.strict} ${String(o.strict)}`);
  const runs: DesignReplay[] = [];
  for (const design of designs) {
    const kernel = await Kernel.create({ design, ramBytes, tlb: o.tlb, pwc: o.pwc });
    // A process with the smallest layout: the trace's own areas are mapped as it touches them.
    const p = kernel.spawn({ text: PAGE, data: 0, heap: 0, stack: PAGE });
    kernel.switchTo(p); // the context switch to p (CR3 = its pgd)
    kernel.machine.resetStats();
    runs.push(new DesignReplay(design, kernel, p, o.tlb));
  }
  const t0 = performance.now();
  const parser = await TraceEntryParser.create(Math.min(...runs.map((r) => r.capacity)), ACCESS_OF_KIND);
  const onBlock = (block: EntryBlock) => {
    for (const r of runs) r.simulate(block);
  };
  // Progress after each parsed chunk: raw bytes read (they run ahead of parsing) and entries.
  let read = 0;
  let total: number | undefined;
  for await (const chunk of traceBytes(trace, (n, t) => ((read = n), (total = t)))) {
    parser.push(chunk, onBlock);
    o.onProgress?.(read, total, parser.entries);
  }
  const counts = parser.end(onBlock);
  checkTrace(typeof trace === "string" ? (trace === "-" ? "stdin" : trace) : "trace stream", counts, o.strict === true);
  const seconds = (performance.now() - t0) / 1000;
  const results = runs.map((r) => resultOf(r, counts, seconds));
  for (const r of runs) o.inspect?.(r.design, r.kernel, r.process);
  return {
    trace: typeof trace === "string" ? trace : "(stream)",
    noiseLines: counts.noiseLines,
    malformedLines: counts.malformedLines,
    firstMalformedLine: counts.firstMalformedLine,
    traceBytes: counts.bytes,
    seconds,
    results,
  };
}
