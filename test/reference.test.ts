// The reference walker (test/reference/walker.ts, written from the SDM text) against QEMU's own
// translations of the real-kernel fixtures, and the Machine against the reference: on every
// fixture (all access kinds, A/D side effects) and on random and hostile tables (a short,
// fixed-seed run of the fuzz harness; `npm run fuzz` runs it for longer).
import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { fixtureNames, loadFixture, type Fixture } from "./fixtures.js";
import { RefMachine } from "./reference/walker.js";
import { accessOf, runCase, show } from "./reference/differential.js";
import { generateCase, Rng } from "./reference/generate.js";

function refFor(f: Fixture): RefMachine {
  const ref = new RefMachine(Number(f.meta.ram_bytes), 46);
  for (const [pa, bytes] of f.pages) ref.ram.set(bytes, Number(pa));
  if (f.meta.mode === "i386-pae") {
    // As test/fixtures.ts: QEMU's Accessed bit in the PDPTEs is reserved there; clear it.
    const pdpt = f.registers.cr3 & 0xffffffe0n;
    for (let i = 0n; i < 4n; i++) ref.writePhys(pdpt + 8n * i, 8, ref.readPhys(pdpt + 8n * i, 8) & ~0x20n);
  }
  const gp = ref.setRegisters(f.registers);
  if (gp) throw new Error(`reference refused the registers of ${f.name}`);
  return ref;
}

/** Both sides' results as plain JSON, faults reduced to what both report. */
function norm(r: object, cached: boolean): unknown {
  const o = JSON.parse(show(r));
  if (o.fault === "page") return { fault: o.fault, errorCode: o.errorCode, level: o.level };
  if (o.fault === "gp") return { fault: o.fault };
  delete o.tlbHit;
  // With caches a hit reads no entries: the leaf and the count of reads are the walk's business.
  if (cached) {
    delete o.entry;
    delete o.memRefs;
  }
  return o;
}

describe.each(fixtureNames())("fixture %s", (name) => {
  const f = loadFixture(name);

  it("the reference walker agrees with QEMU's gva2gpa", () => {
    const ref = refFor(f);
    for (const [va, gpa] of f.gva2gpa) {
      const r = ref.translate(va, { probe: true });
      if (gpa === null) expect("fault" in r && r.fault, `0x${va.toString(16)}`).toBeTruthy();
      else expect("pa" in r ? r.pa : r, `0x${va.toString(16)}`).toBe(gpa);
    }
  });

  it.each([
    ["the bare walker", { tlb: false, pwc: false }],
    ["with the default TLB and paging-structure caches", {}],
  ] as const)("the Machine (%s) equals the reference on every kind of access, A/D bytes included", async (_, caches) => {
    const m = await Machine.create({ ramBytes: Number(f.meta.ram_bytes), ...caches });
    for (const [pa, bytes] of f.pages) m.writePhysical(pa, bytes);
    const ref = refFor(f);
    const pdpt = f.registers.cr3 & 0xffffffe0n;
    if (f.meta.mode === "i386-pae") m.writePhysical(pdpt, ref.ram.slice(Number(pdpt), Number(pdpt) + 32));
    expect(m.setRegisters(f.registers)).toBeNull();
    const cached = !("tlb" in caches);
    const maps = m.mappings();
    const rng = new Rng(7);
    const vas = f.gva2gpa.map(([va]) => va);
    for (let i = 0; i < 800; i++) {
      const mp = maps[rng.int(maps.length)]!;
      vas.push(mp.va + BigInt(rng.int(mp.size)));
    }
    for (const va of vas) {
      for (const bits of [0, 1, 2, 3, 4, 6, 8, 9, 16, 17]) {
        const access = accessOf(bits);
        const want = ref.translate(va, access);
        const got = m.translate(va, access);
        expect(norm(got, cached), `0x${va.toString(16)} access ${bits}`).toEqual(norm(want, cached));
      }
    }
    expect(Buffer.compare(m.ram, ref.ram)).toBe(0);
  });
});

it("fuzz: 150 random and hostile cases (fixed seed) agree with the reference, no trap, guard bytes intact", async () => {
  const rng = new Rng(20261122);
  for (let i = 0; i < 150; i++) {
    const c = generateCase(new Rng(rng.u32()));
    const mm = await runCase(c);
    expect(mm && show(mm)).toBeNull();
  }
});
