// Shared by the out-of-memory tests: an operation run once with each of its frame allocations
// failing in turn (Kernel.injectAllocFailure), fallback paths included.
import { expect } from "vitest";
import { KernelError, type Kernel } from "../src/index.js";

/** Everything an allocating operation may change: RAM, every frame count, the counts, the pids. */
export function kernelState(k: Kernel) {
  const refs = new Uint32Array(k.totalFrames);
  for (let f = 0; f < k.totalFrames; f++) refs[f] = k.frameRefs(BigInt(f) << 12n);
  const s = k.stats();
  return {
    ram: Buffer.from(k.machine.ram),
    refs: Buffer.from(refs.buffer),
    free: s.freeFrames,
    tablePages: s.tablePages,
    pids: k.processes().map((p) => p.pid),
  };
}
export type KernelState = ReturnType<typeof kernelState>;

export function expectSameState(after: KernelState, before: KernelState, what: string): void {
  expect(after.free, `${what}: free frames`).toBe(before.free);
  expect(after.tablePages, `${what}: table pages`).toBe(before.tablePages);
  expect(after.pids, `${what}: processes`).toEqual(before.pids);
  expect(Buffer.compare(after.refs, before.refs), `${what}: frame counts`).toBe(0);
  expect(Buffer.compare(after.ram, before.ram), `${what}: RAM`).toBe(0);
}

/**
 * After an operation succeeded with allocation n armed to fail: did it make its n-th allocation
 * (so a fallback path absorbed the failure)? If it did not, the armed failure is still pending,
 * exactly one allocation away (the run with n - 1 armed reached allocation n - 1, and every run
 * is the same up to there), and a one-page vmalloc fails on it, changing nothing.
 */
function failureWasReached(k: Kernel): boolean {
  expect(k.stats().freeFrames, "free frames left for the vmalloc probe").toBeGreaterThan(8);
  let v: bigint;
  try {
    v = k.vmalloc(4096);
  } catch (e) {
    if (e instanceof KernelError && e.code === "ENOMEM") return false;
    throw e;
  }
  k.vfree(v);
  return true;
}

export interface AllocationReport<S, T> {
  /** The stage of the last run, which succeeded with every allocation it made. */
  stage: S;
  result: T;
  /** Allocations the operation makes in a clean run. */
  points: number;
  /** The n whose failure the operation answered with ENOMEM (state unchanged). */
  enomem: number[];
  /** The n whose failure a fallback path absorbed (the operation succeeded anyway). */
  fallbacks: number[];
}

/**
 * Runs `op` with allocation n failing, for n = 1, 2, ... until a run no longer reaches its n-th
 * allocation: every allocation of a clean run (and of any fallback path) is failed once. A run
 * that fails must fail with ENOMEM and change nothing; the next n reuses the same stage. A run
 * that succeeds though its n-th allocation failed took a fallback: its changes are thrown away and
 * `start` (then a function) builds the stage afresh, which must give the same state, for the next
 * n. With `start` a stage rather than a builder, a fallback fails the test.
 */
export async function atEveryAllocation<S extends { k: Kernel }, T>(
  label: string,
  start: S | (() => S | Promise<S>),
  op: (s: S) => T,
): Promise<AllocationReport<S, T>> {
  const build = typeof start === "function" ? start : undefined;
  let stage = build ? await build() : (start as S);
  const initial = build ? kernelState(stage.k) : undefined;
  const enomem: number[] = [];
  const fallbacks: number[] = [];
  for (let n = 1; n < 100_000; n++) {
    const before = kernelState(stage.k);
    stage.k.injectAllocFailure(n);
    let result: T;
    try {
      result = op(stage);
    } catch (e) {
      stage.k.injectAllocFailure(null);
      if (!(e instanceof KernelError) || e.code !== "ENOMEM") throw e;
      expectSameState(kernelState(stage.k), before, `${label}, allocation ${n} failing`);
      enomem.push(n);
      continue;
    }
    const reached = failureWasReached(stage.k);
    stage.k.injectAllocFailure(null);
    if (!reached) return { stage, result, points: n - 1, enomem, fallbacks };
    fallbacks.push(n);
    if (!build) expect.fail(`${label}: allocation ${n} failed but the operation succeeded (a fallback); give a builder so the points after it are failed too`);
    stage = await build();
    expectSameState(kernelState(stage.k), initial!, `${label}: the stage built again`);
  }
  throw new Error(`${label}: still allocating after 100000 allocations`);
}

/** Every allocation point failed with ENOMEM: the operation has no fallback path. */
export function expectEnomemAtEveryPoint(r: { points: number; enomem: number[]; fallbacks: number[] }): void {
  expect(r.fallbacks, "allocation points a fallback absorbed").toEqual([]);
  expect(r.enomem).toEqual(Array.from({ length: r.points }, (_, i) => i + 1));
}
