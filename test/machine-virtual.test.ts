// readVirtual / writeVirtual: translate every page first, then access; correct across page
// boundaries and the wrap of the linear address space; a fault on a later page leaves the
// earlier pages' bytes untouched and is reported at the first byte of the faulting page.
import { describe, expect, it } from "vitest";
import { MODES, P, RW, US, pagedMachine, reloadCr3, type Mode } from "./paging.js";

const VA: Record<Mode, bigint> = {
  "32-bit": 0x4020_3000n,
  pae: 0x8060_5000n,
  "4-level": 0x0000_5a12_3456_7000n,
  "5-level": 0x00ab_5a12_3456_7000n,
};
const F1 = 0x0033_0000n; // frame of the first page
const F2 = 0x0032_1000n; // frame of the second page: below the first, not adjacent
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe.each(MODES)("virtual access in %s paging", (mode) => {
  it("a write and a read across a page boundary land in both frames", async () => {
    const { m, pt } = await pagedMachine(mode);
    pt.map(VA[mode], F1, P | RW | US);
    pt.map(VA[mode] + 0x1000n, F2, P | RW | US);
    reloadCr3(m);
    const data = bytes(24);
    expect(m.writeVirtual(VA[mode] + 0xff0n, data, { user: true })).toBeNull();
    expect(m.readPhysical(F1 + 0xff0n, 16)).toEqual(data.subarray(0, 16));
    expect(m.readPhysical(F2, 8)).toEqual(data.subarray(16));
    expect(m.readVirtual(VA[mode] + 0xff0n, 24, { user: true })).toEqual(data);
    expect(m.readVirtual(VA[mode] + 0xff0n, 0)).toEqual(new Uint8Array(0));
  });

  it("a longer run over three pages, the middle one in full", async () => {
    const { m, pt } = await pagedMachine(mode);
    const frames = [F1, F2, 0x0031_7000n];
    frames.forEach((f, i) => pt.map(VA[mode] + BigInt(i) * 0x1000n, f, P | RW));
    reloadCr3(m);
    const data = bytes(4096 + 200, 3);
    expect(m.writeVirtual(VA[mode] + 0xf9cn, data)).toBeNull();
    expect(m.readPhysical(F1 + 0xf9cn, 100)).toEqual(data.subarray(0, 100));
    expect(m.readPhysical(F2, 4096)).toEqual(data.subarray(100, 4196));
    expect(m.readPhysical(frames[2]!, 100)).toEqual(data.subarray(4196));
    expect(m.readVirtual(VA[mode] + 0xf9cn, data.length)).toEqual(data);
  });

  it("second page not present: fault at its first byte, nothing written to the first", async () => {
    const { m, pt } = await pagedMachine(mode);
    pt.map(VA[mode], F1, P | RW | US);
    reloadCr3(m);
    const before = m.readPhysical(F1, 4096);
    const r = m.writeVirtual(VA[mode] + 0xffcn, bytes(8), { user: true });
    expect(r).toMatchObject({ fault: "page", errorCode: 0b110, address: VA[mode] + 0x1000n });
    expect(m.readPhysical(F1, 4096)).toEqual(before);
    expect(m.readVirtual(VA[mode] + 0xffcn, 8)).toMatchObject({ fault: "page", errorCode: 0, address: VA[mode] + 0x1000n });
  });

  it("second page read-only for a user write (and for a supervisor write with CR0.WP = 1): nothing written", async () => {
    const { m, pt } = await pagedMachine(mode, { wp: true });
    pt.map(VA[mode], F1, P | RW | US);
    pt.map(VA[mode] + 0x1000n, F2, P | US);
    reloadCr3(m);
    const b1 = m.readPhysical(F1, 4096), b2 = m.readPhysical(F2, 4096);
    expect(m.writeVirtual(VA[mode] + 0xff8n, bytes(16), { user: true }))
      .toMatchObject({ fault: "page", errorCode: 0b111, address: VA[mode] + 0x1000n });
    expect(m.writeVirtual(VA[mode] + 0xff8n, bytes(16))).toMatchObject({ fault: "page", errorCode: 0b011 });
    expect(m.readPhysical(F1, 4096)).toEqual(b1);
    expect(m.readPhysical(F2, 4096)).toEqual(b2);
    // reads of both pages are allowed
    expect(m.readVirtual(VA[mode] + 0xff8n, 16, { user: true })).toBeInstanceOf(Uint8Array);
  });

  it("first page faulting: reported at the starting address", async () => {
    const { m, pt } = await pagedMachine(mode);
    pt.map(VA[mode] + 0x1000n, F2, P | RW);
    reloadCr3(m);
    expect(m.readVirtual(VA[mode] + 0xffdn, 6, { user: true })).toMatchObject({ fault: "page", errorCode: 0b100, address: VA[mode] + 0xffdn });
  });
});

describe("the linear address wraps where the mode's address space ends", () => {
  it.each(["32-bit", "pae"] as const)("%s: 0xfffffffc + 8 bytes continues at 0", async (mode) => {
    const { m, pt } = await pagedMachine(mode);
    pt.map(0xffff_f000n, F1, P | RW);
    pt.map(0n, F2, P | RW);
    reloadCr3(m);
    const data = bytes(8, 9);
    expect(m.writeVirtual(0xffff_fffcn, data)).toBeNull();
    expect(m.readPhysical(F1 + 0xffcn, 4)).toEqual(data.subarray(0, 4));
    expect(m.readPhysical(F2, 4)).toEqual(data.subarray(4));
    expect(m.readVirtual(0xffff_fffcn, 8)).toEqual(data);
  });

  it("4-level: a run over the top of the lower canonical half is a #GP at 2^47, nothing written", async () => {
    const { m, pt } = await pagedMachine("4-level");
    pt.map(0x7fff_ffff_f000n, F1, P | RW);
    reloadCr3(m);
    const before = m.readPhysical(F1, 4096);
    expect(m.writeVirtual(0x7fff_ffff_fffcn, bytes(8))).toMatchObject({ fault: "gp", address: 1n << 47n });
    expect(m.readPhysical(F1, 4096)).toEqual(before);
  });

  it("4-level: a run from the top page of the address space wraps to 0", async () => {
    const { m, pt } = await pagedMachine("4-level");
    pt.map(0xffff_ffff_ffff_f000n, F1, P | RW);
    pt.map(0n, F2, P | RW);
    reloadCr3(m);
    const data = bytes(8, 5);
    expect(m.writeVirtual(0xffff_ffff_ffff_fffcn, data)).toBeNull();
    expect(m.readVirtual(0xffff_ffff_ffff_fffcn, 8)).toEqual(data);
    expect(m.readPhysical(F2, 4)).toEqual(data.subarray(4));
  });
});
