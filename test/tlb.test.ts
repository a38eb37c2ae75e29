// The TLB and paging-structure caches against the SDM's caching and invalidation rules
// (Vol. 3A 4.10), with exact counters.
import { describe, expect, it } from "vitest";
import { Machine, directMappedTlb, CR4_PCIDE, CR3_NOFLUSH, PF_P, PF_WR, type Translation } from "../src/index.js";
import { A, D, G, P, PageTables, RW, US, type Controls, type Mode } from "./paging.js";

const MIB = 1 << 20;

async function setup(mode: Mode = "4-level", options: Partial<Parameters<typeof Machine.create>[0]> = {}) {
  const m = await Machine.create({ ramBytes: 16 * MIB, ...options });
  const t = new PageTables(m, mode, 0x10_0000n);
  return { m, t };
}

function ok(r: ReturnType<Machine["translate"]>): Translation {
  if (r.fault) throw new Error(`unexpected fault ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? v.toString(16) : v))}`);
  return r;
}

const VA = 0x7f12_3456_7000n;

/** The registers these tests run with: WP, NXE and PGE on. */
function regs(t: PageTables, c: Controls = {}) {
  return t.registers({ wp: true, nxe: true, pge: true, ...c });
}

describe("TLB", () => {
  it("a second access hits the TLB: no walk, no memory reference", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US);
    m.setRegisters(regs(t));
    m.resetStats();
    const first = ok(m.translate(VA + 0x10n));
    const second = ok(m.translate(VA + 0x20n));
    expect(first.tlbHit).toBe(false);
    expect(first.memRefs).toBe(4);
    expect(second).toMatchObject({ tlbHit: true, memRefs: 0, pa: 0x40_0020n, pageSize: 4096, entry: undefined });
    const s = m.stats();
    expect([s.tlbHits, s.tlbMisses, s.walks, s.walkMemRefs]).toEqual([1, 1, 1, 4]);
    expect(s.tlb.find((x) => x.name === "dtlb-4k")).toEqual({ name: "dtlb-4k", hits: 1, misses: 1 });
    expect(s.tlb.find((x) => x.name === "stlb-4k")).toEqual({ name: "stlb-4k", hits: 0, misses: 1 });
    expect(s.tlb.find((x) => x.name === "itlb-4k")).toEqual({ name: "itlb-4k", hits: 0, misses: 0 });
  });

  it("keeps a stale translation after the PTE changes until INVLPG", async () => {
    const { m, t } = await setup();
    const slot = t.map(VA, 0x40_0000n, P | RW | US)[1]!;
    m.setRegisters(regs(t));
    expect(ok(m.translate(VA)).pa).toBe(0x40_0000n);
    t.write(slot, 0x50_0000n | P | RW | US);
    expect(ok(m.translate(VA))).toMatchObject({ pa: 0x40_0000n, tlbHit: true });
    // Even a not-present PTE keeps translating until invalidated, as on a CPU.
    t.write(slot, 0n);
    expect(ok(m.translate(VA)).pa).toBe(0x40_0000n);
    m.invlpg(VA + 0x123n);
    expect(m.translate(VA)).toMatchObject({ fault: "page", errorCode: 0 });
    t.write(slot, 0x50_0000n | P | RW | US);
    // The page fault invalidated what would translate VA, so the retry walks.
    expect(ok(m.translate(VA))).toMatchObject({ pa: 0x50_0000n, tlbHit: false });
    expect(m.stats().flushes).toMatchObject({ invlpg: 1, pageFault: 1 });
  });

  it("caches a clean page so that the first write walks again and sets D", async () => {
    const { m, t } = await setup();
    const slot = t.map(VA, 0x40_0000n, P | RW | US)[1]!;
    m.setRegisters(regs(t));
    m.resetStats();
    ok(m.translate(VA)); // read: fills a clean entry
    expect(t.read(slot) & D).toBe(0n);
    expect(ok(m.translate(VA, { write: true })).tlbHit).toBe(false); // first write walks
    expect(t.read(slot) & (A | D)).toBe(A | D);
    expect(ok(m.translate(VA, { write: true })).tlbHit).toBe(true); // now dirty in the TLB
    expect(ok(m.translate(VA)).tlbHit).toBe(true);
    const s = m.stats();
    expect([s.walks, s.tlbHits, s.tlbMisses, s.dirtyWrites]).toEqual([2, 2, 2, 1]);
  });

  it("MOV to CR3 flushes non-global entries; global pages survive when CR4.PGE = 1", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US);
    t.map(0xffff_8000_0000_0000n, 0x41_0000n, P | RW | G);
    m.setRegisters(regs(t));
    ok(m.translate(VA));
    ok(m.translate(0xffff_8000_0000_0000n));
    m.resetStats();
    m.setRegisters({ cr3: t.root });
    expect(ok(m.translate(VA)).tlbHit).toBe(false);
    expect(ok(m.translate(0xffff_8000_0000_0000n)).tlbHit).toBe(true);
    expect(m.stats().flushes.cr3).toBe(1);
    // Toggling PGE flushes everything, globals included.
    const cr4 = m.registers().cr4;
    m.setRegisters({ cr4: cr4 & ~0x80n });
    expect(ok(m.translate(0xffff_8000_0000_0000n)).tlbHit).toBe(false);
    // With PGE = 0 the G bit is ignored: a CR3 write flushes the page.
    m.setRegisters({ cr3: t.root });
    expect(ok(m.translate(0xffff_8000_0000_0000n)).tlbHit).toBe(false);
  });

  it("tags entries with the PCID: address spaces are isolated and survive switches with bit 63", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US);
    const other = new PageTables(m, "4-level", 0x80_0000n);
    other.map(VA, 0x60_0000n, P | RW | US);
    m.setRegisters(regs(t));
    expect(m.setRegisters({ cr4: m.registers().cr4 | CR4_PCIDE })).toBeNull();
    m.setRegisters({ cr3: t.root | 1n });
    expect(ok(m.translate(VA)).pa).toBe(0x40_0000n);
    m.setRegisters({ cr3: other.root | 2n });
    expect(ok(m.translate(VA))).toMatchObject({ pa: 0x60_0000n, tlbHit: false });
    // Back to PCID 1 without flushing: its entry is still there.
    m.setRegisters({ cr3: t.root | 1n | CR3_NOFLUSH });
    expect(m.registers().cr3).toBe(t.root | 1n);
    expect(ok(m.translate(VA))).toMatchObject({ pa: 0x40_0000n, tlbHit: true });
    // And PCID 2's survives too.
    m.setRegisters({ cr3: other.root | 2n | CR3_NOFLUSH });
    expect(ok(m.translate(VA))).toMatchObject({ pa: 0x60_0000n, tlbHit: true });
    // Without bit 63 the new PCID's entries are flushed, the others' kept.
    m.setRegisters({ cr3: t.root | 1n });
    expect(ok(m.translate(VA)).tlbHit).toBe(false);
    m.setRegisters({ cr3: other.root | 2n | CR3_NOFLUSH });
    expect(ok(m.translate(VA)).tlbHit).toBe(true);
    // Clearing PCIDE flushes every PCID.
    m.setRegisters({ cr3: other.root });
    m.setRegisters({ cr4: m.registers().cr4 & ~CR4_PCIDE });
    expect(ok(m.translate(VA)).tlbHit).toBe(false);
  });

  it("INVPCID types 0-3, and the #GP a CPU raises for invalid use", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US);
    t.map(VA + 0x1000n, 0x40_1000n, P | RW | US);
    t.map(0xffff_8000_0000_0000n, 0x41_0000n, P | RW | G);
    m.setRegisters(regs(t));
    expect(m.invpcid(1, 1)).toMatchObject({ fault: "gp" }); // PCIDE = 0: only PCID 0
    m.setRegisters({ cr4: m.registers().cr4 | CR4_PCIDE });
    m.setRegisters({ cr3: t.root | 5n });
    expect(m.invpcid(4, 0)).toMatchObject({ fault: "gp" });
    expect(m.invpcid(0, 0x1000)).toMatchObject({ fault: "gp" });
    expect(m.invpcid(0, 5, 0x8000_0000_0000n)).toMatchObject({ fault: "gp" });
    const warm = () => [VA, VA + 0x1000n, 0xffff_8000_0000_0000n].forEach((v) => ok(m.translate(v)));
    const hits = () => [VA, VA + 0x1000n, 0xffff_8000_0000_0000n].map((v) => ok(m.translate(v, { probe: false })).tlbHit);
    warm();
    expect(m.invpcid(0, 5, VA)).toBeNull(); // one address of PCID 5
    expect(hits()).toEqual([false, true, true]);
    expect(m.invpcid(1, 5)).toBeNull(); // all of PCID 5 but globals
    expect(hits()).toEqual([false, false, true]);
    expect(m.invpcid(3, 0)).toBeNull(); // all contexts but globals
    expect(hits()).toEqual([false, false, true]);
    expect(m.invpcid(2, 0)).toBeNull(); // all contexts, globals too
    expect(hits()).toEqual([false, false, false]);
    expect(m.stats().flushes.invpcid).toBe(4);
  });

  it("INVLPG on any address of a 2 MiB page drops it, in its own structure or as 4 KiB slices", async () => {
    for (const tlb of [undefined, directMappedTlb(64)]) {
      const { m, t } = await setup("4-level", { tlb });
      t.map(0x4000_0000n, 0x20_0000n, P | RW | US, 2);
      m.setRegisters(regs(t));
      ok(m.translate(0x4000_0000n));
      ok(m.translate(0x4000_5000n));
      expect(ok(m.translate(0x4000_5008n))).toMatchObject({ tlbHit: true, pa: 0x20_5008n, pageSize: 2 * MIB });
      m.invlpg(0x401f_f000n);
      expect(ok(m.translate(0x4000_5008n)).tlbHit).toBe(false);
      expect(ok(m.translate(0x4000_0000n)).tlbHit).toBe(tlb === undefined); // native: refilled by the line above
    }
  });

  it("MOV to CR3 drops exactly the PCID's live entries, over enough switches to reuse every context", async () => {
    // Contexts make the flush O(1); their recycling must never resurrect an entry or miscount.
    const { m, t } = await setup();
    const pages = [VA, VA + 0x1000n, 0x7f00_0000_0000n];
    const sentinel = VA + 0x5000n; // a TLB set the loop never touches: its dead entry stays
    [...pages, sentinel].forEach((va, i) => t.map(va, 0x40_0000n + BigInt(i) * 0x1000n, P | RW | US | A | D));
    expect(m.setRegisters(regs(t, { pge: false }))).toBeNull();
    const cr3 = m.registers().cr3;
    ok(m.translate(sentinel));
    expect(m.setRegisters({ cr3 })).toBeNull();
    for (let i = 0; i < 5000; i++) {
      const va = pages[i % 3]!;
      const before = m.stats();
      expect(ok(m.translate(va)).tlbHit).toBe(false); // nothing survives the last flush
      expect(ok(m.translate(va)).tlbHit).toBe(true);
      // The sentinel's entries died with the first context: when that context number comes
      // round again, INVLPG must still find nothing live to drop.
      const s0 = m.stats().tlbEntriesInvalidated;
      m.invlpg(sentinel);
      expect(m.stats().tlbEntriesInvalidated).toBe(s0);
      const filled = m.stats();
      expect(filled.walks - before.walks).toBe(1);
      // One walk fills dtlb-4k and stlb-4k (its paging-structure-cache entries went with INVLPG).
      expect(m.setRegisters({ cr3 })).toBeNull();
      const after = m.stats();
      expect(after.tlbEntriesInvalidated - filled.tlbEntriesInvalidated).toBe(2);
    }
    expect(m.stats().flushes.cr3).toBe(5002);
  });

  it("PCIDs keep their entries across switches with the no-flush hint, and a flush of one spares the others", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US | A | D);
    expect(m.setRegisters(regs(t, { pge: false }))).toBeNull();
    expect(m.setRegisters({ cr4: m.registers().cr4 | CR4_PCIDE })).toBeNull();
    const root = m.registers().cr3;
    const to = (pcid: bigint, keep: boolean) => expect(m.setRegisters({ cr3: root | pcid | (keep ? CR3_NOFLUSH : 0n) })).toBeNull();
    for (let round = 0; round < 3000; round++) {
      to(1n, true);
      const hit1 = ok(m.translate(VA)).tlbHit;
      to(2n, true);
      const hit2 = ok(m.translate(VA)).tlbHit;
      expect([hit1, hit2]).toEqual([round > 0, round > 0]);
    }
    m.resetStats();
    to(1n, false); // flushes PCID 1 only: dtlb-4k, stlb-4k and three paging-structure caches
    expect(m.stats()).toMatchObject({ tlbEntriesInvalidated: 2, pwcEntriesInvalidated: 3 });
    expect(ok(m.translate(VA)).tlbHit).toBe(false);
    to(2n, true);
    expect(ok(m.translate(VA)).tlbHit).toBe(true);
    expect(m.invpcid(1, 2)).toBeNull(); // single-context INVPCID of a PCID not running
    to(2n, true);
    expect(ok(m.translate(VA)).tlbHit).toBe(false);
  });

  it("conflict misses in a direct-mapped TLB, none in a fully associative one", async () => {
    for (const [ways, expected] of [[1, false], [4, true]] as const) {
      const { m, t } = await setup("4-level", { tlb: { structures: [{ name: "t", entries: 4, ways, pageSize: "4K", side: "unified" }] } });
      // Page numbers 0x100 and 0x104 share set 0 when there are 4 sets.
      t.map(0x10_0000n, 0x40_0000n, P | RW);
      t.map(0x10_4000n, 0x40_4000n, P | RW);
      m.setRegisters(regs(t));
      ok(m.translate(0x10_0000n));
      ok(m.translate(0x10_4000n));
      expect(ok(m.translate(0x10_0000n)).tlbHit).toBe(expected);
    }
  });

  it("re-checks rights on a hit with the current PKRU (WRPKRU does not flush)", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US | (3n << 59n)); // protection key 3
    m.setRegisters({ ...regs(t, { pke: true }) });
    expect(ok(m.translate(VA, { user: true })).pa).toBe(0x40_0000n);
    expect(ok(m.translate(VA, { user: true })).tlbHit).toBe(true);
    m.setRegisters({ pkru: 1n << 6n }); // AD for key 3
    expect(m.translate(VA, { user: true })).toMatchObject({ fault: "page", errorCode: PF_P | 4 | 0x20 });
  });

  it("CR0.WP changes flush: a supervisor write to a read-only page is re-checked", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | US | D | A);
    m.setRegisters(regs(t));
    m.resetStats();
    m.setRegisters({ cr0: m.registers().cr0 & ~(1n << 16n) });
    expect(ok(m.translate(VA, { write: true })).pa).toBe(0x40_0000n);
    expect(ok(m.translate(VA, { write: true })).tlbHit).toBe(true);
    m.setRegisters({ cr0: m.registers().cr0 | (1n << 16n) });
    expect(m.translate(VA, { write: true })).toMatchObject({ fault: "page", errorCode: PF_P | PF_WR });
    expect(m.stats().flushes.cr0).toBe(2);
  });

  it("MOV to CR4 setting SMEP flushes the PCID's entries; clearing it or toggling SMAP keeps them", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US | A | D);
    m.setRegisters(regs(t));
    const cr4 = m.registers().cr4;
    const SMEP = 1n << 20n, SMAP = 1n << 21n;
    ok(m.translate(VA));
    m.setRegisters({ cr4: cr4 | SMAP });
    expect(ok(m.translate(VA, { ac: true })).tlbHit).toBe(true);
    // ... but the hit is checked with SMAP's rules: without AC a supervisor read now faults.
    expect(m.translate(VA)).toMatchObject({ fault: "page", errorCode: PF_P });
    ok(m.translate(VA, { ac: true }));
    m.setRegisters({ cr4: cr4 | SMAP | SMEP });
    expect(ok(m.translate(VA, { ac: true })).tlbHit).toBe(false);
    m.setRegisters({ cr4: cr4 | SMAP });
    expect(ok(m.translate(VA, { ac: true })).tlbHit).toBe(true);
    expect(m.stats().flushes.cr4).toBe(1);
  });

  it("clearing CR0.PG flushes everything, globals included", async () => {
    const { m, t } = await setup();
    t.map(0xffff_8000_0000_0000n, 0x41_0000n, P | RW | G);
    m.setRegisters(regs(t));
    ok(m.translate(0xffff_8000_0000_0000n));
    const r = m.registers();
    // Leave long mode (PG off, LME off), then come back.
    expect(m.setRegisters({ cr0: r.cr0 & ~(1n << 31n) })).toBeNull();
    expect(m.setRegisters({ efer: r.efer & ~0x400n & ~0x100n })).toBeNull();
    expect(m.setRegisters({ efer: r.efer, cr0: r.cr0 })).toBeNull();
    expect(ok(m.translate(0xffff_8000_0000_0000n)).tlbHit).toBe(false);
  });

  it("a TLB of tlb: false walks every time", async () => {
    const { m, t } = await setup("4-level", { tlb: false, pwc: false });
    t.map(VA, 0x40_0000n, P | RW | US);
    m.setRegisters(regs(t));
    for (let i = 0; i < 3; i++) expect(ok(m.translate(VA)).memRefs).toBe(4);
    expect(m.stats()).toMatchObject({ walks: 3, walkMemRefs: 12, tlbHits: 0, tlbMisses: 0, tlb: [], pwc: [] });
  });
});

describe("paging-structure caches", () => {
  const cases: Array<[Mode, number, bigint, bigint]> = [
    ["32-bit", 2, 0x0804_8000n, 0x0804_9000n],
    ["pae", 2, 0x0804_8000n, 0x0804_9000n],
    ["4-level", 4, VA, VA + 0x1000n],
    ["5-level", 5, 0x00ab_7f12_3456_7000n, 0x00ab_7f12_3456_8000n],
  ];
  it.each(cases)("%s: a walk that hits the PDE cache reads only the PTE", async (mode, levels, va1, va2) => {
    for (const pwc of [undefined, false] as const) {
      const { m, t } = await setup(mode, { pwc });
      t.map(va1, 0x40_0000n, P | RW | US);
      t.map(va2, 0x40_1000n, P | RW | US);
      m.setRegisters(regs(t));
      m.resetStats();
      expect(ok(m.translate(va1)).memRefs).toBe(levels);
      expect(ok(m.translate(va2))).toMatchObject({ memRefs: pwc === false ? levels : 1, pa: 0x40_1000n });
      if (pwc === undefined) expect(m.stats().pwc.find((c) => c.name === "pde")).toEqual({ name: "pde", hits: 1, misses: 1 });
    }
  });

  it("deeper levels: a PDPTE-cache hit reads the PDE and PTE; PML4E hit three", async () => {
    const { m, t } = await setup("5-level");
    const base = 0x00ab_7f12_0000_0000n;
    for (const off of [0n, 1n << 21n, 1n << 30n, 1n << 39n]) t.map(base + off, 0x40_0000n, P | RW | US);
    m.setRegisters(regs(t));
    expect(ok(m.translate(base)).memRefs).toBe(5);
    expect(ok(m.translate(base + (1n << 21n))).memRefs).toBe(2); // same PD: PDPTE cache
    expect(ok(m.translate(base + (1n << 30n))).memRefs).toBe(3); // same PDPT: PML4E cache
    expect(ok(m.translate(base + (1n << 39n))).memRefs).toBe(4); // same PML4: PML5E cache
    const s = m.stats().pwc;
    // A level is consulted only when every deeper cache missed.
    expect(s.map((c) => [c.name, c.hits, c.misses])).toEqual([
      ["pde", 0, 4],
      ["pdpte", 1, 3],
      ["pml4e", 1, 2],
      ["pml5e", 1, 1],
    ]);
  });

  it("a MOV to CR3 empties the paging-structure caches of the PCID", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | RW | US);
    t.map(VA + 0x1000n, 0x40_1000n, P | RW | US);
    m.setRegisters(regs(t));
    ok(m.translate(VA));
    m.setRegisters({ cr3: t.root });
    expect(ok(m.translate(VA + 0x1000n)).memRefs).toBe(4);
  });
});

describe("fast paths", () => {
  it("translateBatch equals translate and stops at the first fault", async () => {
    const { m, t } = await setup();
    for (let i = 0n; i < 8n; i++) t.map(VA + i * 0x1000n, 0x40_0000n + i * 0x1000n, P | RW | US);
    m.setRegisters(regs(t));
    const vas = new BigUint64Array(10000);
    for (let i = 0; i < vas.length; i++) vas[i] = VA + BigInt((i * 0x348) % 0x8000);
    const r = m.translateBatch(vas, { user: true });
    expect(r.translated).toBe(vas.length);
    for (let i = 0; i < vas.length; i += 97) expect(r.pa[i]).toBe(ok(m.translate(vas[i]!, { user: true, probe: true })).pa);
    vas[5000] = VA + 0x9000n;
    const f = m.translateBatch(vas, { user: true });
    expect(f.translated).toBe(5000);
    expect(f.fault).toMatchObject({ fault: "page", address: VA + 0x9000n, errorCode: 4 });
  });

  it("batch() buffers take per-address access kinds", async () => {
    const { m, t } = await setup();
    t.map(VA, 0x40_0000n, P | US); // read-only user page
    m.setRegisters(regs(t));
    const b = m.batch();
    b.vaWords[0] = Number(VA & 0xffffffffn);
    b.vaWords[1] = Number(VA >> 32n);
    b.access[0] = 2; // user read
    b.va[1] = VA + 8n;
    b.access[1] = 3; // user write: faults
    expect(b.run(2)).toBe(1);
    expect(b.paWords[0]).toBe(0x40_0000);
    expect(m.lastFault(VA + 8n)).toMatchObject({ fault: "page", errorCode: PF_P | PF_WR | 4 });
  });

  it("the inline JavaScript path hits without calling WebAssembly and agrees with translate", async () => {
    const { m, t } = await setup("4-level", { tlb: directMappedTlb(256) });
    t.map(VA, 0x40_0000n, P | RW | US | D | A);
    m.setRegisters(regs(t));
    const tlb = m.inlineTlb();
    const lo = Number(VA & 0xffffffffn) + 0x44, hi = Number(VA >> 32n);
    expect(tlb.translate(lo, hi, 2)).toBe(0x40_0044); // miss: fills
    m.resetStats();
    expect(tlb.translate(lo, hi, 3)).toBe(0x40_0044); // hit, user write (page is dirty)
    expect(tlb.hits).toBe(1);
    // Answered in JavaScript, and counted where translate() would count it.
    expect(m.stats()).toMatchObject({ walks: 0, tlbHits: 1, tlb: [{ name: "tlb", hits: 1, misses: 0 }] });
    expect(tlb.translate(lo, hi, 4 | 2)).toBe(0x40_0044); // fetch: XD clear, NXE on
    expect(tlb.translate(lo + 0x1000, hi, 2)).toBe(-1);
    expect(tlb.fault(lo + 0x1000, hi)).toMatchObject({ fault: "page", errorCode: 4 });
    // A non-canonical alias of a cached upper-half page is a #GP, never a hit.
    t.map(0xffff_8000_0000_0000n, 0x41_0000n, P | RW | US | A | D);
    expect(tlb.translate(0, 0xffff8000, 2)).toBe(0x41_0000);
    expect(tlb.translate(0, 0xffff8000, 2)).toBe(0x41_0000);
    expect(tlb.translate(0, 0x8000, 2)).toBe(-1);
    expect(tlb.fault(0, 0x8000)).toMatchObject({ fault: "gp" });
  });
});
