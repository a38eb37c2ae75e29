// Accessed and Dirty flags (SDM Vol. 3A 4.8) and the walk counters, per paging mode.
// The walk sets A in every paging-structure entry it uses and D in the entry that maps the page
// on a write; this product's contract adds: nothing is written when the access faults, and a
// probe writes nothing and counts nothing. Counters are checked exactly on crafted sequences;
// CR3 is rewritten before each translation (which flushes any TLB or paging-structure cache,
// PCIDE = 0 and no global pages) so that every translation below is a full walk.
import { describe, expect, it } from "vitest";
import type { Machine, MachineStats } from "../src/index.js";
import { A, D, MODES, P, RW, US, pagedMachine, reloadCr3, type Mode, type PageTables } from "./paging.js";

const VA: Record<Mode, bigint> = {
  "32-bit": 0x4020_3000n,
  pae: 0x8060_5000n,
  "4-level": 0x0000_5a12_3456_7000n,
  "5-level": 0x00ab_5a12_3456_7000n,
};
const counters = (s: MachineStats) => ({
  walks: s.walks, walkMemRefs: s.walkMemRefs, accessedWrites: s.accessedWrites,
  dirtyWrites: s.dirtyWrites, pageFaults: s.pageFaults, gpFaults: s.gpFaults,
});
type Counters = ReturnType<typeof counters>;
/** Entries at the addresses of a path, by level (PAE's PDPTE included at level 3). */
const entriesOf = (pt: PageTables, path: bigint[]) => path.map((at) => pt.read(at));

function translateFlushed(m: Machine, va: bigint, access: Parameters<Machine["translate"]>[1] = {}) {
  reloadCr3(m);
  return m.translate(va, access);
}

describe.each(MODES)("A/D flags in %s paging", (mode) => {
  const leafLevels = mode === "32-bit" || mode === "pae" ? [1, 2] : [1, 2, 3];

  it.each(leafLevels)("leaf at level %i: a read sets A at every level used, D nowhere", async (leafLevel) => {
    const { m, pt } = await pagedMachine(mode, { pse: true });
    const path = pt.map(VA[mode] & ~((1n << 30n) - 1n), 0x4000_0000n, P | RW | US, leafLevel);
    const before = entriesOf(pt, path);
    expect(translateFlushed(m, VA[mode] & ~((1n << 30n) - 1n)).fault).toBeUndefined();
    const after = entriesOf(pt, path);
    path.forEach((_, level) => {
      // PAE's PDPTE is a register loaded at MOV CR3: bits 8:5 are reserved there, never set
      const used = !(mode === "pae" && level === 3);
      expect(after[level], `level ${level}`).toBe(used ? before[level]! | A : before[level]);
    });
  });

  it.each(leafLevels)("leaf at level %i: a write sets D in the leaf only", async (leafLevel) => {
    const { m, pt } = await pagedMachine(mode, { pse: true });
    const va = VA[mode] & ~((1n << 30n) - 1n);
    const path = pt.map(va, 0x4000_0000n, P | RW | US, leafLevel);
    const before = entriesOf(pt, path);
    expect(translateFlushed(m, va + 0x18n, { write: true }).fault).toBeUndefined();
    const after = entriesOf(pt, path);
    path.forEach((_, level) => {
      const used = !(mode === "pae" && level === 3);
      const want = !used ? before[level] : level === leafLevel ? before[level]! | A | D : before[level]! | A;
      expect(after[level], `level ${level}`).toBe(want);
    });
  });

  it("a faulting access writes nothing (not present, protection, reserved bit)", async () => {
    const { m, pt } = await pagedMachine(mode, { wp: true, nxe: true });
    const va = VA[mode];
    const path = pt.map(va, 0x0031_5000n, P | US); // read-only leaf
    const snapshot = m.ram.slice();
    const unchanged = () => {
      const diff: number[] = [];
      for (let i = 0; i < snapshot.length; i++) if (m.ram[i] !== snapshot[i]) diff.push(i);
      return diff;
    };
    expect(translateFlushed(m, va, { write: true })).toMatchObject({ fault: "page", errorCode: 0b11 });
    expect(translateFlushed(m, va, { user: true, write: true })).toMatchObject({ fault: "page", errorCode: 0b111 });
    expect(unchanged()).toEqual([]);
    // not present at the leaf: the upper levels, read on the way, keep A = 0
    pt.write(path[1]!, 0x0031_5000n | RW | US);
    snapshot.set(m.ram);
    expect(translateFlushed(m, va)).toMatchObject({ fault: "page", errorCode: 0 });
    expect(unchanged()).toEqual([]);
    // a reserved bit in the leaf (bit 51 in 4/5-level with MAXPHYADDR 46; PSE-less 32-bit has none)
    if (mode !== "32-bit") {
      pt.write(path[1]!, 0x0031_5000n | P | RW | US | (1n << 51n));
      snapshot.set(m.ram);
      expect(translateFlushed(m, va)).toMatchObject({ fault: "page", errorCode: 0b1001 });
      expect(unchanged()).toEqual([]);
    }
  });

  it("probe: true writes no flag and counts nothing, allowed or not", async () => {
    const { m, pt } = await pagedMachine(mode, { wp: true });
    const va = VA[mode];
    const path = pt.map(va, 0x0031_5000n, P | RW | US);
    reloadCr3(m);
    m.resetStats();
    const before = entriesOf(pt, path);
    expect(m.translate(va, { probe: true, write: true })).toMatchObject({ pa: 0x0031_5000n });
    expect(m.translate(va + 0x1000n, { probe: true })).toMatchObject({ fault: "page" });
    if (mode === "4-level") expect(m.translate(1n << 47n, { probe: true })).toMatchObject({ fault: "gp" });
    expect(entriesOf(pt, path)).toEqual(before);
    expect(counters(m.stats())).toEqual({ walks: 0, walkMemRefs: 0, accessedWrites: 0, dirtyWrites: 0, pageFaults: 0, gpFaults: 0 });
  });

  it("stats() counts exactly on a crafted sequence", async () => {
    const { m, pt } = await pagedMachine(mode, { wp: true });
    const L = pt.geo.levels; // entries read from memory by a 4 KiB walk
    const va = VA[mode];
    pt.map(va, 0x0031_5000n, P | RW | US); // A = 0 and D = 0 everywhere
    pt.map(va + 0x1000n, 0x0031_6000n, P | US); // read-only neighbour in the same page table
    m.resetStats();
    const want: Counters = { walks: 0, walkMemRefs: 0, accessedWrites: 0, dirtyWrites: 0, pageFaults: 0, gpFaults: 0 };
    const step = (access: Parameters<Machine["translate"]>[1], v: bigint, delta: Partial<Counters>) => {
      translateFlushed(m, v, access);
      for (const [k, n] of Object.entries(delta)) want[k as keyof Counters] += n;
      expect(counters(m.stats()), JSON.stringify({ v: v.toString(16), access, delta })).toEqual(want);
    };
    step({}, va, { walks: 1, walkMemRefs: L, accessedWrites: L }); //             first use: A at every level
    step({}, va, { walks: 1, walkMemRefs: L }); //                                 A already set
    step({ write: true }, va, { walks: 1, walkMemRefs: L, dirtyWrites: 1 }); //    D in the leaf
    step({ write: true }, va + 8n, { walks: 1, walkMemRefs: L }); //               D already set
    step({}, va + 0x1000n, { walks: 1, walkMemRefs: L, accessedWrites: 1 }); //    only its PTE lacked A
    step({ write: true }, va + 0x1000n, { walks: 1, walkMemRefs: L, pageFaults: 1 }); // WP: a fault
    step({}, va + 0x2000n, { walks: 1, walkMemRefs: L, pageFaults: 1 }); //        PTE not present
    step({ user: true, write: true }, va, { walks: 1, walkMemRefs: L }); //        user write allowed
    if (mode === "4-level" || mode === "5-level") {
      step({}, 0x8000_0000_0000_0000n, { gpFaults: 1 }); //                       non-canonical: no walk
    }
    // a not-present entry at the top level ends the walk after one read
    const other = mode === "32-bit" || mode === "pae" ? 0x0040_0000n : 0x0000_0080_0000_0000n << (mode === "5-level" ? 9n : 0n);
    if (mode === "pae") {
      step({}, 0xc000_0000n, { walks: 1, walkMemRefs: 0, pageFaults: 1 }); //      PDPTE register not present
    } else {
      step({}, other, { walks: 1, walkMemRefs: 1, pageFaults: 1 });
    }
    m.resetStats();
    expect(counters(m.stats())).toEqual({ walks: 0, walkMemRefs: 0, accessedWrites: 0, dirtyWrites: 0, pageFaults: 0, gpFaults: 0 });
  });
});
