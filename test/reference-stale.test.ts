// The staleness model of test/reference/stale.ts on hand-written sequences: which answers it
// permits before and after each invalidation, as SDM 4.10.4.1 says, for non-global and global
// translations; a paging-structure-cache entry combining a stale PDE with the PTE now in memory
// (4.10.3); and the same sequences on a Machine with the Skylake TLB and caches, whose answers
// must be among those permitted.
import { describe, expect, it } from "vitest";
import { DEFAULT_PWC, SKYLAKE_TLB } from "../src/index.js";
import { hex, newCoverage, runCase, show, type Step } from "./reference/differential.js";
import { StaleModel } from "./reference/stale.js";
import { RefMachine } from "./reference/walker.js";

const X = 0x40_0000n; // PML4 0, PDPT 0, PD 2, PT 0
const PML4 = 0x1000n, PDPT = 0x2000n, PD = 0x3000n, PT = 0x4000n, PT2 = 0x5000n;
const OLD = 0x10_0000n, NEW = 0x20_0000n, OTHER = 0x30_0000n;
const URW = 7n, G = 0x100n;
const CR4 = 0x20n | 0x80n | 0x20000n; // PAE, PGE, PCIDE

/** Tables mapping X to OLD (with G when global), registers for 4-level paging, PCID 1. */
function setup(global: boolean): Step[] {
  const poke = (pa: bigint, v: bigint): Step => ({ op: "poke", pa: hex(pa), size: 8, value: hex(v) });
  return [
    poke(PML4, PDPT | URW),
    poke(PDPT, PD | URW),
    poke(PD + 2n * 8n, PT | URW),
    poke(PT, OLD | URW | (global ? G : 0n)),
    poke(PT2, OTHER | URW),
    { op: "regs", values: { cr0: hex(0x80010011n), cr4: hex(CR4), efer: hex(0x100n), cr3: hex(PML4) } },
    { op: "cr3", value: hex(PML4 | 1n) }, // PCIDE can only be set with PCID 0

  ];
}
const rewrite = (global: boolean): Step => ({ op: "poke", pa: hex(PT), size: 8, value: hex(NEW | URW | (global ? G : 0n)) });
const translate: Step = { op: "translate", va: hex(X), access: 0 };

/** Runs steps on the model alone; returns the physical addresses it permits for X at the end. */
function permittedPas(steps: Step[]): bigint[] {
  const ref = new RefMachine(1 << 22, 46);
  const model = new StaleModel(ref, [X]);
  for (const st of steps) {
    if (st.op === "poke") ref.writePhys(BigInt(st.pa), st.size, BigInt(st.value));
    else if (st.op === "regs" || st.op === "cr3" || st.op === "cr4xor") {
      const before = { ...ref.regs };
      const values =
        st.op === "regs" ? Object.fromEntries(Object.entries(st.values).map(([k, v]) => [k, BigInt(v)])) : st.op === "cr3" ? { cr3: BigInt(st.value) } : { cr4: ref.regs.cr4 ^ BigInt(st.mask) };
      expect(ref.setRegisters(values)).toBeNull();
      model.registersWritten(before, values.cr3);
    } else if (st.op === "invlpg") model.invlpg(BigInt(st.va));
    else if (st.op === "invpcid") model.invpcid(st.type, st.pcid, BigInt(st.va));
    model.observe();
  }
  const pas = model.permitted(X, {}).all.map((r) => ("pa" in r ? r.pa : -1n));
  return [...new Set(pas)].sort((a, b) => Number(a - b));
}

// [invalidation, removes a non-global translation, removes a global one] (SDM 4.10.4.1).
const invalidations: Array<[string, Step[], boolean, boolean]> = [
  ["nothing", [], false, false],
  ["INVLPG X", [{ op: "invlpg", va: hex(X) }], true, true],
  ["INVLPG of another page", [{ op: "invlpg", va: hex(X + 0x1000n) }], false, false],
  ["INVPCID 0 (PCID 1, X)", [{ op: "invpcid", type: 0, pcid: 1, va: hex(X) }], true, false],
  ["INVPCID 0 (PCID 2, X)", [{ op: "invpcid", type: 0, pcid: 2, va: hex(X) }], false, false],
  ["INVPCID 1 (PCID 1)", [{ op: "invpcid", type: 1, pcid: 1, va: "0x0" }], true, false],
  ["INVPCID 1 (PCID 2)", [{ op: "invpcid", type: 1, pcid: 2, va: "0x0" }], false, false],
  ["INVPCID 2", [{ op: "invpcid", type: 2, pcid: 0, va: "0x0" }], true, true],
  ["INVPCID 3", [{ op: "invpcid", type: 3, pcid: 0, va: "0x0" }], true, false],
  ["MOV CR3 (same PCID)", [{ op: "cr3", value: hex(PML4 | 1n) }], true, false],
  ["MOV CR3 with bit 63 (same PCID)", [{ op: "cr3", value: hex(PML4 | 1n | (1n << 63n)) }], false, false],
  ["MOV CR3 to PCID 2 and back with bit 63", [{ op: "cr3", value: hex(PML4 | 2n) }, { op: "cr3", value: hex(PML4 | 1n | (1n << 63n)) }], false, false],
  ["CR4.PGE off and on", [{ op: "cr4xor", mask: "0x80" }, { op: "cr4xor", mask: "0x80" }], true, true],
];

describe.each([false, true])("global = %s", (global) => {
  it.each(invalidations)("after %s", async (_name, inv, removesLocal, removesGlobal) => {
    const steps = [...setup(global), translate, rewrite(global), ...inv];
    const removed = global ? removesGlobal : removesLocal;
    expect(permittedPas(steps)).toEqual(removed ? [NEW] : [OLD, NEW]);
    // The Machine, asked before and after, answers one of the permitted results each time.
    const cov = newCoverage();
    const mm = await runCase({ ramBytes: 1 << 22, physAddrBits: 46, machine: { tlb: SKYLAKE_TLB, pwc: DEFAULT_PWC }, steps: [...setup(global), translate, rewrite(global), translate, ...inv, translate] }, { coverage: cov });
    expect(mm && show(mm)).toBeNull();
  });
});

it("a PDE-cache entry combines the stale PDE with the PTE now in memory (SDM 4.10.3)", () => {
  const repoint: Step = { op: "poke", pa: hex(PD + 2n * 8n), size: 8, value: hex(PT2 | URW) };
  // X's PDE now points at PT2 (OTHER) and the old PT's entry at NEW: OLD from the TLB, OTHER
  // from a fresh walk, NEW from the cached PDE (still PT) and the current PTE.
  expect(permittedPas([...setup(false), translate, repoint, rewrite(false)])).toEqual([OLD, NEW, OTHER]);
  expect(permittedPas([...setup(false), translate, repoint, rewrite(false), { op: "invlpg", va: hex(X) }])).toEqual([OTHER]);
});

it("the Skylake TLB answers from the stale entry until INVLPG (a stale answer is seen)", async () => {
  const cov = newCoverage();
  const steps = [...setup(false), translate, rewrite(false), translate, { op: "invlpg", va: hex(X) } as Step, translate];
  expect(await runCase({ ramBytes: 1 << 22, physAddrBits: 46, machine: { tlb: SKYLAKE_TLB, pwc: DEFAULT_PWC }, steps }, { coverage: cov })).toBeNull();
  expect(cov.stale).toBe(1);
  expect(cov.ok[4096]).toBe(3);
});
