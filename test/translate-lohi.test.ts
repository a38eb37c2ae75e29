// Machine.translateLoHi (numbers in, a number out) and Machine.movCr3 (MOV to CR3 alone): the
// same answers, faults and counters as translate() and setRegisters({ cr3 }).
import { describe, expect, it } from "vitest";
import { ACCESS_FETCH, ACCESS_USER, ACCESS_WRITE, Machine, StateError } from "../src/index.js";
import { A, D, P, PageTables, RW, US, XD, type Mode } from "./paging.js";

const split = (va: bigint): [number, number] => [Number(va & 0xffffffffn), Number(va >> 32n)];

async function machine(mode: Mode) {
  const m = await Machine.create({ ramBytes: 16 << 20 });
  const t = new PageTables(m, mode, 0x10_0000n);
  return { m, t };
}

describe("translateLoHi", () => {
  it.each(["32-bit", "pae", "4-level", "5-level"] as const)("%s: answers, faults and counts as translate()", async (mode) => {
    const a = await machine(mode), b = await machine(mode);
    const wide = mode === "4-level" || mode === "5-level";
    const vas = wide ? [0x7f12_3456_7000n, 0x7f12_3456_8000n, 0xffff_8000_0000_1000n] : [0x0804_8000n, 0x0804_9000n, 0xc000_1000n];
    for (const { t } of [a, b]) {
      t.map(vas[0]!, 0x40_0000n, P | RW | US | A | D);
      t.map(vas[1]!, 0x41_0000n, P | US | A | (mode === "32-bit" ? 0n : XD)); // read-only, no execute
    }
    for (const { m, t } of [a, b]) expect(m.setRegisters(t.registers({ wp: true, nxe: true }))).toBeNull();
    const accesses = [0, ACCESS_USER, ACCESS_USER | ACCESS_WRITE, ACCESS_USER | ACCESS_FETCH, ACCESS_WRITE];
    let hits = 0;
    for (let round = 0; round < 2; round++) {
      for (const va of vas) {
        for (const acc of accesses) {
          const r = a.m.translate(va + 0x123n, { user: !!(acc & ACCESS_USER), write: !!(acc & ACCESS_WRITE), fetch: !!(acc & ACCESS_FETCH) });
          const [lo, hi] = split(va + 0x123n);
          const pa = b.m.translateLoHi(lo, hi, acc);
          if (r.fault) {
            expect(pa).toBe(-1);
            expect(b.m.lastFault(va + 0x123n)).toEqual(r);
          } else {
            expect(pa).toBe(Number(r.pa));
            if (r.tlbHit) hits++;
          }
        }
      }
    }
    expect(b.m.stats()).toEqual(a.m.stats());
    expect(a.m.stats().tlbHits).toBe(hits); // what translate() reported, hit by hit
    expect(hits).toBeGreaterThan(0);
  });

  it("a non-canonical address is a #GP; bad arguments throw and change nothing", async () => {
    const { m, t } = await machine("4-level");
    t.map(0xffff_8000_0000_0000n, 0x40_0000n, P | RW | A | D);
    m.setRegisters(t.registers());
    expect(m.translateLoHi(0, 0xffff8000, 0)).toBe(0x40_0000);
    expect(m.translateLoHi(0, 0xffff8000 | 0, 0)).toBe(0x40_0000); // the high half as a signed int32
    expect(m.translateLoHi(0, 0x8000, 0)).toBe(-1);
    expect(m.lastFault(0x8000_0000_0000n)).toMatchObject({ fault: "gp" });
    const before = m.stats();
    expect(() => m.translateLoHi(0.5, 0, 0)).toThrow(RangeError);
    expect(() => m.translateLoHi(0, 2 ** 32, 0)).toThrow(/vaLo and vaHi/);
    expect(() => m.translateLoHi(0, 0, ACCESS_WRITE | ACCESS_FETCH)).toThrow(/access/);
    expect(() => m.translateLoHi(0, 0, 16)).toThrow(/got 16/);
    expect(m.stats()).toEqual(before);
    m.destroy();
    expect(() => m.translateLoHi(0, 0xffff8000, 0)).toThrow(StateError);
  });

  it("in the 32-bit modes the high word must be 0", async () => {
    const { m, t } = await machine("pae");
    m.setRegisters(t.registers());
    expect(() => m.translateLoHi(0, 1, 0)).toThrow(/32 bits in pae mode/);
  });
});

describe("movCr3", () => {
  it("is MOV to CR3: the same registers, flushes and #GPs as setRegisters({ cr3 })", async () => {
    const a = await machine("4-level"), b = await machine("4-level");
    for (const { m, t } of [a, b]) {
      t.map(0x7f00_0000_0000n, 0x40_0000n, P | RW | US | A | D);
      m.setRegisters(t.registers());
      m.translate(0x7f00_0000_0000n);
    }
    const cr3 = a.m.registers().cr3;
    expect(a.m.setRegisters({ cr3 })).toBeNull();
    expect(b.m.movCr3(cr3)).toBeNull();
    expect(b.m.registers()).toEqual(a.m.registers());
    expect(b.m.stats()).toEqual(a.m.stats());
    expect(b.m.movCr3(1n << 50n)).toMatchObject({ fault: "gp", reason: /MAXPHYADDR/ });
    expect(b.m.registers().cr3).toBe(cr3);
    expect(() => b.m.movCr3(-1n)).toThrow(RangeError);
    expect(() => b.m.movCr3(5 as unknown as bigint)).toThrow(TypeError);
  });

  it("PAE: an invalid PDPTE is a #GP that changes nothing; outside long mode cr3 has 32 bits", async () => {
    const { m, t } = await machine("pae");
    m.setRegisters(t.registers());
    const good = m.registers();
    m.writePhysical(0x20_0000n, new Uint8Array([0x07, 0, 0, 0, 0, 0, 0, 0])); // P with reserved bits 2:1
    expect(m.movCr3(0x20_0000n)).toMatchObject({ fault: "gp", reason: /PDPTE/ });
    expect(m.registers()).toEqual(good);
    expect(() => m.movCr3(1n << 32n)).toThrow(/32 bits/);
  });
});
