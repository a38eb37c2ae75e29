// Shrinks a failing case: drops steps (delta debugging, halves then single steps), drops
// register fields, clears access bits and entry bits one at a time, keeping each change only if
// the same kind of mismatch remains.

import { runCase, type Case, type Mismatch, type RunOptions, type Step } from "./differential.js";

/** The kind of a mismatch, without the addresses and values that shrinking changes. */
export function kindOf(m: Mismatch): string {
  return m.what.replace(/ at .*$/, "").replace(/0x[0-9a-f]+/g, "");
}

export async function minimize(c: Case, opts: RunOptions = {}, budgetMs = 30_000): Promise<{ case: Case; mismatch: Mismatch }> {
  const first = await runCase(c, opts);
  if (!first) throw new Error("minimize: the case does not fail");
  const kind = kindOf(first);
  const deadline = Date.now() + budgetMs;
  let best = c;
  let bestMismatch = first;
  const tryCase = async (cand: Case): Promise<boolean> => {
    if (Date.now() > deadline) return false;
    const mm = await runCase(cand, opts);
    if (mm && kindOf(mm) === kind) {
      best = cand;
      bestMismatch = mm;
      return true;
    }
    return false;
  };

  // Steps after the failing one never matter.
  await tryCase({ ...best, steps: best.steps.slice(0, bestMismatch.step + 1) });
  // Remove chunks, largest first.
  for (let size = Math.max(1, best.steps.length >> 1); size >= 1; size >>= 1) {
    for (let at = 0; at < best.steps.length; ) {
      const steps = [...best.steps.slice(0, at), ...best.steps.slice(at + size)];
      if (steps.length && (await tryCase({ ...best, steps }))) continue;
      at += size;
    }
  }
  // Simplify what is left, step by step.
  for (let i = 0; i < best.steps.length; i++) {
    let changed = true;
    while (changed && Date.now() < deadline) {
      changed = false;
      for (const simpler of simplifications(best.steps[i]!)) {
        const steps = best.steps.slice();
        steps[i] = simpler;
        if (await tryCase({ ...best, steps })) {
          changed = true;
          break;
        }
      }
    }
  }
  if (best.ramBytes !== 1 << 20) {
    const small = { ...best, ramBytes: 1 << 20 };
    if (best.steps.every((s) => s.op !== "poke" || BigInt(s.pa) + 8n <= BigInt(1 << 20))) await tryCase(small);
  }
  return { case: best, mismatch: bestMismatch };
}

/** Candidate simplifications of one step, each a little simpler than the step. */
function* simplifications(s: Step): Generator<Step> {
  if (s.op === "regs") {
    for (const k of Object.keys(s.values)) {
      const values = { ...s.values };
      delete values[k as keyof typeof values];
      yield { ...s, values };
    }
    for (const [k, hex] of Object.entries(s.values)) {
      const v = BigInt(hex);
      for (let b = 0; b < 64; b++) {
        if ((v >> BigInt(b)) & 1n) yield { ...s, values: { ...s.values, [k]: "0x" + (v & ~(1n << BigInt(b))).toString(16) } };
      }
    }
  } else if (s.op === "translate") {
    for (let b = 0; b < 5; b++) if (s.access & (1 << b)) yield { ...s, access: s.access & ~(1 << b) };
  } else if (s.op === "cr3") {
    const v = BigInt(s.value);
    for (let b = 0; b < 64; b++) if ((v >> BigInt(b)) & 1n) yield { ...s, value: "0x" + (v & ~(1n << BigInt(b))).toString(16) };
  } else if (s.op === "invpcid") {
    if (s.pcid !== 0) yield { ...s, pcid: 0 };
    if (BigInt(s.va) !== 0n) yield { ...s, va: "0x0" };
  } else if (s.op === "poke") {
    const v = BigInt(s.value);
    for (let b = 0; b < s.size * 8; b++) {
      if ((v >> BigInt(b)) & 1n) yield { ...s, value: "0x" + (v & ~(1n << BigInt(b))).toString(16) };
    }
  }
}
