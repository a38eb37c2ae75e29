// The references of `npm run bench:native` do the same work as the product: bench/native/mmu.c
// (built with gcc -O2 when gcc is present) and the careful-JavaScript bench/native/mmu.mjs
// translate the same address streams over the same page tables to the same physical
// addresses as the product's batch, inline, per-address and translate() paths (equal
// checksums), so a ratio to them compares equal work.
import { afterAll, describe, expect, it } from "vitest";
import { ACCESS_USER, directMappedTlb, type Machine } from "../src/index.js";
import {
  asFloor, batchPass, bigints, productBatch, buildNative, callPasses, facadePass, inlinePasses, loHiPasses, runNative, spaceMachine, warmTlb,
  type NativeLine,
} from "../bench/native.bench.js";
import * as ref from "../bench/native/mmu.mjs";

const N = 8192;
const built = buildNative();
const noGcc = typeof built === "string" ? built : undefined;
if (noGcc) console.warn(`test/native.test.ts: the C reference's tests are skipped: ${noGcc}`);
afterAll(() => {
  if (typeof built !== "string") built.dispose();
});

/** Checksums of the careful-JavaScript reference over the W1 and W2 streams at `levels`. */
function careful(levels: 2 | 4 | 5) {
  const ram = new Int32Array(ref.RAM_BYTES / 4);
  const space = ref.buildSpace(ram, levels);
  const hit = ref.hitStream(levels, N);
  const tlb = ref.makeTlb();
  const w2 = ref.runW2(ram, space.root, levels, ref.walkStream(levels, N), N);
  ref.fillTlb(tlb, ram, space.root, levels, hit.hot);
  return { space, w1: ref.runW1(tlb, ram, space.root, levels, hit.va, N), w2 };
}

describe("the product and the careful-JavaScript reference", () => {
  it("W1: batch, inline, per-address call and translate() hit the TLB for the same physical addresses as mmu.mjs", async () => {
    const js = careful(4);
    expect(js.w1.faults).toBe(0);
    expect(js.space.tables).toBe(517);
    const hit = ref.hitStream(4, N);
    const m: Machine = await spaceMachine(4, { tlb: directMappedTlb(4096) });
    expect(m.mappings().length).toBe(ref.PAGES);
    warmTlb(m, hit.hot);
    m.resetStats();
    const batch = batchPass(productBatch(m), hit.va, N);
    expect(m.stats().tlbMisses).toBe(0);
    expect(batch).toMatchObject({ cs: js.w1.cs, faults: 0 });
    const t = m.inlineTlb();
    expect(inlinePasses(t)(hit.va, N)).toMatchObject({ cs: js.w1.cs, faults: 0 });
    expect([t.hits, t.misses]).toEqual([N, 0]);
    expect(loHiPasses(m)(hit.va, N)).toMatchObject({ cs: js.w1.cs, faults: 0 });
    expect(facadePass(m, bigints(hit.va, N))).toMatchObject({ cs: js.w1.cs, faults: 0 });
    expect(m.stats().tlbMisses).toBe(0);
  });

  it("W1: the AssemblyScript floor (floor.as.ts) over mmu.mjs's TLB gives the same physical addresses", async () => {
    const ram = new Int32Array(ref.RAM_BYTES / 4);
    const { root } = ref.buildSpace(ram, 4);
    const hit = ref.hitStream(4, N);
    const tlb = ref.makeTlb();
    ref.fillTlb(tlb, ram, root, 4, hit.hot);
    const js = ref.runW1(tlb, ram, root, 4, hit.va, N);
    const floor = await asFloor(tlb);
    expect(callPasses(floor.translate)(hit.va, N)).toMatchObject({ cs: js.cs, faults: 0 });
    expect(batchPass(floor.batch, hit.va, N)).toMatchObject({ cs: js.cs, faults: 0 });
    expect(floor.translate(0, 0, ACCESS_USER)).toBe(-1); // not in the TLB: a miss, no walk
  }, 60_000); // asc compiles floor.as.ts: seconds on a loaded machine

  it("W2: the product's walk without caches, at 4 and 5 levels and in 32-bit paging, sums the same physical addresses as mmu.mjs", async () => {
    for (const levels of [4, 5, 2] as const) {
      const js = careful(levels);
      expect(js.w2.faults).toBe(0);
      const m = await spaceMachine(levels, { tlb: false, pwc: false });
      m.resetStats();
      expect(batchPass(productBatch(m), ref.walkStream(levels, N), N)).toMatchObject({ cs: js.w2.cs, faults: 0 });
      expect(m.stats().walkMemRefs).toBe(levels * N);
    }
  });

  it("a changed layout changes the checksum (the comparison can fail)", () => {
    const ram = new Int32Array(ref.RAM_BYTES / 4);
    const { root } = ref.buildSpace(ram, 4);
    const va = ref.walkStream(4, N);
    const before = ref.runW2(ram, root, 4, va, N).cs;
    // Swap the root's two entries (text and heap; mmap and stack): every address now walks
    // through the other region's tables and faults or lands on another frame.
    const top = (root >>> 2) + 2 * (Math.floor(ref.pageVpn(ref.PAGES - 1, 4) / 2 ** 27) % 512);
    const low = root >>> 2;
    [ram[low], ram[top]] = [ram[top]!, ram[low]!];
    expect(ref.runW2(ram, root, 4, va, N).cs).not.toBe(before);
  });
});

describe.skipIf(noGcc !== undefined)(`bench/native/mmu.c${noGcc ? ` (skipped: ${noGcc})` : ""}`, () => {
  const exe = typeof built === "string" ? { generic: "", spec: "" } : built;
  const line = (lines: NativeLine[], w: string) => lines.find((l) => l.w === w)!;

  it("builds the same page tables and hits the TLB for the same physical addresses as the product", async () => {
    const out = runNative(exe.generic, 4, 1, N, "W1");
    expect(out[0]).toMatchObject({ ev: "build", tables: 517, root: 1 << 20 });
    const js = careful(4);
    const hit = ref.hitStream(4, N);
    expect(line(out, "W1")).toMatchObject({ cs: js.w1.cs, faults: 0, va: ref.streamChecksum(hit.va) });
    const m = await spaceMachine(4, { tlb: directMappedTlb(4096) });
    warmTlb(m, hit.hot);
    expect(batchPass(productBatch(m), hit.va, N).cs).toBe(line(out, "W1").cs);
    expect(inlinePasses(m.inlineTlb())(hit.va, N).cs).toBe(line(out, "W1").cs);
  });

  it("walks (generic and -DSPEC, 4 and 5 levels and 32-bit paging) to the same physical addresses as the product", async () => {
    for (const levels of [4, 5, 2] as const) {
      const generic = line(runNative(exe.generic, levels, 1, N, "W2"), "W2");
      const spec = line(runNative(exe.spec, levels, 1, N, "W2"), "W2");
      expect(spec.impl).toBe("C-spec");
      const m = await spaceMachine(levels, { tlb: false, pwc: false });
      const va = ref.walkStream(levels, N);
      expect([generic.va, spec.va]).toEqual([ref.streamChecksum(va), ref.streamChecksum(va)]);
      const product = batchPass(productBatch(m), va, N);
      expect(product.faults).toBe(0);
      expect([generic.cs, generic.faults, spec.cs, spec.faults]).toEqual([product.cs, 0, product.cs, 0]);
    }
  });

  it("forks (W3) by copying every table and write-protecting every leaf, and exits (W4) freeing them all", () => {
    const out = runNative(exe.generic, 4, 2, N, "W3");
    for (const rep of [0, 1]) {
      expect(out.find((l) => l.w === "W3" && l.rep === rep)).toMatchObject({ tables: 517, readonly: ref.PAGES });
      expect(out.find((l) => l.w === "W4" && l.rep === rep)).toMatchObject({ free: 517 });
    }
  });
});
