// Property: machine.inlineTlb() answers exactly as translate() does. Two machines run the same
// random case (tables, register loads with random PKRU, SMAP, SMEP, WP, NXE, PKE, PCIDE, table
// rewrites without a flush, INVLPG): one answers every access through the inline path, the
// other through translate(), with the same access bits (all 16 combinations of ACCESS_*,
// the invalid write + fetch ones included), each address asked twice so that the second can be
// an inline hit; on the Skylake TLB (the set-associative path, with LRU) and on a small
// directMappedTlb() (the one-compare variant, large pages held as 4 KiB slices). After every step both give the same physical address or the same fault (or
// throw the same error class), and RAM (A/D bits) is the same; at the end the TLB counters are.
import fc from "fast-check";
import { expect, it } from "vitest";
import { ACCESS_AC, ACCESS_FETCH, ACCESS_USER, ACCESS_WRITE, Machine, SKYLAKE_TLB, directMappedTlb, type Access, type Registers } from "../src/index.js";
import { generateCase, Rng } from "./reference/generate.js";
import { show } from "./reference/differential.js";

function accessObject(bits: number): Access {
  const a: Access = {};
  if (bits & ACCESS_WRITE) a.write = true;
  if (bits & ACCESS_USER) a.user = true;
  if (bits & ACCESS_FETCH) a.fetch = true;
  if (bits & ACCESS_AC) a.ac = true;
  return a;
}

const errorName = (f: () => unknown): unknown => {
  try {
    return { value: f() };
  } catch (e) {
    return { error: (e as Error).constructor.name };
  }
};

function faultOf(f: { fault: string; errorCode: number; address?: bigint; level?: number }): unknown {
  return f.fault === "page" ? { fault: f.fault, errorCode: f.errorCode, address: f.address, level: f.level } : { fault: f.fault, address: f.address };
}

it("the inline path equals translate() over random tables, registers, PKRU, SMAP/AC and every access combination", async () => {
  const hits = { skylake: 0, direct: 0 };
  let faults = 0, answers = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 0x7fffffff }),
      fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 40 }),
      fc.boolean(),
      fc.constantFrom("skylake" as const, "direct" as const),
      async (seed, accesses, signedHalves, kind) => {
        const c = generateCase(new Rng(seed), { steps: 80, machine: {} });
        const opts = { ramBytes: c.ramBytes, physAddrBits: c.physAddrBits, tlb: kind === "direct" ? directMappedTlb(64) : SKYLAKE_TLB };
        const a = await Machine.create(opts);
        const b = await Machine.create(opts);
        const inline = a.inlineTlb();
        let k = 0;
        for (const [s, st] of c.steps.entries()) {
          const where = `seed ${seed} step ${s}`;
          if (st.op === "poke") {
            const v = BigInt(st.value);
            const bytes = new Uint8Array(st.size);
            for (let i = 0; i < st.size; i++) bytes[i] = Number((v >> BigInt(8 * i)) & 0xffn);
            a.writePhysical(BigInt(st.pa), bytes);
            b.writePhysical(BigInt(st.pa), bytes);
          } else if (st.op === "regs") {
            const values: Partial<Registers> = {};
            for (const [r, h] of Object.entries(st.values)) values[r as keyof Registers] = BigInt(h);
            expect(errorName(() => a.setRegisters(values)), where).toEqual(errorName(() => b.setRegisters(values)));
          } else if (st.op === "invlpg") {
            a.invlpg(BigInt(st.va));
            b.invlpg(BigInt(st.va));
          } else if (st.op === "invpcid") {
            expect(a.invpcid(st.type, st.pcid, BigInt(st.va)), where).toEqual(b.invpcid(st.type, st.pcid, BigInt(st.va)));
          } else if (st.op === "cr4xor") {
            const cr4 = b.registers().cr4 ^ BigInt(st.mask);
            expect(errorName(() => a.setRegisters({ cr4 })), where).toEqual(errorName(() => b.setRegisters({ cr4 })));
          } else if (st.op === "cr3") {
            expect(errorName(() => a.movCr3(BigInt(st.value))), where).toEqual(errorName(() => b.movCr3(BigInt(st.value))));
          } else {
            const va = BigInt(st.va);
            const bits = accesses[k++ % accesses.length]!;
            let lo = Number(va & 0xffffffffn), hi = Number(va >> 32n);
            if (signedHalves) (lo |= 0), (hi |= 0);
            for (let twice = 0; twice < 2; twice++) {
              const before = inline.hits;
              let got: unknown, want: unknown;
              try {
                const pa = inline.translate(lo, hi, bits);
                got = pa === -1 ? faultOf(inline.fault(lo, hi)) : { pa: BigInt(pa) };
              } catch (e) {
                got = { error: (e as Error).constructor.name };
              }
              try {
                const r = b.translate(va, accessObject(bits));
                want = r.fault ? faultOf(r) : { pa: r.pa };
              } catch (e) {
                want = { error: (e as Error).constructor.name };
              }
              expect(got, `${where} va 0x${va.toString(16)} access ${bits}`).toEqual(want);
              hits[kind] += inline.hits - before;
              if ((got as { fault?: string }).fault) faults++;
              else if ((got as { pa?: bigint }).pa !== undefined) answers++;
            }
          }
          expect(Buffer.compare(a.ram, b.ram), `${where}: RAM (A/D bits)`).toBe(0);
        }
        const sa = a.stats(), sb = b.stats();
        expect([sa.tlbHits, sa.tlbMisses, sa.walks, sa.pageFaults, sa.accessedWrites, sa.dirtyWrites], `seed ${seed}: counters`)
          .toEqual([sb.tlbHits, sb.tlbMisses, sb.walks, sb.pageFaults, sb.accessedWrites, sb.dirtyWrites]);
        a.destroy();
        b.destroy();
      },
    ),
    { numRuns: 150, seed: 0x1e71 },
  );
  // The property means something only if the inline path answered from its own entries often.
  expect(hits.skylake, show(hits)).toBeGreaterThan(250);
  expect(hits.direct, show(hits)).toBeGreaterThan(250);
  expect(answers).toBeGreaterThan(2 * (hits.skylake + hits.direct));
  expect(faults).toBeGreaterThan(500);
});
