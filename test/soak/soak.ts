// Long-run soak of the Kernel: fork/exit cycles with random writes, one round per design in turn,
// RAM kept near full and once per round driven to no free frame, every process's memory checked
// against a model (a copy-on-write map of pages in plain JavaScript), and at the end of each round
// every frame free again. Out-of-memory errors are allowed where RAM really is exhausted; they
// must leave the model's view intact.

import {
  DESIGN_NAMES, Kernel, KernelError, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
  type DesignName, type Process,
} from "../../src/index.js";
import { Rng } from "../reference/generate.js";

const PAGE = 4096;

export interface SoakOptions {
  /** fork/exit cycles in all. */
  cycles: number;
  seed: number;
  /** Cycles per kernel (a round boots a new kernel of the next design, in turn). */
  cyclesPerRound?: number;
  designs?: readonly DesignName[];
  ramBytes?: number;
  impl?: "wasm" | "ts";
  log?: (line: string) => void;
}

export interface SoakReport {
  rounds: number;
  forks: number;
  exits: number;
  writes: number;
  pagesChecked: number;
  enomem: number;
  /** Fewest free frames seen, as a fraction of all frames. */
  minFreeFraction: number;
  designs: Partial<Record<DesignName, DesignReport>>;
}

/** What the rounds of one design did. */
export interface DesignReport {
  rounds: number;
  forks: number;
  /** ENOMEMs of the processes' own operations (fork, faults, writes, reads), not of the filler. */
  enomem: number;
  /** Fewest free frames seen. */
  minFreeFrames: number;
}

/** A process's memory as the model sees it: page index -> contents (absent = zeros). */
interface Model {
  priv: Map<number, Uint8Array>;
  /** MAP_SHARED pages: one map shared by the whole family, as the kernel shares the frames. */
  shared: Map<number, Uint8Array>;
}

export class SoakError extends Error {
  override name = "SoakError";
}

export async function soak(o: SoakOptions): Promise<SoakReport> {
  const rng = new Rng(o.seed);
  const designs = o.designs ?? DESIGN_NAMES;
  const perRound = o.cyclesPerRound ?? 500;
  const report: SoakReport = { rounds: 0, forks: 0, exits: 0, writes: 0, pagesChecked: 0, enomem: 0, minFreeFraction: 1, designs: {} };
  while (report.forks < o.cycles) {
    const design = designs[report.rounds % designs.length]!;
    report.rounds++;
    const d = (report.designs[design] ??= { rounds: 0, forks: 0, enomem: 0, minFreeFrames: Infinity });
    d.rounds++;
    await round(design, Math.min(perRound, o.cycles - report.forks), rng, o, report, d);
    o.log?.(`round ${report.rounds} ${design}: ${report.forks} forks, ${report.enomem} ENOMEM, min free ${(100 * report.minFreeFraction).toFixed(1)}%`);
  }
  return report;
}

async function round(design: DesignName, cycles: number, rng: Rng, o: SoakOptions, report: SoakReport, d: DesignReport): Promise<void> {
  const k = await Kernel.create({ design, ramBytes: o.ramBytes ?? 8 << 20, ...(o.impl ? { impl: o.impl } : {}) });
  const boot = k.stats();
  const privPages = 48 + rng.int(48);
  const sharedPages = 4;
  const first = k.spawn();
  const priv = first.mmap({ length: privPages * PAGE, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  const shared = first.mmap({ length: sharedPages * PAGE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED | MAP_ANONYMOUS });
  const live = new Map<Process, Model>([[first, { priv: new Map(), shared: new Map() }]]);
  const total = k.totalFrames;
  const fail = (what: string): never => {
    throw new SoakError(`${design}, seed ${o.seed}, fork ${report.forks}: ${what}`);
  };
  const enomem = (e: unknown): void => {
    if (!(e instanceof KernelError) || e.code !== "ENOMEM") throw e;
    report.enomem++;
    d.enomem++;
  };
  const addrOf = (isShared: boolean, page: number) => (isShared ? shared : priv) + BigInt(page * PAGE);
  const check = (p: Process, m: Model, isShared: boolean, page: number): void => {
    let got: Uint8Array;
    try {
      got = p.read(addrOf(isShared, page), PAGE);
    } catch (e) {
      return enomem(e); // reading may need a table page
    }
    const want = (isShared ? m.shared : m.priv).get(page);
    for (let i = 0; i < PAGE; i++) {
      if (got[i] !== (want ? want[i] : 0)) fail(`pid ${p.pid} ${isShared ? "shared" : "private"} page ${page} byte ${i}: ${got[i]} != ${want ? want[i] : 0}`);
    }
    report.pagesChecked++;
  };

  const seen = (): number => {
    const free = k.stats().freeFrames;
    report.minFreeFraction = Math.min(report.minFreeFraction, free / total);
    d.minFreeFrames = Math.min(d.minFreeFrames, free);
    return free / total;
  };

  // The filler: a process outside the model whose area is larger than RAM, with its page tables
  // made now, so that writing its pages one by one takes exactly one frame each and ends in
  // ENOMEM with not one frame free.
  const filler = k.spawn();
  const fillPages = total;
  const fill = filler.mmap({ length: fillPages * PAGE, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  for (let page = 0; page < fillPages; page += 256) filler.touch(fill + BigInt(page * PAGE), PAGE, true);
  const fillRam = (): void => {
    for (let page = 0; page < fillPages; page++) {
      try {
        filler.touch(fill + BigInt(page * PAGE), PAGE, true);
      } catch (e) {
        if (!(e instanceof KernelError) || e.code !== "ENOMEM") throw e;
        return;
      }
    }
    fail("the filler never ran out of memory");
  };

  let forks = 0;
  let filled = false;
  const step = (): void => {
    const procs = [...live.keys()];
    const free = seen();
    const r = rng.int(100);
    // Fork only with room to spare, exit (often) without: RAM stays near full and forks go on.
    if (r < 25 && free > 0.06 && procs.length < 64) {
      const p = rng.pick(procs);
      try {
        const c = p.fork();
        const m = live.get(p)!;
        live.set(c, { priv: new Map(m.priv), shared: m.shared });
        forks++;
        report.forks++;
        d.forks++;
      } catch (e) {
        enomem(e);
      }
    } else if (((free <= 0.06 && rng.chance(0.5)) || (r < 45 && procs.length > 40)) && procs.length > 1) {
      const p = rng.pick(procs);
      p.exit();
      live.delete(p);
      report.exits++;
    } else if (r < 70) {
      // Write-fault a run of pages (copy-on-write copies, table pages): keeps RAM near full.
      const p = rng.pick(procs);
      const page = rng.int(privPages);
      const n = 1 + rng.int(Math.min(48, privPages - page));
      try {
        p.touch(addrOf(false, page), n * PAGE, true);
      } catch (e) {
        enomem(e);
      }
    } else if (r < 90) {
      // A write inside one page (private or shared): all or nothing.
      const p = rng.pick(procs);
      const m = live.get(p)!;
      const isShared = rng.chance(0.15);
      const page = rng.int(isShared ? sharedPages : privPages);
      const off = rng.int(PAGE);
      const len = 1 + rng.int(Math.min(64, PAGE - off));
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = rng.int(256);
      try {
        p.write(addrOf(isShared, page) + BigInt(off), bytes);
        const map = isShared ? m.shared : m.priv;
        const next = new Uint8Array(map.get(page) ?? new Uint8Array(PAGE)); // the model copies on write too
        next.set(bytes, off);
        map.set(page, next);
        report.writes++;
      } catch (e) {
        enomem(e);
      }
    } else {
      const p = rng.pick(procs);
      const isShared = rng.chance(0.2);
      check(p, live.get(p)!, isShared, rng.int(isShared ? sharedPages : privPages));
    }
  };
  while (forks < cycles) {
    step();
    if (!filled && forks >= cycles / 2) {
      // Halfway: no free frame at all for a while, then the filler exits.
      filled = true;
      fillRam();
      if (seen() !== 0) fail(`the filler stopped with ${k.stats().freeFrames} frames free`);
      try {
        rng.pick([...live.keys()]).fork();
        fail("a fork succeeded with no free frame");
      } catch (e) {
        if (e instanceof SoakError) throw e;
        enomem(e);
      }
      for (let i = 0; i < 40; i++) step();
      filler.exit();
    }
  }
  if (!filled) fail("the round ended before RAM was filled");
  // Every live process equals its model, page for page; then all exit and every frame is free.
  for (const [p, m] of live) {
    for (let page = 0; page < privPages; page++) check(p, m, false, page);
    for (let page = 0; page < sharedPages; page++) check(p, m, true, page);
  }
  for (const p of live.keys()) {
    p.exit();
    report.exits++;
  }
  const end = k.stats();
  if (end.freeFrames !== boot.freeFrames) fail(`${boot.freeFrames - end.freeFrames} frames leaked (free ${end.freeFrames}, at boot ${boot.freeFrames})`);
  if (end.tablePages !== boot.tablePages) fail(`table pages ${end.tablePages}, at boot ${boot.tablePages}`);
  if (k.processes().length !== 0) fail(`${k.processes().length} processes left`);
}
