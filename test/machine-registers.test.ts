// setRegisters with MOV-to-CR / WRMSR semantics (SDM Vol. 3A 2.5, 4.1; Vol. 2 MOV CR, WRMSR):
// values a CPU refuses come back as { fault: "gp", errorCode: 0 } and change nothing — the
// registers, the paging mode and every translation stay as they were.
import { describe, expect, it } from "vitest";
import type { Machine, Registers } from "../src/index.js";
import { Machine as M } from "../src/index.js";
import { P, RW, US, pagedMachine, registersFor, type Mode } from "./paging.js";

const PE = 1n, ET = 1n << 4n, WP = 1n << 16n, NW = 1n << 29n, CD = 1n << 30n, PG = 1n << 31n;
const PAE = 1n << 5n, LA57 = 1n << 12n, PCIDE = 1n << 17n;
const LME = 1n << 8n, LMA = 1n << 10n, NXE = 1n << 11n;

const PROBES = [0x1000n, 0x4020_3000n, 0x0040_0000n];

/** A machine in `mode` (or with paging off) with one page mapped at each probe address. */
async function machineIn(mode: Mode | "off", physAddrBits?: number): Promise<Machine> {
  if (mode === "off") return M.create({ ramBytes: 4 << 20, physAddrBits });
  const { m, pt } = await pagedMachine(mode, { nxe: true }, { physAddrBits });
  PROBES.forEach((va, i) => pt.map(va, 0x0030_0000n + BigInt(i) * 0x1000n, P | RW | US));
  expect(m.setRegisters({ cr3: pt.root })).toBeNull();
  return m;
}

/** What setRegisters must leave unchanged when it refuses. */
function observe(m: Machine) {
  return {
    registers: m.registers(),
    mode: m.mode,
    translations: PROBES.map((va) => m.translate(va, { probe: true })),
  };
}

function expectRefused(m: Machine, values: Partial<Registers>): void {
  const before = observe(m);
  const r = m.setRegisters(values);
  expect(r, JSON.stringify(values, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))).toMatchObject({
    fault: "gp", errorCode: 0,
  });
  expect(typeof r!.reason).toBe("string");
  expect(observe(m)).toEqual(before);
}

describe("setRegisters: #GP and nothing changed", () => {
  it("CR0.PG without CR0.PE", async () => {
    const m = await machineIn("off");
    expectRefused(m, { cr0: PG | ET });
    expectRefused(m, { cr0: PG | ET, cr4: PAE, efer: LME });
  });

  it("CR0.NW without CR0.CD; CR0 bits 63:32", async () => {
    for (const mode of ["off", "32-bit", "4-level"] as const) {
      const m = await machineIn(mode);
      const cr0 = m.registers().cr0;
      expectRefused(m, { cr0: cr0 | NW });
      for (const b of [32n, 47n, 63n]) expectRefused(m, { cr0: cr0 | (1n << b) });
      expect(m.setRegisters({ cr0: cr0 | NW | CD })).toBeNull(); // legal with CD
    }
  });

  it("reserved CR4 bits (15, 25..63)", async () => {
    for (const mode of ["off", "pae", "5-level"] as const) {
      const m = await machineIn(mode);
      const cr4 = m.registers().cr4;
      for (const b of [15n, 25n, 26n, 31n, 32n, 63n]) expectRefused(m, { cr4: cr4 | (1n << b) });
    }
  });

  it("reserved EFER bits (all but SCE, LME, LMA, NXE)", async () => {
    for (const mode of ["off", "4-level"] as const) {
      const m = await machineIn(mode);
      const efer = m.registers().efer;
      for (const b of [1n, 7n, 9n, 12n, 15n, 32n, 63n]) expectRefused(m, { efer: efer | (1n << b) });
    }
  });

  it("long mode without CR4.PAE: entering it, or clearing PAE in it", async () => {
    const off = await machineIn("off");
    expectRefused(off, { cr0: PE | ET | PG, efer: LME, cr4: 0n, cr3: 0x10000n });
    const lm = await machineIn("4-level");
    expectRefused(lm, { cr4: lm.registers().cr4 & ~PAE });
  });

  it("EFER.LME changed while CR0.PG = 1 (either way)", async () => {
    const pae = await machineIn("pae");
    expectRefused(pae, { efer: pae.registers().efer | LME });
    const lm = await machineIn("4-level");
    expectRefused(lm, { efer: lm.registers().efer & ~LME });
  });

  it("CR4.LA57 toggled while paging in long mode (either way)", async () => {
    const l4 = await machineIn("4-level");
    expectRefused(l4, { cr4: l4.registers().cr4 | LA57 });
    const l5 = await machineIn("5-level");
    expectRefused(l5, { cr4: l5.registers().cr4 & ~LA57 });
  });

  it("CR4.PCIDE outside long mode", async () => {
    for (const mode of ["off", "32-bit", "pae"] as const) {
      const m = await machineIn(mode);
      expectRefused(m, { cr4: m.registers().cr4 | PCIDE });
    }
  });

  it("CR4.PCIDE 0 -> 1 with CR3[11:0] != 0, and CR0.PG cleared while CR4.PCIDE = 1", async () => {
    const m = await machineIn("4-level");
    const cr3 = m.registers().cr3;
    expect(m.setRegisters({ cr3: cr3 | 0x18n })).toBeNull(); // PWT/PCD: legal without PCIDE
    expectRefused(m, { cr4: m.registers().cr4 | PCIDE });
    expect(m.setRegisters({ cr3 })).toBeNull();
    expect(m.setRegisters({ cr4: m.registers().cr4 | PCIDE })).toBeNull();
    expectRefused(m, { cr0: m.registers().cr0 & ~PG });
  });

  it.each([32, 36, 46, 52])("CR3 bits at or above MAXPHYADDR %i in long mode", async (bits) => {
    const m = await machineIn("4-level", bits);
    const cr3 = m.registers().cr3;
    for (let b = BigInt(bits); b < 64n; b += bits < 52 ? 5n : 3n) expectRefused(m, { cr3: cr3 | (1n << b) });
    expectRefused(m, { cr3: cr3 | (1n << 63n) }); // bit 63 is the no-flush hint only with PCIDE
    // the highest bit below MAXPHYADDR is an address bit
    expect(m.setRegisters({ cr3: 1n << BigInt(bits - 1) })).toBeNull();
  });

  it("a present PAE PDPTE with reserved bits (MOV CR3 and entering PAE paging)", async () => {
    const m = await machineIn("off");
    m.writePhysical(0x20000n, new Uint8Array([0x03, 0x10])); // P and bit 1 (reserved), table 0x1000
    const regs = registersFor("pae", 0x20000n);
    expectRefused(m, regs);
    const ok = await machineIn("pae");
    ok.writePhysical(0x20000n, new Uint8Array([0x81, 0x10])); // P and PS (bit 7: reserved)
    expectRefused(ok, { cr3: 0x20000n });
  });
});

describe("setRegisters: what a CPU accepts", () => {
  it("32-bit <-> PAE paging by toggling CR4.PAE while paging (SDM 4.1.2); PDPTEs checked on the way in", async () => {
    const m = await machineIn("32-bit");
    const r = m.registers();
    // A PAE PDPT at 0x20000 whose PDPTE 0 points to a PD mapping 0x1000 -> 0x390000.
    const put = (pa: bigint, e: bigint) => m.writePhysical(pa, new Uint8Array(new BigUint64Array([e]).buffer));
    put(0x20000n, 0x21000n | P);
    put(0x21000n, 0x22000n | P | RW);
    put(0x22008n, 0x39_0000n | P | RW);
    expect(m.setRegisters({ cr3: 0x20000n })).toBeNull(); // as a 32-bit PD: nothing at 0x1000
    expect(m.translate(0x1000n, { probe: true })).toMatchObject({ fault: "page" });
    expect(m.setRegisters({ cr4: r.cr4 | PAE })).toBeNull();
    expect(m.mode).toBe("pae");
    expect(m.translate(0x1000n, { probe: true })).toMatchObject({ pa: 0x39_0000n });
    expect(m.setRegisters({ cr4: r.cr4 })).toBeNull();
    expect(m.mode).toBe("32-bit");
    put(0x20008n, P | (1n << 2n)); // PDPTE 1 present with reserved bit 2
    expectRefused(m, { cr4: r.cr4 | PAE });
    expect(m.mode).toBe("32-bit");
  });


  it("EFER.LMA follows LME and PG; it is not writable", async () => {
    const m = await machineIn("off");
    expect(m.setRegisters({ efer: LME | LMA })).toBeNull();
    expect(m.registers().efer).toBe(LME);
    expect(m.setRegisters({ ...registersFor("4-level", 0x10000n), efer: LME | NXE })).toBeNull();
    expect(m.mode).toBe("4-level");
    expect(m.registers().efer).toBe(LME | LMA | NXE);
    expect(m.setRegisters({ cr0: m.registers().cr0 & ~PG })).toBeNull();
    expect(m.mode).toBe("off");
    expect(m.registers().efer).toBe(LME | NXE);
  });

  it("4-level to 5-level through paging off, then back", async () => {
    const m = await machineIn("4-level");
    const r = m.registers();
    expect(m.setRegisters({ cr0: r.cr0 & ~PG })).toBeNull();
    expect(m.setRegisters({ cr4: r.cr4 | LA57 })).toBeNull();
    expect(m.setRegisters({ cr0: r.cr0 })).toBeNull();
    expect(m.mode).toBe("5-level");
    expect(m.setRegisters({ cr0: r.cr0 & ~PG })).toBeNull();
    expect(m.setRegisters({ cr4: r.cr4 })).toBeNull();
    expect(m.setRegisters({ cr0: r.cr0 })).toBeNull();
    expect(m.mode).toBe("4-level");
  });

  it("with PCIDE, CR3[11:0] is the PCID and bit 63 (no flush) is not stored", async () => {
    const m = await machineIn("4-level");
    const cr3 = m.registers().cr3;
    expect(m.setRegisters({ cr4: m.registers().cr4 | PCIDE })).toBeNull();
    expect(m.setRegisters({ cr3: cr3 | 0x5n | (1n << 63n) })).toBeNull();
    expect(m.registers().cr3).toBe(cr3 | 0x5n);
    expect(m.translate(0x1000n, { probe: true })).toMatchObject({ pa: 0x0030_0000n });
  });

  it("CR0.WP, SMEP, SMAP, PKE, NXE and PKRU may change while paging", async () => {
    const m = await machineIn("5-level");
    const r = m.registers();
    expect(m.setRegisters({ cr0: r.cr0 | WP, cr4: r.cr4 | (7n << 20n), efer: r.efer & ~NXE, pkru: 0xffff_fffcn })).toBeNull();
    expect(m.registers()).toMatchObject({ cr0: r.cr0 | WP, cr4: r.cr4 | (7n << 20n), efer: (r.efer & ~NXE) | LMA, pkru: 0xffff_fffcn });
  });
});
