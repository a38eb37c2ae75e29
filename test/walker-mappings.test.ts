// mappings() and ranges() on crafted tables, per mode: every present leaf with valid entries
// on its path, in ascending linear-address order, at its own granularity (QEMU `info tlb`);
// ranges merge contiguous runs with equal user/write rights (QEMU `info mem`). Expected lists
// are written out from the tables, not taken from the walker.
import { describe, expect, it } from "vitest";
import { MODES, P, PS, RW, US, XD, pagedMachine, reloadCr3, type Mode } from "./paging.js";

interface Want {
  va: bigint;
  pa: bigint;
  size: number;
  user: boolean;
  write: boolean;
  execute: boolean;
}
const KIB4 = 4096, MIB2 = 2 << 20, MIB4 = 4 << 20, GIB = 1 << 30;

describe.each(MODES)("mappings() in %s paging", (mode) => {
  it("lists the present, valid leaves in ascending order with their sizes and rights", async () => {
    const ia32e = mode === "4-level" || mode === "5-level";
    const { m, pt } = await pagedMachine(mode, { pse: true, nxe: mode !== "32-bit" });
    const want: Want[] = [];
    const add = (va: bigint, pa: bigint, size: number, flags: bigint, level = 1, upper = P | RW | US) => {
      pt.map(va, pa, flags, level, upper);
      const user = (flags & US) !== 0n && (upper & US) !== 0n;
      const write = (flags & RW) !== 0n && (upper & RW) !== 0n;
      const execute = mode === "32-bit" || ((flags | upper) & XD) === 0n;
      // a canonical upper-half address is listed sign-extended
      want.push({ va, pa, size, user, write, execute });
    };
    const high = mode === "5-level" ? 0xff00_0000_0000_0000n : mode === "4-level" ? 0xffff_8000_0000_0000n : 0xc000_0000n;
    // Inserted out of order on purpose.
    if (mode === "32-bit") add(high + 0x40_0000n, 0x0080_0000n, MIB4, P | RW, 2);
    else add(high + 0x20_0000n, 0x0020_0000n, MIB2, P | RW, 2);
    add(0x0040_1000n, 0x0031_2000n, KIB4, P | US);
    add(0x0040_0000n, 0x0031_1000n, KIB4, P | RW | US);
    add(0x0040_2000n, 0x0031_3000n, KIB4, P | RW | US | (mode === "32-bit" ? 0n : XD));
    if (ia32e) add(0x40_0000_0000n, 0x1_0000_0000n, GIB, P | US, 3, P | RW | US);
    want.sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
    // Entries that map nothing: a not-present PTE, a PDE with a reserved bit (a walk faults).
    pt.map(0x0040_3000n, 0x0031_4000n, RW | US); // P = 0
    if (mode !== "32-bit") {
      const at = pt.map(0x0080_0000n, 0x0031_5000n, P | RW | US);
      pt.write(at[2]!, pt.read(at[2]!) | (1n << 51n)); // bit 51: reserved below MAXPHYADDR 52
    }
    reloadCr3(m);
    const got = m.mappings().map(({ va, pa, size, user, write, execute }) => ({ va, pa, size, user, write, execute }));
    expect(got).toEqual(want);
    // Every listed mapping translates to what it says, at its first and last byte.
    for (const w of want) {
      for (const off of [0n, BigInt(w.size - 1)]) {
        expect(m.translate(w.va + off, { probe: true })).toMatchObject({ pa: w.pa + off, pageSize: w.size });
      }
    }
    // info mem: the three 4 KiB pages are rw-user, r-user, rw-user: three ranges.
    expect(m.ranges().filter((r) => r.start >= 0x0040_0000n && r.end <= 0x0040_3000n)).toEqual([
      { start: 0x0040_0000n, end: 0x0040_1000n, user: true, write: true },
      { start: 0x0040_1000n, end: 0x0040_2000n, user: true, write: false },
      { start: 0x0040_2000n, end: 0x0040_3000n, user: true, write: true },
    ]);
  });
});

it("32-bit paging: a 4 MiB page lists its PSE-36 physical address", async () => {
  const { m, pt } = await pagedMachine("32-bit", { pse: true }, { physAddrBits: 40 });
  pt.map(0x8000_0000n, 0x0040_0000n | (0x5an << 13n), P | RW, 2);
  reloadCr3(m);
  expect(m.mappings()).toMatchObject([{ va: 0x8000_0000n, pa: 0x5a_0040_0000n, size: MIB4 }]);
});

it("32-bit paging without CR4.PSE: a PDE's PS bit is ignored, its table's pages are listed", async () => {
  const { m, pt } = await pagedMachine("32-bit", { pse: false });
  const at = pt.map(0x8000_0000n, 0x0031_1000n, P | RW);
  pt.write(at[2]!, pt.read(at[2]!) | PS);
  reloadCr3(m);
  expect(m.mappings()).toMatchObject([{ va: 0x8000_0000n, pa: 0x0031_1000n, size: KIB4 }]);
});
