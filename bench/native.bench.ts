// The product beside its practical limit, in the same run (issue 10, "How to measure"): a
// native C reference (bench/native/mmu.c, built here with gcc -O2 when gcc is present) and a
// careful-JavaScript reference (bench/native/mmu.mjs) run the same loops over the same page
// tables and address streams as the product does through its public API. Every side
// translates the same addresses to the same physical addresses: the checksums are compared
// and printed, so a faster figure cannot come from doing less.
//
// Shapes (bench/native/mmu.c has the details): a process with 1 GiB resident in 4 KiB pages
// (text 8 MiB, heap 512 MiB, mmap 496 MiB, stack 8 MiB: 262,144 leaves, 517 tables at 4
// levels), built in a Machine's RAM exactly as the C program builds it in its array.
//   TLB hit   256 hot pages, each in its own slot of a direct-mapped 4096-entry TLB, warmed
//             first; random hot page + random offset, user reads, 0 misses. The default
//             SKYLAKE_TLB row uses 64 consecutive pages (its first-level 4 KiB DTLB: 16 x 4).
//   walk      uniformly random resident addresses, no TLB, no paging-structure caches; 4 and
//             5 levels, and 32-bit paging (2 levels of 4-byte entries; C generic only).
//   PDE cache random addresses in 32 MiB of heap (16 PDEs), TLB off, caches on and warm.
//   fork/exit `large` of `wasm-mmu compare` (Kernel, x86_64-4level) vs C's W3 + W4.
// Figures are medians of warm repetitions (WARM untimed passes first: V8 tiers WebAssembly
// and JavaScript up from baseline compilers), with the min–max of the repetitions. Batched
// paths time run() only: filling the batch buffer and summing its results are not timed,
// while the C and per-address JavaScript loops sum each result inside the timed loop.
// bench/native/floor.as.ts, the least AssemblyScript a TLB hit needs (compiled here), gives
// the per-address call and the batch a WebAssembly floor in the same run too.
// Run: `npm run bench:native [-- --quick]` (this section alone) or `npm run bench` (all).

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileString } from "assemblyscript/asc";
import {
  ACCESS_USER, CR0_ET, CR0_PE, CR0_PG, CR0_WP, CR4_LA57, CR4_PAE, EFER_LME, EFER_NXE, Kernel, Machine,
  directMappedTlb, type InlineTlb, type MachineOptions,
} from "../src/index.js";
import { WORKLOAD_SPECS } from "../src/tools/compare/workloads.js";
import * as ref from "./native/mmu.mjs";
import { machineLine } from "./walk.bench.js";

const USER = { user: true } as const;

// ---------------------------------------------------------------------------------------
// The C program

export interface NativeBuild {
  /** gcc --version's first line. */
  gcc: string;
  /** The generic and the -DSPEC (walk unrolled per level count) executables. */
  generic: string;
  spec: string;
  /** Removes the temporary directory. */
  dispose(): void;
}

/** One JSON line of the C program (or of mmu.mjs). */
export interface NativeLine {
  impl: string;
  levels: number;
  w?: string;
  ev?: string;
  rep?: number;
  ms?: number;
  ns?: number;
  cs?: string;
  /** Checksum of the address stream itself. */
  va?: string;
  faults?: number;
  tables?: number;
  readonly?: number;
  free?: number;
  root?: number;
}

/** Builds bench/native/mmu.c with gcc -O2 into a temporary directory, or says why it cannot. */
export function buildNative(): NativeBuild | string {
  const probe = spawnSync("gcc", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) return "gcc not found: no C figures (install gcc for the ×C ratios)";
  const dir = mkdtempSync(join(tmpdir(), "wasm-mmu-native-"));
  const source = fileURLToPath(new URL("./native/mmu.c", import.meta.url));
  const exe = (name: string, flags: string[]) => {
    const out = join(dir, name);
    const r = spawnSync("gcc", ["-O2", ...flags, "-o", out, source], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`gcc -O2 ${flags.join(" ")} bench/native/mmu.c failed:\n${r.stderr}`);
    return out;
  };
  try {
    return {
      gcc: probe.stdout.split("\n")[0]!,
      generic: exe("mmu", []),
      spec: exe("mmu-spec", ["-DSPEC"]),
      dispose: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Runs the C program: `levels` levels, `reps` repetitions of N addresses, workloads W1,W2,W3. */
export function runNative(exe: string, levels: number, reps: number, n: number, which: string): NativeLine[] {
  const r = spawnSync(exe, [String(levels), String(reps), String(n), which], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${exe} ${levels} ${reps} ${n} ${which} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim().split("\n").map((l) => JSON.parse(l) as NativeLine);
}

// ---------------------------------------------------------------------------------------
// The product, through its public API

type LoHi = (vaLo: number, vaHi: number, access: number) => number;

/** One pass over a stream: elapsed ms of the timed part, checksum, faults. */
export interface Pass {
  ms: number;
  cs: string;
  faults: number;
}

/** A Machine whose RAM holds the C program's page tables, paging on: `levels` 4 or 5, or 2
 * for 32-bit paging. */
export async function spaceMachine(levels: 2 | 4 | 5, options: Partial<MachineOptions>): Promise<Machine> {
  const m = await Machine.create({ ramBytes: ref.RAM_BYTES, ...options });
  const ram = new Int32Array(m.ram.buffer, m.ram.byteOffset, m.ram.byteLength / 4);
  const space = ref.buildSpace(ram, levels);
  const gp = m.setRegisters({
    cr0: CR0_ET | CR0_PE | CR0_PG | CR0_WP,
    cr4: levels === 2 ? 0n : CR4_PAE | (levels === 5 ? CR4_LA57 : 0n),
    efer: levels === 2 ? 0n : EFER_LME | EFER_NXE,
    cr3: BigInt(space.root),
  });
  if (gp) throw new Error(`setRegisters: ${gp.reason}`);
  return m;
}

/** Translates the hot pages once (user reads): the TLB then holds every one of them. */
export function warmTlb(m: Machine, hot: readonly number[]): void {
  const b = m.batch();
  hot.forEach((vpn, i) => {
    b.vaWords[2 * i] = ((vpn % 0x100000) * 4096) >>> 0;
    b.vaWords[2 * i + 1] = Math.floor(vpn / 0x100000);
  });
  if (b.run(hot.length, 0, USER) !== hot.length) throw new Error("a hot page faulted");
}

/** A batch interface: addresses in, physical addresses out, through linear memory. */
export interface BatchLike {
  capacity: number;
  vaWords: Uint32Array;
  paWords: Uint32Array;
  /** Translates [start, count); the index of the first fault, or count. */
  run(count: number, start: number): number;
}

/** Machine.batch() for user reads. */
export function productBatch(m: Machine): BatchLike {
  const b = m.batch();
  return { capacity: b.capacity, vaWords: b.vaWords, paWords: b.paWords, run: (count, start) => b.run(count, start, USER) };
}

/** A batch's run() over the stream, `capacity` at a time; only run() is timed. */
export function batchPass(b: BatchLike, va: Uint32Array, n: number): Pass {
  let ms = 0, lo = 0, frames = 0, faults = 0;
  for (let i = 0; i < n; i += b.capacity) {
    const count = Math.min(b.capacity, n - i);
    b.vaWords.set(va.subarray(2 * i, 2 * (i + count)));
    const t0 = performance.now();
    let stop = b.run(count, 0);
    ms += performance.now() - t0;
    let from = 0;
    for (;;) {
      for (let j = from; j < stop; j++) {
        const pLo = b.paWords[2 * j]!, pHi = b.paWords[2 * j + 1]!;
        lo = (lo + pLo) >>> 0;
        frames = (frames + ((pLo >>> 12) | (pHi << 20))) >>> 0;
      }
      if (stop >= count) break;
      faults++; // entry `stop` faulted: go on after it
      from = stop + 1;
      stop = from < count ? b.run(count, from) : count;
    }
  }
  return { ms, cs: ref.checksum(lo, frames), faults };
}

/** The AssemblyScript floor (bench/native/floor.as.ts) over a copy of a careful-JS TLB. */
export interface AsFloor {
  translate: LoHi;
  batch: BatchLike;
}

/** Compiles bench/native/floor.as.ts with asc -O3 (in memory) and loads `tlb` into it. */
export async function asFloor(tlb: Int32Array): Promise<AsFloor> {
  const source = await readFile(new URL("./native/floor.as.ts", import.meta.url), "utf8");
  const out = await compileString({ "floor.ts": source }, { optimizeLevel: 3, runtime: "stub", noAssert: true, initialMemory: 3, maximumMemory: 3 });
  if (out.error || !out.binary) throw new Error(`asc bench/native/floor.as.ts: ${out.error?.message}\n${out.stderr.toString()}`);
  const module = await WebAssembly.compile(out.binary as Uint8Array<ArrayBuffer>);
  const instance = await WebAssembly.instantiate(module, { env: { abort: () => { throw new Error("floor: abort"); } } });
  const x = instance.exports as unknown as { memory: WebAssembly.Memory; translate: LoHi; batch(n: number, start: number): number };
  // Offsets of floor.as.ts: TLB at 64 KiB, VAS at 128 KiB, PAS at 160 KiB.
  new Int32Array(x.memory.buffer, 65536, tlb.length).set(tlb);
  return {
    translate: x.translate,
    batch: {
      capacity: 4096,
      vaWords: new Uint32Array(x.memory.buffer, 131072, 8192),
      paWords: new Uint32Array(x.memory.buffer, 163840, 8192),
      run: (count, start) => x.batch(count, start),
    },
  };
}

type Loop = (target: unknown, va: Uint32Array, n: number) => { ms: number; lo: number; frames: number; faults: number };

/**
 * A fresh copy of the timed per-address loop (shaped as mmu.mjs runW1) that calls `callee`.
 * Every path gets a loop compiled for it alone: V8 keeps call feedback per function literal
 * (closures of one literal share it), and a call site that has seen two callees is no longer
 * inlined (a per-address wasm call measured 7 ns alone, 16 ns behind a shared loop).
 */
function freshLoop(callee: "target" | "target.translate" | "target.translateLoHi"): Loop {
  return new Function("target", "va", "n", `"use strict";
    let lo = 0, frames = 0, faults = 0;
    const t0 = performance.now();
    for (let i = 0; i < 2 * n; i += 2) {
      const pa = ${callee}(va[i], va[i + 1], ${ACCESS_USER});
      if (pa < 0) faults++;
      else {
        lo = (lo + pa) >>> 0;
        frames = (frames + pa / 4096) >>> 0;
      }
    }
    return { ms: performance.now() - t0, lo, frames, faults };`) as Loop;
}

const passOf = (loop: Loop, target: unknown) => (va: Uint32Array, n: number): Pass => {
  const r = loop(target, va, n);
  return { ms: r.ms, cs: ref.checksum(r.lo, r.frames), faults: r.faults };
};

/** A pass of per-address calls (lo, hi, ACCESS_USER) -> physical address or -1, with its own loop. */
export function callPasses(call: LoHi): (va: Uint32Array, n: number) => Pass {
  return passOf(freshLoop("target"), call);
}

/** A pass of Machine.translateLoHi() per address (numbers in, a number out), with its own loop. */
export function loHiPasses(m: Machine): (va: Uint32Array, n: number) => Pass {
  return passOf(freshLoop("target.translateLoHi"), m);
}

/** A pass of InlineTlb.translate() per address, with its own loop. */
export function inlinePasses(t: InlineTlb): (va: Uint32Array, n: number) => Pass {
  return passOf(freshLoop("target.translate"), t);
}

/** The stream's first n addresses as bigints (what translate() takes). */
export function bigints(va: Uint32Array, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => (BigInt(va[2 * i + 1]!) << 32n) | BigInt(va[2 * i]!));
}

/** Machine.translate() (BigInt in, result object out) per address; the pa is stored, summed untimed. */
export function facadePass(m: Machine, vas: readonly bigint[]): Pass {
  const out = new BigUint64Array(vas.length);
  const ok = new Uint8Array(vas.length);
  let faults = 0;
  const t0 = performance.now();
  for (let i = 0; i < vas.length; i++) {
    const r = m.translate(vas[i]!, USER);
    if (r.fault) faults++;
    else {
      out[i] = r.pa;
      ok[i] = 1;
    }
  }
  const ms = performance.now() - t0;
  let lo = 0, frames = 0;
  out.forEach((pa, i) => {
    if (!ok[i]) return;
    lo = (lo + Number(pa & 0xffffffffn)) >>> 0;
    frames = (frames + Number((pa >> 12n) & 0xffffffffn)) >>> 0;
  });
  return { ms, cs: ref.checksum(lo, frames), faults };
}

// ---------------------------------------------------------------------------------------
// Repetitions and statistics

export interface Stat {
  median: number;
  min: number;
  max: number;
  reps: number;
}

function stat(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, reps: s.length };
}

interface Budget {
  warm: number;
  reps: number;
  /** Addresses per pass (TLB hits and walks); translate() takes 1/16 of them. */
  n: number;
}

/** `warm` untimed passes, then `reps` timed ones; ns per op (per = ops per pass) and the
 * checksum, which must be the same on every pass. */
function repeat(b: Budget, per: number, pass: () => Pass): { ns: Stat; cs: string; faults: number } {
  let first: Pass | undefined;
  const ns: number[] = [];
  for (let r = 0; r < b.warm + b.reps; r++) {
    const p = pass();
    first ??= p;
    if (p.cs !== first.cs || p.faults !== first.faults) throw new Error(`passes disagree: ${p.cs} vs ${first.cs}`);
    if (r >= b.warm) ns.push((p.ms * 1e6) / per);
  }
  return { ns: stat(ns), cs: first!.cs, faults: first!.faults };
}

/** Figures of the C program's lines for workload w (warm reps only: the first `skip` dropped). */
function cFigure(lines: NativeLine[], w: string, skip: number, field: "ns" | "ms"): { stat: Stat; cs: string; va: string } | undefined {
  const l = lines.filter((x) => x.w === w && x.rep! >= skip);
  if (l.length === 0) return undefined;
  return { stat: stat(l.map((x) => x[field]!)), cs: l[0]!.cs ?? "", va: l[0]!.va ?? "" };
}

// ---------------------------------------------------------------------------------------
// The suite

export interface NativeRow {
  path: string;
  unit: "ns" | "ms";
  product: Stat;
  c?: Stat;
  js?: Stat;
  target: string;
  /** Product / reference ratio the target is stated against, when it is not ×C or ×JS. */
  ratio?: { of: string; value: number };
  /** Checksums equal to the references on the same stream (undefined: no reference). */
  same?: boolean;
  note: string;
}

export interface NativeReport {
  rows: NativeRow[];
  gcc: string;
  budget: Budget;
  /** false: gcc is missing (gcc then says why). */
  withC: boolean;
  /** Lines on what was compared and what did not agree. */
  notes: string[];
}

export async function nativeSuite(quick = false): Promise<NativeReport> {
  const budget: Budget = quick ? { warm: 2, reps: 3, n: 1 << 16 } : { warm: 3, reps: 9, n: 1 << 20 };
  const { n } = budget;
  const rows: NativeRow[] = [];
  const notes: string[] = [];
  const loadAtStart = loadavg()[0]!;
  const checks: Array<[string, string, string]> = []; // [what, product cs, reference cs]
  const agree = (what: string, cs: string, ...refs: Array<string | undefined>) => {
    const ok = refs.every((r) => r === undefined || r === cs);
    for (const r of refs) if (r !== undefined) checks.push([what, cs, r]);
    return ok;
  };

  // C first, on an otherwise idle process (it takes a few seconds).
  const built = buildNative();
  const cSkip = 2; // cold repetitions the C figures drop
  let c4: NativeLine[] = [], c4s: NativeLine[] = [], c5: NativeLine[] = [], c5s: NativeLine[] = [], c2: NativeLine[] = [];
  let gcc: string;
  if (typeof built === "string") {
    gcc = built;
  } else {
    gcc = `${built.gcc}, -O2`;
    try {
      const reps = budget.reps + cSkip;
      c4 = runNative(built.generic, 4, reps, n, "W1,W2,W3");
      c4s = runNative(built.spec, 4, reps, n, "W2");
      c5 = runNative(built.generic, 5, reps, n, "W2");
      c5s = runNative(built.spec, 5, reps, n, "W2");
      c2 = runNative(built.generic, 2, reps, n, "W2");
    } finally {
      built.dispose();
    }
  }
  const cW1 = cFigure(c4, "W1", cSkip, "ns");
  const cW2 = cFigure(c4, "W2", cSkip, "ns"), cW2s = cFigure(c4s, "W2", cSkip, "ns");
  const c5W2 = cFigure(c5, "W2", cSkip, "ns"), c5W2s = cFigure(c5s, "W2", cSkip, "ns");
  const c2W2 = cFigure(c2, "W2", cSkip, "ns");
  const cW3 = c4.filter((x) => x.w === "W3" && x.rep! >= cSkip), cW4 = c4.filter((x) => x.w === "W4" && x.rep! >= cSkip);
  const cFork = cW3.length ? stat(cW3.map((x, i) => x.ms! + cW4[i]!.ms!)) : undefined;

  // Careful JavaScript, and the same streams for the product.
  const hit = ref.hitStream(4, n);
  const set = ref.setStream(4, n);
  const walk4 = ref.walkStream(4, n), walk5 = ref.walkStream(5, n), walk2 = ref.walkStream(2, n);
  const pde = ref.pdeStream(4, n);
  // The C program drew the same address streams (not only the same physical results).
  agree("W1 stream", ref.streamChecksum(hit.va), cW1?.va);
  for (const [what, va, c] of [["4-level", walk4, cW2], ["4-level -DSPEC", walk4, cW2s], ["5-level", walk5, c5W2], ["5-level -DSPEC", walk5, c5W2s], ["2-level", walk2, c2W2]] as const) {
    agree(`W2 stream, ${what}`, ref.streamChecksum(va), c?.va);
  }
  const jsRam = new Int32Array(ref.RAM_BYTES / 4);
  const root4 = ref.buildSpace(jsRam, 4).root;
  const tlb = ref.makeTlb();
  ref.fillTlb(tlb, jsRam, root4, 4, hit.hot);
  const pass = (f: () => { cs: string; faults: number }): Pass => {
    const t0 = performance.now();
    const r = f();
    return { ms: performance.now() - t0, ...r };
  };
  const jsW1 = repeat(budget, n, () => pass(() => ref.runW1(tlb, jsRam, root4, 4, hit.va, n)));
  // The AssemblyScript floor over the same (warm) TLB.
  const floor = await asFloor(tlb);
  const floorPass = callPasses(floor.translate);
  const floorCall = repeat(budget, n, () => floorPass(hit.va, n));
  const floorBatch = repeat(budget, n, () => batchPass(floor.batch, hit.va, n));
  agree("AS floor call", floorCall.cs, cW1?.cs, jsW1.cs);
  agree("AS floor batch", floorBatch.cs, cW1?.cs, jsW1.cs);
  const vsFloor = (what: string, product: Stat, f: Stat) => ({ of: `the AS floor ${what} (${f.median.toFixed(2)} ns)`, value: product.median / f.median });
  const setTlb = ref.makeTlb();
  const jsSet = repeat(budget, n, () => pass(() => ref.runW1(setTlb, jsRam, root4, 4, set, n)));
  const nBig = n >> 4;
  const jsBig = ref.runW1(tlb, jsRam, root4, 4, hit.va, nBig).cs;
  const jsW2 = repeat(budget, n, () => pass(() => ref.runW2(jsRam, root4, 4, walk4, n)));
  const jsPde = ref.runW2(jsRam, root4, 4, pde, n).cs;
  jsRam.fill(0);
  const root5 = ref.buildSpace(jsRam, 5).root;
  const js5W2 = repeat(budget, n, () => pass(() => ref.runW2(jsRam, root5, 5, walk5, n)));
  jsRam.fill(0);
  const root2 = ref.buildSpace(jsRam, 2).root;
  const js2W2 = repeat(budget, n, () => pass(() => ref.runW2(jsRam, root2, 2, walk2, n)));

  // The product: TLB hits on a direct-mapped 4096-entry TLB.
  {
    const m = await spaceMachine(4, { tlb: directMappedTlb(4096) });
    warmTlb(m, hit.hot);
    m.resetStats();
    const pb = productBatch(m);
    const batch = repeat(budget, n, () => batchPass(pb, hit.va, n));
    const missed = m.stats().tlbMisses;
    rows.push({
      path: "TLB hit, batched: batch().run(), direct-mapped 4096", unit: "ns", product: batch.ns, c: cW1?.stat, js: jsW1.ns,
      target: "≤ 1.3× C", ratio: vsFloor("batch", batch.ns, floorBatch.ns), same: agree("batched hit", batch.cs, cW1?.cs, jsW1.cs), note: `${missed} misses`,
    });
    const t = m.inlineTlb();
    const inlinePass = inlinePasses(t);
    const inline = repeat(budget, n, () => inlinePass(hit.va, n));
    rows.push({
      path: "TLB hit, inline: inlineTlb().translate(), direct-mapped 4096", unit: "ns", product: inline.ns, c: cW1?.stat, js: jsW1.ns,
      target: "≤ 1.2× JS", same: agree("inline hit", inline.cs, cW1?.cs, jsW1.cs), note: `${t.hits} hits, ${t.misses} misses in JS`,
    });
    m.resetStats();
    const callPass = loHiPasses(m);
    const calls = repeat(budget, n, () => callPass(hit.va, n));
    rows.push({
      path: "TLB hit, per-address call: translateLoHi()", unit: "ns", product: calls.ns, c: cW1?.stat, js: jsW1.ns,
      target: "≤ 1.3× AS call", ratio: vsFloor("call", calls.ns, floorCall.ns), same: agree("per-address call", calls.cs, cW1?.cs, jsW1.cs), note: `${m.stats().tlbMisses} misses`,
    });
    const vas = bigints(hit.va, nBig);
    const facade = repeat(budget, nBig, () => facadePass(m, vas));
    rows.push({
      path: "TLB hit, translate() (BigInt facade)", unit: "ns", product: facade.ns, c: cW1?.stat, js: jsW1.ns,
      target: "≤ 80 ns", same: agree("translate()", facade.cs, jsBig), note: `${nBig} addresses per pass`,
    });
    m.destroy();
  }
  // The default SKYLAKE_TLB, 64 pages in its first-level DTLB.
  {
    const m = await spaceMachine(4, {});
    const hot = Array.from({ length: 64 }, (_, i) => ref.pageVpn(ref.TEXT_PAGES + 4096 + i, 4));
    warmTlb(m, hot);
    const t = m.inlineTlb();
    const inlinePass = inlinePasses(t);
    const inline = repeat(budget, n, () => inlinePass(set, n));
    rows.push({
      path: "TLB hit, inline: inlineTlb().translate(), SKYLAKE_TLB, 64 pages", unit: "ns", product: inline.ns, js: jsSet.ns,
      target: "≤ 1.2× JS", same: agree("inline hit, Skylake", inline.cs, jsSet.cs), note: `${t.hits} hits, ${t.misses} misses in JS`,
    });
    m.destroy();
  }
  // Walks: no TLB, no paging-structure caches.
  const walks: Array<[2 | 4 | 5, Uint32Array, typeof cW2, typeof cW2, typeof jsW2]> = [
    [4, walk4, cW2, cW2s, jsW2], [5, walk5, c5W2, c5W2s, js5W2], [2, walk2, c2W2, undefined, js2W2],
  ];
  let bare4PdeNs: Stat | undefined;
  for (const [levels, va, cg, cs, js] of walks) {
    const m = await spaceMachine(levels, { tlb: false, pwc: false });
    m.resetStats();
    const pb = productBatch(m);
    const w = repeat(budget, n, () => batchPass(pb, va, n));
    const s = m.stats();
    const refs = `${(s.walkMemRefs / s.walks).toFixed(2)} memrefs/walk`;
    const same = agree(`${levels}-level walk`, w.cs, cg?.cs, js.cs);
    rows.push({ path: levels === 2 ? "walk 2-level (32-bit paging), no TLB/PWC, batched" : `walk ${levels}-level, no TLB/PWC, batched`, unit: "ns", product: w.ns, c: cg?.stat, js: js.ns, target: "≤ 1.3× C", same, note: refs });
    if (cs) rows.push({ path: `  same, vs C unrolled (-DSPEC)`, unit: "ns", product: w.ns, c: cs.stat, target: "stretch ≤ 1.3× C", same: agree(`${levels}-level walk, -DSPEC`, w.cs, cs.cs), note: "" });
    if (levels === 4) {
      const full = repeat(budget, n, () => batchPass(pb, pde, n));
      agree("4-level walk, PDE stream", full.cs, jsPde);
      bare4PdeNs = full.ns;
    }
    m.destroy();
  }
  // A walk that hits a warm PDE cache (TLB off).
  {
    const m = await spaceMachine(4, { tlb: false });
    const pb = productBatch(m);
    batchPass(pb, pde, Math.min(n, 4096));
    m.resetStats();
    const w = repeat(budget, n, () => batchPass(pb, pde, n));
    const s = m.stats();
    const pdeCache = s.pwc.find((c) => c.name.startsWith("pde"));
    rows.push({
      path: "walk, warm PDE cache (TLB off), 32 MiB, batched", unit: "ns", product: w.ns, target: "≤ 0.6× full walk",
      ratio: bare4PdeNs && { of: `the no-cache walk (${bare4PdeNs.median.toFixed(1)} ns on this stream)`, value: w.ns.median / bare4PdeNs.median },
      same: agree("PDE-cache walk", w.cs, jsPde),
      note: `${(s.walkMemRefs / s.walks).toFixed(2)} memrefs/walk` +
        (pdeCache ? `, PDE cache ${pdeCache.hits} hits / ${pdeCache.misses} misses` : ""),
    });
    m.destroy();
  }
  // fork + exit of the `large` workload.
  {
    const spec = WORKLOAD_SPECS.large;
    const kernel = await Kernel.create({ design: "x86_64-4level", ramBytes: spec.ramBytes(false), impl: "wasm" });
    const w = spec.prepare(kernel, false);
    const fork: number[] = [], exit: number[] = [], both: number[] = [];
    const runs = quick ? { warm: 3, reps: 5 } : { warm: 10, reps: 21 };
    for (let r = 0; r < runs.warm + runs.reps; r++) {
      const t0 = performance.now();
      const child = w.parent.fork();
      const t1 = performance.now();
      child.exit();
      const t2 = performance.now();
      if (r < runs.warm) continue;
      fork.push(t1 - t0);
      exit.push(t2 - t1);
      both.push(t2 - t0);
    }
    const f = stat(fork), e = stat(exit);
    const cf = cW3.length ? stat(cW3.map((x) => x.ms!)) : undefined, ce = cW4.length ? stat(cW4.map((x) => x.ms!)) : undefined;
    rows.push({
      path: "fork+exit, `large` (Kernel, x86_64-4level; C: W3 + W4)", unit: "ms", product: stat(both), c: cFork, target: "≤ 1.3× C",
      note: `fork ${f.median.toFixed(2)} + exit ${e.median.toFixed(2)} ms` + (cf && ce ? ` (C ${cf.median.toFixed(2)} + ${ce.median.toFixed(2)})` : "") +
        (cW3[0] ? `; C copies ${cW3[0].tables} tables, ${cW3[0].readonly} leaves` : ""),
    });
  }

  const bad = checks.filter(([, a, b]) => a !== b);
  notes.push(bad.length === 0
    ? `checksums: ${checks.length} comparisons, product = ${c4.length ? "C = " : ""}careful JS on every stream`
    : `CHECKSUM MISMATCH: ${bad.map(([w, a, b]) => `${w} ${a} vs ${b}`).join("; ")}`);
  const load = Math.max(loadAtStart, loadavg()[0]!);
  if (load >= 0.5) notes.push(`load average ${load.toFixed(2)} (1 min) during the run: issue 10 takes figures only below 0.5`);
  return { rows, gcc, withC: typeof built !== "string", budget, notes };
}

const cell = (s: Stat | undefined, unit: string) =>
  s ? `${s.median.toFixed(unit === "ms" ? 3 : 2)} (${s.min.toFixed(unit === "ms" ? 3 : 2)}–${s.max.toFixed(unit === "ms" ? 3 : 2)})` : "—";
const times = (a: Stat, b: Stat | undefined) => (b ? `${(a.median / b.median).toFixed(2)}×` : "—");

/** Rows as a Markdown table (pastes into the README as it is), columns padded to line up. */
function markdown(header: string[], rows: string[][]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(" | ")} |`;
  return [line(header), line(width.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The comparison table: product, C, ×C, careful JS, ×JS, issue 10's target. */
export function printNativeReport(r: NativeReport): void {
  const { warm, reps, n } = r.budget;
  console.log(
    (r.withC ? `same run: product vs native C (${r.gcc}) and careful JavaScript` : `same run: product vs careful JavaScript only (${r.gcc})`) +
    ", 4-level unless said; " +
    `median (min–max) of ${reps} warm repetitions after ${warm} warm-ups, ${n} addresses each`,
  );
  const header = ["path", "product", "C", "×C", "careful JS", "×JS", "target", "same result", "note"];
  console.log(markdown(header, r.rows.map((x) => [
    x.path,
    `${cell(x.product, x.unit)} ${x.unit}`,
    cell(x.c, x.unit),
    times(x.product, x.c),
    cell(x.js, x.unit),
    times(x.product, x.js),
    x.target,
    x.same === undefined ? "" : x.same ? "yes" : "NO",
    (x.ratio ? `${x.ratio.value.toFixed(2)}× ${x.ratio.of}; ` : "") + x.note,
  ])));
  for (const l of r.notes) console.log(l);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await machineLine());
  printNativeReport(await nativeSuite(process.argv.includes("--quick")));
  console.log(await machineLine());
}
