// Page sizes, reserved bits, canonical addresses and tables outside RAM, per paging mode.
// Expectations from the Intel SDM Vol. 3A: entry formats (Tables 4-4 .. 4-20), reserved bits
// and RSVD faults (4.7), canonicality (3.3.7.1, 4.5).
import { describe, expect, it } from "vitest";
import type { Machine, PageFault, Translation } from "../src/index.js";
import { A, D, MODES, P, PS, PageTables, RW, US, XD, pagedMachine, reloadCr3, type Mode } from "./paging.js";

const PAT_LARGE = 1n << 12n; // PAT bit of a large-page entry: not an address bit
const PAT_4K = 1n << 7n; //     PAT bit of a 4 KiB PTE (the PS position)

function ok(r: ReturnType<Machine["translate"]>): Translation {
  if (r.fault) throw new Error(`expected a translation, got ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))}`);
  return r;
}
function pf(r: ReturnType<Machine["translate"]>): PageFault {
  if (r.fault !== "page") throw new Error(`expected a page fault, got ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))}`);
  return r;
}
/** Offsets of RAM bytes that differ from a snapshot (vitest's deep equality is slow on MiBs). */
function changedBytes(m: Machine, snapshot: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < snapshot.length; i++) if (m.ram[i] !== snapshot[i]) out.push(i);
  return out;
}
const ia32e = (mode: Mode) => mode === "4-level" || mode === "5-level";
/** A linear address with a distinct index at every level of every mode. */
const VA: Record<Mode, bigint> = {
  "32-bit": 0x4020_3000n,
  pae: 0x8060_5000n,
  "4-level": 0x0000_5a12_3456_7000n,
  "5-level": 0x00ab_5a12_3456_7000n,
};

describe.each(MODES)("page sizes in %s paging", (mode) => {
  it("4 KiB: pa = frame + offset, one entry read per level", async () => {
    const { m, pt } = await pagedMachine(mode);
    pt.map(VA[mode], 0x0031_5000n, P | RW);
    reloadCr3(m);
    const t = ok(m.translate(VA[mode] + 0xabcn));
    expect(t).toMatchObject({ pa: 0x0031_5abcn, pageSize: 4096, level: 1, memRefs: pt.geo.levels });
  });

  it("a 4 KiB PTE's bit 7 is PAT, not a page size", async () => {
    const { m, pt } = await pagedMachine(mode, { pse: true });
    pt.map(VA[mode], 0x0031_5000n, P | RW | PAT_4K);
    reloadCr3(m);
    expect(ok(m.translate(VA[mode] + 0x10n))).toMatchObject({ pa: 0x0031_5010n, pageSize: 4096, level: 1 });
  });

  // [name, leaf level, frame, offset in the page, top reserved alignment bit]
  const large = [
    ["2 MiB: a PDE with PS", 2, 0xc000_0000n, 0x1a_bcden, 20n],
    ["1 GiB: a PDPTE with PS", 3, 0x3_4000_0000n, 0x2345_6789n, 29n],
  ] as const;
  for (const [name, level, frame, offset, topRsvd] of large) {
    if (mode === "32-bit" || (level === 3 && !ia32e(mode))) continue;
    it(`${name} maps the page; bit 12 is PAT, not address; bits ${topRsvd}:13 are reserved`, async () => {
      const { m, pt } = await pagedMachine(mode);
      const va = VA[mode] & ~((1n << (topRsvd + 1n)) - 1n);
      const at = pt.map(va, frame | PAT_LARGE, P | RW, level);
      reloadCr3(m);
      const t = ok(m.translate(va + offset));
      expect(t).toMatchObject({ pa: frame + offset, pageSize: 2 ** Number(topRsvd + 1n), level, memRefs: pt.geo.levels + 1 - level });
      for (let b = 13n; b <= topRsvd; b++) {
        pt.write(at[level]!, frame | P | RW | PS | (1n << b));
        reloadCr3(m);
        expect(pf(m.translate(va)), `bit ${b}`).toMatchObject({ errorCode: 0b1001, level });
      }
    });
  }

  if (ia32e(mode)) {
    it("PS is reserved in a PML4E and a PML5E", async () => {
      const { m, pt } = await pagedMachine(mode);
      const at = pt.map(VA[mode], 0x0031_5000n, P | RW);
      for (let level = 4; level <= pt.geo.levels; level++) {
        const e = pt.read(at[level]!);
        pt.write(at[level]!, e | PS);
        reloadCr3(m);
        expect(pf(m.translate(VA[mode], { user: true })), `level ${level}`).toMatchObject({ errorCode: 0b1101, level });
        pt.write(at[level]!, e);
      }
    });
  }
});

describe("32-bit paging: 4 MiB pages (CR4.PSE) and PSE-36", () => {
  const va = 0x8040_0000n;
  const base = 0x0840_0000n;

  it.each([
    // [MAXPHYADDR, high bits written in 20:13, physical bits 39:32 they give, first reserved bit]
    [32, 0n, 0n, 13n],
    [36, 0xan, 0xan, 17n],
    [40, 0xabn, 0xabn, 21n],
    [46, 0xabn, 0xabn, 21n], // PSE-36 is limited to 40 physical-address bits
    [52, 0xabn, 0xabn, 21n],
  ])("MAXPHYADDR %i: bits 20:13 give pa bits (M-1):32, bits 21:(M-19) are reserved", async (bits, high, pahigh, firstRsvd) => {
    const { m, pt } = await pagedMachine("32-bit", { pse: true }, { physAddrBits: bits });
    const at = pt.map(va, base | (high << 13n), P | RW | US, 2);
    reloadCr3(m);
    expect(ok(m.translate(va + 0x3a_bcden))).toMatchObject({
      pa: (pahigh << 32n) | base | 0x3a_bcden, pageSize: 4 << 20, level: 2, memRefs: 1,
    });
    for (let b = firstRsvd; b <= 21n; b++) {
      pt.write(at[2]!, base | P | RW | US | PS | (1n << b));
      reloadCr3(m);
      expect(pf(m.translate(va, { write: true })), `bit ${b}`).toMatchObject({ errorCode: 0b1011, level: 2 });
    }
    // Bit 12 is PAT, not part of the address.
    pt.write(at[2]!, base | P | RW | US | PS | PAT_LARGE);
    reloadCr3(m);
    expect(ok(m.translate(va))).toMatchObject({ pa: base });
  });

  it("with CR4.PSE = 0 the PS bit of a PDE is ignored: the PDE references a page table", async () => {
    const { m, pt } = await pagedMachine("32-bit", { pse: false });
    const at = pt.map(va, 0x0031_5000n, P | RW);
    pt.write(at[2]!, pt.read(at[2]!) | PS);
    reloadCr3(m);
    expect(ok(m.translate(va + 0x44n))).toMatchObject({ pa: 0x0031_5044n, pageSize: 4096, level: 1, memRefs: 2 });
    // and the same PDE with PSE = 1 maps a 4 MiB page at its bits 31:22
    expect(m.setRegisters({ cr4: m.registers().cr4 | 0x10n })).toBeNull();
    // (its bits 20:13, here from the table address, are PSE-36 physical-address bits 39:32)
    const pde = pt.read(at[2]!);
    const pa = (pde & 0xffc0_0000n) | (((pde >> 13n) & 0xffn) << 32n);
    expect(ok(m.translate(va + 0x44n))).toMatchObject({ pa: pa + 0x44n, pageSize: 4 << 20 });
  });
});

describe.each([32, 36, 46, 52])("reserved bits with MAXPHYADDR %i", (M) => {
  for (const mode of MODES) {
    it(`${mode}: bits 51:M (IA-32e) / 62:M (PAE) / XD without NXE fault with RSVD at the level that sets them`, async () => {
      for (const nxe of [false, true]) {
        const { m, pt } = await pagedMachine(mode, { nxe }, { physAddrBits: M });
        const va = VA[mode];
        const at = pt.map(va, 0x0031_5000n, P | RW | US);
        reloadCr3(m);
        const failures: string[] = [];
        for (let level = pt.geo.levels; level >= 1; level--) {
          const e = pt.read(at[level]!);
          for (let b = 9n; b < (mode === "32-bit" ? 32n : 64n); b++) {
            if (b >= 12n && b < BigInt(Math.min(M, 52)) && (mode !== "32-bit" || b < 32n)) continue; // address bits
            if (mode === "32-bit" && b >= 12n) continue; // 32-bit 4 KiB PTEs/PDEs: all of 31:12 is address
            let reserved: boolean;
            if (mode === "32-bit") reserved = false; // no reserved bits in these entries
            else if (b === 63n) reserved = !nxe;
            else if (mode === "pae") reserved = b >= BigInt(M) && b <= 62n;
            else reserved = b >= BigInt(M) && b <= 51n; // 62:52 are ignored in IA-32e entries
            pt.write(at[level]!, e | (1n << b));
            reloadCr3(m);
            const r = m.translate(va + 8n, { user: true });
            const got = r.fault ? `#PF ${(r as PageFault).errorCode}@${(r as PageFault).level}` : "ok";
            const want = reserved ? `#PF ${0b1101}@${level}` : "ok";
            if (got !== want) failures.push(`nxe=${nxe} level ${level} bit ${b}: got ${got}, want ${want}`);
            pt.write(at[level]!, e);
          }
        }
        expect(failures).toEqual([]);
      }
    });
  }

  it("the highest address bit below MAXPHYADDR is an address bit (4-level leaf)", async () => {
    const { m, pt } = await pagedMachine("4-level", {}, { physAddrBits: M });
    const frame = (1n << BigInt(M - 1)) | 0x5000n;
    pt.map(VA["4-level"], frame, P | RW);
    reloadCr3(m);
    expect(ok(m.translate(VA["4-level"] + 7n)).pa).toBe(frame + 7n);
  });

  it("PAE: a present PDPTE with bits 2:1, 8:5 or 63:M set makes MOV CR3 #GP and changes nothing", async () => {
    const { m, pt } = await pagedMachine("pae", { nxe: true }, { physAddrBits: M });
    const va = VA.pae;
    const at = pt.map(va, 0x0031_5000n, P | RW);
    reloadCr3(m);
    const before = { regs: m.registers(), t: m.translate(va, { probe: true }) };
    const good = pt.read(at[3]!);
    const rsvd = [1n, 2n, 5n, 6n, 7n, 8n, ...Array.from({ length: 64 - M }, (_, i) => BigInt(M + i))];
    for (const b of rsvd) {
      pt.write(at[3]!, good | (1n << b));
      const gp = m.setRegisters({ cr3: pt.root });
      expect(gp, `bit ${b}`).toMatchObject({ fault: "gp", errorCode: 0 });
      expect(m.registers()).toEqual(before.regs);
      // the PDPTE registers still hold the good entry: translations are unchanged
      expect(m.translate(va, { probe: true })).toEqual(before.t);
    }
    // a not-present PDPTE's other bits are not checked
    pt.write(at[3]!, (good & ~P) | (1n << 63n) | 0x1e6n);
    expect(m.setRegisters({ cr3: pt.root })).toBeNull();
    expect(pf(m.translate(va, { write: true }))).toMatchObject({ errorCode: 0b10, level: 3 });
  });
});

describe("PAE: the PDPTEs are registers, loaded by MOV CR3 (SDM 4.4.1)", () => {
  it("editing the PDPT in RAM changes nothing until CR3 is written again", async () => {
    const { m, pt } = await pagedMachine("pae");
    const va = 0x4000_0000n;
    const at = pt.map(va, 0x0031_5000n, P | RW);
    expect(pf(m.translate(va))).toMatchObject({ errorCode: 0, level: 3 }); // loaded before map()
    reloadCr3(m);
    expect(ok(m.translate(va)).pa).toBe(0x0031_5000n);
    const e = pt.read(at[3]!);
    pt.write(at[3]!, 0n);
    expect(ok(m.translate(va)).pa).toBe(0x0031_5000n);
    reloadCr3(m);
    expect(pf(m.translate(va, { user: true }))).toMatchObject({ errorCode: 0b100, level: 3 });
    pt.write(at[3]!, e);
  });

  it("the PDPT need only be 32-byte aligned (CR3 bits 31:5), and the PDPTE gets no A bit", async () => {
    const { m } = await pagedMachine("pae");
    const pt = new PageTables(m, "pae", 0x20000n, undefined, 0x7fe0n);
    const at = pt.map(0xc000_0000n, 0x0031_5000n, P | RW);
    expect(m.setRegisters(pt.registers())).toBeNull();
    expect(ok(m.translate(0xc000_0123n)).pa).toBe(0x0031_5123n);
    expect(pt.read(at[3]!) & A).toBe(0n);
    expect(pt.read(at[2]!) & A).toBe(A);
  });
});

describe("canonical addresses", () => {
  it.each([
    ["4-level", 0x0000_7fff_ffff_f000n, true],
    ["4-level", 0x0000_8000_0000_0000n, false],
    ["4-level", 0xffff_7fff_ffff_ffffn, false],
    ["4-level", 0xffff_8000_0000_0000n, true],
    ["4-level", 0x00ff_ffff_ffff_f000n, false],
    ["4-level", 0x8000_0000_0000_0000n, false],
    ["5-level", 0x0000_8000_0000_0000n, true],
    ["5-level", 0x00ff_ffff_ffff_f000n, true],
    ["5-level", 0x0100_0000_0000_0000n, false],
    ["5-level", 0xfeff_ffff_ffff_ffffn, false],
    ["5-level", 0xff00_0000_0000_0000n, true],
    ["5-level", 0xffff_8000_0000_0000n, true],
  ] as const)("%s 0x%s: canonical %s (bits 63:47, or 63:56 with LA57, all equal)", async (mode, va, canonical) => {
    const { m, pt } = await pagedMachine(mode);
    pt.map(va & ~0xfffn, 0x0031_5000n, P | RW | US);
    reloadCr3(m);
    for (const access of [{}, { write: true }, { user: true, fetch: true }, { probe: true }]) {
      const r = m.translate(va, access);
      if (canonical) expect(ok(r).pa).toBe(0x0031_5000n | (va & 0xfffn));
      else expect(r).toMatchObject({ fault: "gp", address: va });
    }
  });

  it.each(["off", "32-bit", "pae"] as const)("%s: a linear address of 2^32 or more is a RangeError", async (mode) => {
    const { m } = mode === "off" ? { m: (await pagedMachine("32-bit")).m } : await pagedMachine(mode);
    if (mode === "off") expect(m.setRegisters({ cr0: 0x11n })).toBeNull();
    expect(m.mode).toBe(mode);
    expect(() => m.translate(1n << 32n)).toThrow(RangeError);
    expect(() => m.translate(1n << 32n)).toThrow(/0x100000000/);
    expect(() => m.readVirtual(0xffff_ffffn + 1n, 1)).toThrow(RangeError);
    expect(m.translate(0xffff_ffffn).fault === "gp").toBe(false);
  });
});

describe("tables that point outside RAM read all ones (non-existent memory), no trap", () => {
  const RAM = 4 << 20;
  const beyond = 0x40_0000_0000n; // 256 GiB: above RAM, below every MAXPHYADDR tested

  it("4-level: a PML4E pointing beyond RAM makes the next entry all ones: RSVD fault at level 3", async () => {
    const { m, pt } = await pagedMachine("4-level", { nxe: true });
    const at = pt.map(VA["4-level"], 0x0031_5000n, P | RW);
    pt.write(at[4]!, beyond | P | RW | US);
    reloadCr3(m);
    const snapshot = m.ram.slice();
    expect(pf(m.translate(VA["4-level"], { write: true }))).toMatchObject({ errorCode: 0b1011, level: 3 });
    expect(changedBytes(m, snapshot)).toEqual([]);
  });

  it.each([
    ["32-bit", false, "a 4 KiB leaf at 0xfffff000 (32-bit PTEs have no reserved bits)"],
    ["32-bit", true, "RSVD at level 2 (4 MiB page with reserved bit 21)"],
    ["4-level", false, "RSVD at level 4 (bits 51:46 reserved)"],
    ["5-level", false, "RSVD at level 5 (PS reserved in a PML5E)"],
  ] as const)("%s with CR3 beyond RAM (PSE %s): %s", async (mode, pse, _what) => {
    const { m, pt } = await pagedMachine(mode, { pse });
    const cr3 = mode === "32-bit" ? 0x8000_0000n : beyond;
    expect(m.setRegisters({ cr3 })).toBeNull();
    const snapshot = m.ram.slice();
    const r = m.translate(0x1234n);
    if (mode === "32-bit" && !pse) {
      expect(ok(r)).toMatchObject({ pa: 0xffff_f234n, pageSize: 4096, level: 1, user: true, write: true });
      expect(m.readVirtual(0x1234n, 4)).toEqual(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
      expect(m.writeVirtual(0x1234n, new Uint8Array([1, 2, 3, 4]))).toBeNull(); // dropped
    } else {
      expect(pf(r)).toMatchObject({ errorCode: 0b1001, level: pt.geo.levels });
    }
    expect(changedBytes(m, snapshot)).toEqual([]);
    expect(m.ram.length).toBe(RAM);
  });

  it("PAE: CR3 beyond RAM reads PDPTEs of all ones, which MOV CR3 refuses (#GP)", async () => {
    const { m } = await pagedMachine("pae");
    const before = m.registers();
    expect(m.setRegisters({ cr3: 0x8000_0000n })).toMatchObject({ fault: "gp" });
    expect(m.registers()).toEqual(before);
  });

  it("PAE: a PDE pointing beyond RAM gives an all-ones PTE: RSVD (bits 62:M) at level 1", async () => {
    const { m, pt } = await pagedMachine("pae", { nxe: true });
    const at = pt.map(0x1000n, 0x0031_5000n, P | RW);
    pt.write(at[2]!, 0xf000_0000n | P | RW);
    reloadCr3(m);
    expect(pf(m.translate(0x1000n, { fetch: true }))).toMatchObject({ errorCode: 0b11001, level: 1 });
  });

  it("MAXPHYADDR 52 with NXE: an all-ones PTE from beyond RAM is a valid leaf mapping non-existent memory", async () => {
    const { m, pt } = await pagedMachine("4-level", { nxe: true }, { physAddrBits: 52 });
    const at = pt.map(VA["4-level"], 0x0031_5000n, P | RW | US, 1, P | RW | US);
    pt.write(at[2]!, beyond | P | RW | US);
    reloadCr3(m);
    const snapshot = m.ram.slice();
    const t = ok(m.translate(VA["4-level"] + 0x10n, { user: true, write: true }));
    expect(t).toMatchObject({ pa: 0x000f_ffff_ffff_f010n, pageSize: 4096, level: 1, execute: false, user: true, write: true });
    // XD = 1 in that entry: fetches fault (P | I/D)
    expect(pf(m.translate(VA["4-level"], { fetch: true }))).toMatchObject({ errorCode: 0b10001, level: 1 });
    expect(m.readVirtual(VA["4-level"], 3)).toEqual(new Uint8Array([0xff, 0xff, 0xff]));
    expect(m.writeVirtual(VA["4-level"], new Uint8Array([7, 7, 7]))).toBeNull();
    // the only RAM the walk may write is A/D in the entries it read inside RAM
    for (const i of changedBytes(m, snapshot)) expect([at[4], at[3], at[2]].map(Number)).toContain(i & ~7);
    // and a PDPTE from beyond RAM with MAXPHYADDR 52: PS = 1 with bits 29:13 set: RSVD
    pt.write(at[4]!, beyond | P | RW | US);
    reloadCr3(m);
    expect(pf(m.translate(VA["4-level"]))).toMatchObject({ errorCode: 0b1001, level: 3 });
  });

  it("a table in the last page of RAM: its last entry is read and gets its A bit", async () => {
    const { m, pt } = await pagedMachine("4-level");
    const last = BigInt(RAM) - 4096n;
    const va = 0x0000_7fff_ffff_f000n; // index 511 at every level
    const at = pt.map(va, 0x0031_5000n, P | RW);
    const pml4e = pt.read(at[4]!);
    // move the PDPT to the last page of RAM
    m.ram.copyWithin(Number(last), Number(pml4e & ~0xfffn), Number(pml4e & ~0xfffn) + 4096);
    pt.write(at[4]!, last | P | RW);
    reloadCr3(m);
    expect(ok(m.translate(va + 0xff8n, { write: true })).pa).toBe(0x0031_5ff8n);
    expect(pt.read(last + 511n * 8n) & A).toBe(A);
    expect(pt.read(last + 511n * 8n) & D).toBe(0n);
  });
});

it("XD is bit 63 (8-byte entries only)", () => {
  expect(XD).toBe(1n << 63n);
});
