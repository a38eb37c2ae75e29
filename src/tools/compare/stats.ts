// Intervals for the compare figures: a percentile bootstrap over timing rounds. A round is one
// fresh process that built every row of a workload anew and timed it; its figure for a row is
// the median of that round's samples. A row's time is the median of its round figures; its 95%
// interval is the 2.5th..97.5th percentile of that median over resamples of the rounds. A ratio
// to the reference design resamples the same round indices for both rows (they ran in the same
// process, one after the other). The resampling is seeded, so a report gives the same
// intervals every time it is read.
import { median } from "./report.js";

/** Resamples per interval. */
export const BOOTSTRAP_RESAMPLES = 2000;
/** What the report says about its intervals. */
export const INTERVAL_METHOD =
  `95% percentile bootstrap (${BOOTSTRAP_RESAMPLES} resamples, fixed seed) of the median over rounds; each round a fresh process, its figure the median of its samples; ratios resample both rows' rounds together`;

export type Interval = [low: number, high: number];

/** mulberry32: a small, fixed-seed PRNG in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The q-quantile (0..1) of sorted values, linearly interpolated. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError("quantile of no values");
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** Bootstrap of statistic(indices) over n rounds; null with fewer than 2 rounds (no interval). */
function bootstrap(n: number, statistic: (idx: Int32Array) => number): Interval | null {
  if (n < 2) return null;
  const next = prng(0x5eed + n);
  const idx = new Int32Array(n);
  const stats: number[] = [];
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    for (let i = 0; i < n; i++) idx[i] = Math.floor(next() * n);
    stats.push(statistic(idx));
  }
  stats.sort((x, y) => x - y);
  return [quantile(stats, 0.025), quantile(stats, 0.975)];
}

const pick = (values: readonly number[], idx: Int32Array) => Array.from(idx, (i) => values[i]!);

/** 95% interval of the median of the round figures. */
export function medianInterval(rounds: readonly number[]): Interval | null {
  return bootstrap(rounds.length, (idx) => median(pick(rounds, idx)));
}

/**
 * a/b with its 95% interval, rounds paired by index (round i of a and of b ran in the same
 * process). Null when the rounds do not pair or b's median is zero.
 */
export function ratioInterval(a: readonly number[], b: readonly number[]): { ratio: number; interval: Interval | null } | null {
  if (a.length === 0 || a.length !== b.length || median(b) === 0) return null;
  const interval = bootstrap(a.length, (idx) => {
    const d = median(pick(b, idx));
    return d === 0 ? Infinity : median(pick(a, idx)) / d;
  });
  return { ratio: median(a) / median(b), interval };
}

/** No measurable difference: the interval holds 1. */
export function holdsOne(interval: Interval | null): boolean {
  return interval !== null && interval[0] <= 1 && interval[1] >= 1;
}
