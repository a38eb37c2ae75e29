// Misuse of the Machine API throws TypeError (wrong type) or RangeError (bad value) naming the
// argument and the value, StateError after destroy(), changes nothing, and leaves the machine
// usable. Guest faults are never thrown.
import { expectErr, rejected, thrown, type ErrorClass } from "./expect-error.js";
import { describe, expect, it } from "vitest";
import { Machine, StateError } from "../src/index.js";
import { P, RW, pagedMachine, reloadCr3 } from "./paging.js";

const MIB = 1 << 20;

/** Runs f, expecting it to throw `type` with a message matching every pattern. */
function expectThrow(f: () => unknown, type: ErrorClass, ...patterns: RegExp[]): void {
  expectErr(thrown(f), type, undefined, patterns);
}

async function expectReject(p: Promise<unknown>, type: ErrorClass, ...patterns: RegExp[]): Promise<void> {
  expectErr(await rejected(p), type, undefined, patterns);
}

describe("Machine.create rejects bad options", () => {
  it.each([
    [{ ramBytes: 0 }, RangeError, [/ramBytes/, /\b0\b/]],
    [{ ramBytes: -4096 }, RangeError, [/ramBytes/, /-4096/]],
    [{ ramBytes: MIB + 1 }, RangeError, [/ramBytes/, /1048577/]],
    [{ ramBytes: MIB + 2048 }, RangeError, [/ramBytes/, /1050624/]],
    [{ ramBytes: MIB - 4096 }, RangeError, [/ramBytes/, /1044480/]],
    [{ ramBytes: Machine.MAX_RAM_BYTES + 4096 }, RangeError, [/ramBytes/, new RegExp(String(Machine.MAX_RAM_BYTES + 4096))]],
    [{ ramBytes: 2 ** 53 }, RangeError, [/ramBytes/]],
    [{ ramBytes: MIB + 0.5 }, RangeError, [/ramBytes/, /1048576\.5/]],
    [{ ramBytes: Number.NaN }, RangeError, [/ramBytes/, /NaN/]],
    [{ ramBytes: Infinity }, RangeError, [/ramBytes/, /Infinity/]],
    [{ ramBytes: "1048576" }, TypeError, [/ramBytes/, /1048576/]],
    [{ ramBytes: 1048576n }, TypeError, [/ramBytes/, /1048576/]],
    [{}, TypeError, [/ramBytes/]],
    [{ ramBytes: MIB, physAddrBits: 31 }, RangeError, [/physAddrBits/, /31/]],
    [{ ramBytes: MIB, physAddrBits: 53 }, RangeError, [/physAddrBits/, /53/]],
    [{ ramBytes: MIB, physAddrBits: 46.5 }, RangeError, [/physAddrBits/, /46\.5/]],
    [{ ramBytes: MIB, physAddrBits: 46n }, TypeError, [/physAddrBits/]],
    [{ ramBytes: MIB, ramSize: MIB }, RangeError, [/ramSize/]],
  ] as const)("%o", async (options, type, patterns) => {
    await expectReject(Machine.create(options as never), type, ...patterns);
  });

  it.each([null, 5, "big", [MIB]])("options %o is not an object", async (options) => {
    await expectReject(Machine.create(options as never), TypeError, /options/);
  });

  it("the extremes of the legal range are accepted", async () => {
    const m = await Machine.create({ ramBytes: MIB, physAddrBits: 32 });
    expect(m.ram.length).toBe(MIB);
    const n = await Machine.create({ ramBytes: MIB + 4096, physAddrBits: 52 });
    expect(n.ram.length).toBe(MIB + 4096);
  });
});

describe("calls with bad arguments throw, change nothing, and the machine stays usable", () => {
  async function setup() {
    const { m, pt } = await pagedMachine("4-level");
    pt.map(0x1000n, 0x0030_0000n, P | RW);
    reloadCr3(m);
    m.writePhysical(0x0030_0000n, Uint8Array.of(1, 2, 3, 4));
    return m;
  }
  type Case = [string, (m: Machine) => unknown, new (...a: never[]) => Error, RegExp[]];
  const cases: Case[] = [
    ["setRegisters number cr3", (m) => m.setRegisters({ cr3: 0x1000 as never }), TypeError, [/cr3/, /4096/]],
    ["setRegisters negative cr0", (m) => m.setRegisters({ cr0: -1n }), RangeError, [/cr0/, /-1/]],
    ["setRegisters 65-bit cr4", (m) => m.setRegisters({ cr4: 1n << 64n }), RangeError, [/cr4/, /18446744073709551616/]],
    ["setRegisters 33-bit pkru", (m) => m.setRegisters({ pkru: 1n << 32n }), RangeError, [/pkru/, /4294967296/]],
    ["setRegisters unknown key", (m) => m.setRegisters({ cr2: 0n } as never), RangeError, [/cr2/]],
    ["setRegisters good cr3 with bad cr4", (m) => m.setRegisters({ cr3: 0x20000n, cr4: 5 as never }), TypeError, [/cr4/, /\b5\b/]],
    ["setRegisters null", (m) => m.setRegisters(null as never), TypeError, [/null/]],
    ["translate number", (m) => m.translate(0x1000 as never), TypeError, [/va/, /4096/]],
    ["translate negative", (m) => m.translate(-1n), RangeError, [/va/, /-1/]],
    ["translate 2^64", (m) => m.translate(1n << 64n), RangeError, [/va/, /18446744073709551616/]],
    ["translate access.write = 1", (m) => m.translate(0x1000n, { write: 1 as never }), TypeError, [/access\.write/, /\b1\b/]],
    ["translate unknown access key", (m) => m.translate(0x1000n, { writes: true } as never), RangeError, [/writes/]],
    ["translate access string", (m) => m.translate(0x1000n, "w" as never), TypeError, [/access/, /"w"/]],
    ["translate write and fetch", (m) => m.translate(0x1000n, { write: true, fetch: true }), RangeError, [/write/, /fetch/]],
    ["readVirtual negative length", (m) => m.readVirtual(0x1000n, -1), RangeError, [/length/, /-1/]],
    ["readVirtual fractional length", (m) => m.readVirtual(0x1000n, 1.5), RangeError, [/length/, /1\.5/]],
    ["readVirtual bigint length", (m) => m.readVirtual(0x1000n, 4n as never), TypeError, [/length/, /4/]],
    ["writeVirtual array", (m) => m.writeVirtual(0x1000n, [9, 9] as never), TypeError, [/bytes/]],
    ["writeVirtual number va", (m) => m.writeVirtual(4096 as never, Uint8Array.of(9)), TypeError, [/va/, /4096/]],
    ["writeVirtual access number", (m) => m.writeVirtual(0x1000n, Uint8Array.of(9), 5 as never), TypeError, [/access/, /\b5\b/]],
    ["writeVirtual access.user string", (m) => m.writeVirtual(0x1000n, Uint8Array.of(9), { user: "yes" } as never), TypeError, [/access\.user/, /yes/]],
    ["writeVirtual access null", (m) => m.writeVirtual(0x1000n, Uint8Array.of(9), null as never), TypeError, [/access/, /null/]],
    ["writeVirtual access.write string", (m) => m.writeVirtual(0x1000n, Uint8Array.of(9), { write: "no" } as never), TypeError, [/access\.write/, /"no"/]],
    ["writeVirtual fetch", (m) => m.writeVirtual(0x1000n, Uint8Array.of(9), { fetch: true }), RangeError, [/fetch/]],
    ["readPhysical past RAM", (m) => m.readPhysical(BigInt(m.ramBytes) - 2n, 4), RangeError, [/pa/, /0x3ffffe/]],
    ["readPhysical number pa", (m) => m.readPhysical(0 as never, 4), TypeError, [/pa/, /\b0\b/]],
    ["readPhysical negative length", (m) => m.readPhysical(0n, -4), RangeError, [/length/, /-4/]],
    ["writePhysical straddling the end", (m) => m.writePhysical(BigInt(m.ramBytes) - 1n, Uint8Array.of(9, 9)), RangeError, [/pa/, /0x3fffff/]],
    ["writePhysical string", (m) => m.writePhysical(0x0030_0000n, "ab" as never), TypeError, [/bytes/, /"ab"/]],
    ["invlpg number va", (m) => m.invlpg(0x1000 as never), TypeError, [/va/, /4096/]],
    ["invlpg negative va", (m) => m.invlpg(-4096n), RangeError, [/va/, /-4096/]],
    ["invlpg 2^64", (m) => m.invlpg(1n << 64n), RangeError, [/va/, /18446744073709551616/]],
    ["invpcid string type", (m) => m.invpcid("0" as never, 0), TypeError, [/type/, /"0"/]],
    ["invpcid negative type", (m) => m.invpcid(-1, 0), RangeError, [/type/, /-1/]],
    ["invpcid fractional type", (m) => m.invpcid(0.5, 0, 0x1000n), RangeError, [/type/, /0\.5/]],
    ["invpcid bigint pcid", (m) => m.invpcid(1, 1n as never), TypeError, [/pcid/, /\b1n/]],
    ["invpcid negative pcid", (m) => m.invpcid(1, -2), RangeError, [/pcid/, /-2/]],
    ["invpcid number va", (m) => m.invpcid(0, 0, 0x1000 as never), TypeError, [/va/, /4096/]],
    ["invpcid va 2^64", (m) => m.invpcid(0, 0, 1n << 64n), RangeError, [/va/, /18446744073709551616/]],
    ["translateBatch array", (m) => m.translateBatch([0x1000n] as never), TypeError, [/vas/, /4096/]],
    ["translateBatch BigInt64Array", (m) => m.translateBatch(BigInt64Array.of(0x1000n) as never), TypeError, [/vas/, /4096/]],
    ["translateBatch short out", (m) => m.translateBatch(BigUint64Array.of(0x1000n, 0x1008n), {}, new BigUint64Array(1)), RangeError, [/out/, /\b2\b/]],
    ["translateBatch out of the wrong type", (m) => m.translateBatch(BigUint64Array.of(0x1000n), {}, new Float64Array(1) as never), RangeError, [/out/, /BigUint64Array/]],
    ["translateBatch write and fetch", (m) => m.translateBatch(BigUint64Array.of(0x1000n), { write: true, fetch: true }), RangeError, [/write/, /fetch/]],
    ["translateBatch access.user number", (m) => m.translateBatch(BigUint64Array.of(0x1000n), { user: 1 as never }), TypeError, [/access\.user/, /\b1\b/]],
    ["batch().run count above capacity", (m) => m.batch().run(4097), RangeError, [/count/, /4097/]],
    ["batch().run negative count", (m) => m.batch().run(-1), RangeError, [/count/, /-1/]],
    ["batch().run string count", (m) => m.batch().run("1" as never), TypeError, [/count/, /"1"/]],
    ["batch().run start past count", (m) => m.batch().run(1, 2), RangeError, [/start/, /\b2\b/]],
    ["batch().run fractional start", (m) => m.batch().run(2, 0.5), RangeError, [/start/, /0\.5/]],
    ["batch().run write and fetch", (m) => m.batch().run(1, 0, { write: true, fetch: true }), RangeError, [/write/, /fetch/]],
    ["batch().run unknown access key", (m) => m.batch().run(1, 0, { exec: true } as never), RangeError, [/exec/]],
    ["lastFault number va", (m) => m.lastFault(0x1000 as never), TypeError, [/va/, /4096/]],
    ["lastFault negative va", (m) => m.lastFault(-1n), RangeError, [/va/, /-1/]],
    ["lastFault when the last translation succeeded", (m) => (m.translate(0x1000n, { probe: true }), m.lastFault(0x1000n)), RangeError, [/did not fault/]],
  ];

  it.each(cases)("%s", async (_name, call, type, patterns) => {
    const m = await setup();
    const before = { regs: m.registers(), ram: m.ram.slice(), stats: m.stats() };
    expectThrow(() => call(m), type, ...patterns);
    expect(m.registers()).toEqual(before.regs);
    expect(m.stats()).toEqual(before.stats);
    let diff = 0;
    for (let i = 0; i < m.ram.length; i++) if (m.ram[i] !== before.ram[i]) diff++;
    expect(diff).toBe(0);
    // still usable
    expect(m.readVirtual(0x1000n, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(m.writeVirtual(0x1002n, Uint8Array.of(7))).toBeNull();
    expect(m.readPhysical(0x0030_0000n, 4)).toEqual(Uint8Array.of(1, 2, 7, 4));
  });
});

describe("destroy()", () => {
  it("every later call throws StateError; other machines are unaffected", async () => {
    const { m, pt } = await pagedMachine("pae");
    const other = await pagedMachine("pae");
    pt.map(0x1000n, 0x0030_0000n, P | RW);
    other.pt.map(0x1000n, 0x0030_0000n, P | RW);
    reloadCr3(m);
    reloadCr3(other.m);
    m.destroy();
    const calls: Array<[string, () => unknown]> = [
      ["translate", () => m.translate(0x1000n)],
      ["setRegisters", () => m.setRegisters({ cr3: 0n })],
      ["registers", () => m.registers()],
      ["mode", () => m.mode],
      ["readVirtual", () => m.readVirtual(0x1000n, 1)],
      ["writeVirtual", () => m.writeVirtual(0x1000n, Uint8Array.of(1))],
      ["readPhysical", () => m.readPhysical(0n, 1)],
      ["writePhysical", () => m.writePhysical(0n, Uint8Array.of(1))],
      ["mappings", () => m.mappings()],
      ["ranges", () => m.ranges()],
      ["stats", () => m.stats()],
      ["resetStats", () => m.resetStats()],
      ["invlpg", () => m.invlpg(0x1000n)],
      ["invpcid", () => m.invpcid(2, 0)],
      ["movCr3", () => m.movCr3(0n)],
      ["translateLoHi", () => m.translateLoHi(0x1000, 0, 0)],
      ["translateBatch", () => m.translateBatch(BigUint64Array.of(0x1000n))],
      ["batch", () => m.batch()],
      ["lastFault", () => m.lastFault(0x1000n)],
    ];
    for (const [name, call] of calls) expectThrow(call, StateError, /destroyed/);
    expect(() => m.destroy()).not.toThrow();
    expect(other.m.translate(0x1234n)).toMatchObject({ pa: 0x0030_0234n });
  });

  it("an inline TLB and batch buffers taken before destroy() throw StateError, even on what was a TLB hit", async () => {
    const { m, pt } = await pagedMachine("4-level");
    pt.map(0x1000n, 0x0030_0000n, P | RW);
    reloadCr3(m);
    const inline = m.inlineTlb();
    const b = m.batch();
    expect(inline.translate(0x1234, 0, 0)).toBe(0x0030_0234);
    expect(inline.translate(0x1234, 0, 0)).toBe(0x0030_0234);
    expect(inline.hits).toBe(1); // the second answer was a JavaScript hit
    b.va[0] = 0x1000n;
    expect(b.run(1)).toBe(1);
    const ram = m.ram.slice();
    m.destroy();
    expectThrow(() => inline.translate(0x1234, 0, 0), StateError, /destroyed/);
    expectThrow(() => inline.translate(0x5000, 0, 1), StateError, /destroyed/);
    expectThrow(() => inline.fault(0x1234, 0), StateError, /destroyed/);
    expectThrow(() => b.run(1), StateError, /destroyed/);
    expect(inline.hits).toBe(1);
    expect(Buffer.compare(m.ram, ram)).toBe(0);
  });
});
