// The careful-JavaScript reference for wasm-mmu's hot paths, and the workload shapes shared by
// every side of `npm run bench:native`: the layout of bench/native/mmu.c (same frames, same
// order) and its random streams (same xorshift32 seeds), so the product, this file and the C
// program translate the same addresses to the same physical addresses (equal checksums).
//
// "Careful" means what an emulator author would write by hand for speed: RAM and the TLB as
// Int32Arrays, addresses as (low, high) u32 word pairs, no BigInt, no objects per access.
//
// Usage: node bench/native/mmu.mjs LEVELS REPS N W1,W2   (JSON lines like the C program's;
// LEVELS 2 is 32-bit paging, as in mmu.c)

/** Guest RAM of every side: 1 GiB resident, its tables, and room for a forked copy. */
export const RAM_BYTES = 2 ** 30 + 8 * 2 ** 20;
export const FIRST_FRAME = 256; // frames below 1 MiB are never handed out
export const TEXT_PAGES = 2048, HEAP_PAGES = 131072, MMAP_PAGES = 126976, STACK_PAGES = 2048;
export const PAGES = TEXT_PAGES + HEAP_PAGES + MMAP_PAGES + STACK_PAGES; // 2^18
export const TLB_SLOTS = 4096, HOT_PAGES = 256;
export const SEED_HOT = 0x2545f491, SEED_WALK = 0x9e3779b9, SEED_PDE = 0x6a09e667, SEED_SET = 0xbb67ae85;

// Entry bits as the SDM names them (low word of the 64-bit entry; XD is the high word's sign).
const PTE_P = 0x1, PTE_RW = 0x2, PTE_US = 0x4, PTE_A = 0x20, PTE_PS = 0x80, XD_HI = 0x80000000 | 0;
const TWO32 = 4294967296;

/** xorshift32 (Marsaglia), as mmu.c's next_random(). */
export function random(seed) {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

/** Virtual page number of resident page k (0 .. PAGES-1) with `levels` levels (mmu.c page_va). */
export function pageVpn(k, levels) {
  const top = levels === 2 ? 0xc0000 : 2 ** (9 * levels - 1); // top of user space, in pages
  if (k < TEXT_PAGES) return 0x400 + k;
  k -= TEXT_PAGES;
  if (k < HEAP_PAGES) return 0x1000 + k;
  k -= HEAP_PAGES;
  if (k < MMAP_PAGES) return top - 0x40000 + k;
  return top - 0x800 + (k - MMAP_PAGES);
}

/** Index into the level-`l` table (1 = PTE) of a VPN given as (low 32 bits, the rest). */
function indexOf(vpnLo, vpnHi, l) {
  const s = 9 * (l - 1);
  if (s >= 32) return (vpnHi >>> (s - 32)) & 511;
  if (s > 23) return ((vpnLo >>> s) | (vpnHi << (32 - s))) & 511;
  return (vpnLo >>> s) & 511;
}

/**
 * Writes the 1 GiB process's page tables into `ram` (an Int32Array over guest RAM: word i is
 * physical address 4i), allocating frames as mmu.c's build() does. RAM must be zero where
 * tables go. Returns the root table's physical address and the frames used.
 */
export function buildSpace(ram, levels) {
  let bump = FIRST_FRAME;
  const frame = () => {
    const pa = bump++ * 4096;
    if (pa >= RAM_BYTES) throw new RangeError("the layout does not fit RAM_BYTES");
    return pa;
  };
  const root = frame();
  let tables = 1;
  if (levels === 2) {
    // 32-bit paging: 4-byte entries, 1024 per table, no XD (mmu.c build32).
    for (let k = 0; k < PAGES; k++) {
      const vpn = pageVpn(k, 2);
      const w = (root >>> 2) + (vpn >>> 10);
      if (!(ram[w] & PTE_P)) {
        ram[w] = frame() | PTE_P | PTE_RW | PTE_US;
        tables++;
      }
      ram[((ram[w] & ~0xfff) >>> 2) + (vpn & 1023)] = frame() | PTE_P | PTE_US | (k < TEXT_PAGES ? 0 : PTE_RW);
    }
    return { root, tables, frames: bump };
  }
  for (let k = 0; k < PAGES; k++) {
    const vpn = pageVpn(k, levels);
    const vpnLo = vpn >>> 0, vpnHi = Math.floor(vpn / TWO32);
    let table = root;
    for (let l = levels; l > 1; l--) {
      const w = (table >>> 2) + indexOf(vpnLo, vpnHi, l) * 2;
      if (!(ram[w] & PTE_P)) {
        const t = frame();
        tables++;
        ram[w] = t | PTE_P | PTE_RW | PTE_US;
      }
      table = (ram[w] & ~0xfff) >>> 0;
    }
    const w = (table >>> 2) + indexOf(vpnLo, vpnHi, 1) * 2;
    const text = k < TEXT_PAGES;
    ram[w] = frame() | PTE_P | PTE_US | (text ? 0 : PTE_RW);
    ram[w + 1] = text ? 0 : XD_HI;
  }
  return { root, tables, frames: bump };
}

/** N linear addresses as (low, high) u32 pairs: page `pick(r)` of the layout plus offset r & 0xfff. */
function stream(levels, n, seed, pick) {
  const next = random(seed);
  const va = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const r = next();
    const vpn = pick(r);
    va[2 * i] = ((vpn % 0x100000) * 4096 + (r & 0xfff)) >>> 0;
    va[2 * i + 1] = Math.floor(vpn / 0x100000);
  }
  return va;
}

/** W1's hot pages and stream from one generator, as mmu.c draws them: 256 pages, each in its
 * own slot of a 4096-entry direct-mapped TLB, then N addresses (random hot page + offset). */
export function hitStream(levels, n) {
  const next = random(SEED_HOT);
  const slots = new Set();
  const hot = [];
  while (hot.length < HOT_PAGES) {
    const vpn = pageVpn(next() >>> 14, levels);
    if (slots.has(vpn % TLB_SLOTS)) continue;
    slots.add(vpn % TLB_SLOTS);
    hot.push(vpn);
  }
  const va = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const r = next();
    const vpn = hot[r >>> 24];
    va[2 * i] = ((vpn % 0x100000) * 4096 + (r & 0xfff)) >>> 0;
    va[2 * i + 1] = Math.floor(vpn / 0x100000);
  }
  return { hot, va };
}

/** W2's stream: uniformly random resident addresses. */
export function walkStream(levels, n) {
  return stream(levels, n, SEED_WALK, (r) => pageVpn(r >>> 14, levels));
}

/** Random addresses in the first 32 MiB of the heap: 16 page tables, so a PDE cache of 16 or
 * more entries (4 ways or more) holds every PDE they need. */
export function pdeStream(levels, n) {
  return stream(levels, n, SEED_PDE, (r) => pageVpn(TEXT_PAGES + (r >>> 19), levels));
}

/** 64 consecutive heap pages: 16 sets x 4 ways, exactly a Skylake first-level 4 KiB DTLB. */
export function setStream(levels, n) {
  return stream(levels, n, SEED_SET, (r) => pageVpn(TEXT_PAGES + 4096 + (r >>> 26), levels));
}

/** Rights of the last successful walk (bit 0 W, bit 1 U, bit 2 XD), for a TLB fill. */
let walkRights = 0;

/**
 * The walk for a user read (mmu.c walk_levels): per level load, P check, set A only if clear,
 * AND R/W and U/S, OR XD; PS ends it at levels 2 and 3. Returns the physical address or -1.
 */
export function walk(ram, root, levels, vaLo, vaHi) {
  if (levels === 2) return walk32(ram, root, vaLo);
  const vpnLo = ((vaLo >>> 12) | (vaHi << 20)) >>> 0, vpnHi = vaHi >>> 12;
  let table = root, rights = PTE_RW | PTE_US, xd = 0;
  for (let l = levels; l >= 1; l--) {
    const w = (table >>> 2) + indexOf(vpnLo, vpnHi, l) * 2;
    let lo = ram[w];
    const hi = ram[w + 1];
    if (!(lo & PTE_P)) return -1;
    if (!(lo & PTE_A)) ram[w] = lo |= PTE_A;
    rights &= lo;
    xd |= hi;
    if (l === 1 || (lo & PTE_PS && l <= 3)) {
      if (!(rights & PTE_US)) return -1;
      const low = (1 << (12 + 9 * (l - 1))) - 1;
      walkRights = (rights >> 1) | (xd < 0 ? 4 : 0);
      return ((lo & ~low) >>> 0) + (hi & 0xfffff) * TWO32 + (vaLo & low);
    }
    table = (lo & ~0xfff) >>> 0;
    if (hi & 0xfffff || table >= RAM_BYTES) return -1; // a table beyond RAM
  }
  return -1;
}

/** 32-bit paging's walk for a user read (mmu.c walk32): PDE, PTE, the same rules, no XD or PS. */
function walk32(ram, root, va) {
  let w = (root >>> 2) + (va >>> 22);
  let e = ram[w];
  if (!(e & PTE_P)) return -1;
  if (!(e & PTE_A)) ram[w] = e |= PTE_A;
  let rights = e;
  const table = (e & ~0xfff) >>> 0;
  if (table >= RAM_BYTES) return -1;
  w = (table >>> 2) + ((va >>> 12) & 1023);
  e = ram[w];
  if (!(e & PTE_P)) return -1;
  if (!(e & PTE_A)) ram[w] = e |= PTE_A;
  rights &= e;
  if (!(rights & PTE_US)) return -1;
  walkRights = (rights >> 1) & 3;
  return ((e & ~0xfff) >>> 0) + (va & 0xfff);
}

/** A direct-mapped TLB of TLB_SLOTS entries, 4 words each: VPN low, VPN high (-1: empty),
 * frame number, rights (bit 0 W, bit 1 U, bit 2 XD). */
export function makeTlb() {
  const tlb = new Int32Array(TLB_SLOTS * 4);
  for (let i = 0; i < TLB_SLOTS; i++) tlb[4 * i + 1] = -1;
  return tlb;
}

/** A user read through the TLB; on a miss, a walk and a fill. Physical address or -1. */
function tlbMiss(tlb, ram, root, levels, vaLo, vaHi) {
  const pa = walk(ram, root, levels, vaLo, vaHi);
  if (pa < 0) return -1;
  const vpnLo = (vaLo >>> 12) | (vaHi << 20), e = (vpnLo & (TLB_SLOTS - 1)) * 4;
  tlb[e] = vpnLo;
  tlb[e + 1] = vaHi >>> 12;
  tlb[e + 2] = Math.floor(pa / 4096);
  tlb[e + 3] = walkRights;
  return pa;
}

/** Fills the TLB with the hot pages (W1's warm state). */
export function fillTlb(tlb, ram, root, levels, hot) {
  for (const vpn of hot) tlbMiss(tlb, ram, root, levels, ((vpn % 0x100000) * 4096) >>> 0, Math.floor(vpn / 0x100000));
}

/** Checksums of a run: u32 sums of the physical addresses' low words and of their frames. */
export function checksum(lo, frames) {
  return `${(lo >>> 0).toString(16).padStart(8, "0")}:${(frames >>> 0).toString(16).padStart(8, "0")}`;
}

/** Checksum of a stream itself (u32 sums of the low and high words), as mmu.c prints it ("va"). */
export function streamChecksum(va) {
  let lo = 0, hi = 0;
  for (let i = 0; i < va.length; i += 2) {
    lo = (lo + va[i]) >>> 0;
    hi = (hi + va[i + 1]) >>> 0;
  }
  return checksum(lo, hi);
}

/** W1, the careful-JavaScript TLB hit: N user reads of `va` pairs. */
export function runW1(tlb, ram, root, levels, va, n) {
  let lo = 0, frames = 0, faults = 0;
  for (let i = 0; i < 2 * n; i += 2) {
    const vaLo = va[i], vaHi = va[i + 1];
    const vpnLo = (vaLo >>> 12) | (vaHi << 20), e = (vpnLo & (TLB_SLOTS - 1)) << 2;
    const pa = tlb[e] === vpnLo && tlb[e + 1] === vaHi >>> 12 && tlb[e + 3] & 2
      ? (tlb[e + 2] >>> 0) * 4096 + (vaLo & 0xfff)
      : tlbMiss(tlb, ram, root, levels, vaLo, vaHi);
    if (pa < 0) faults++;
    else {
      lo = (lo + pa) >>> 0;
      frames = (frames + pa / 4096) >>> 0;
    }
  }
  return { cs: checksum(lo, frames), faults };
}

/** W2, the careful-JavaScript walk: N user reads, no TLB. */
export function runW2(ram, root, levels, va, n) {
  let lo = 0, frames = 0, faults = 0;
  for (let i = 0; i < 2 * n; i += 2) {
    const pa = walk(ram, root, levels, va[i], va[i + 1]);
    if (pa < 0) faults++;
    else {
      lo = (lo + pa) >>> 0;
      frames = (frames + pa / 4096) >>> 0;
    }
  }
  return { cs: checksum(lo, frames), faults };
}

function main(argv) {
  const [levels, reps, n] = argv.slice(0, 3).map(Number);
  const which = argv[3] ?? "W1,W2";
  if (!(levels >= 2 && levels <= 5 && reps >= 1 && n >= 1)) {
    console.error("usage: node bench/native/mmu.mjs LEVELS(2..5) REPS N W1,W2");
    process.exit(1);
  }
  const ram = new Int32Array(RAM_BYTES / 4);
  const { root, tables, frames } = buildSpace(ram, levels);
  const line = (o) => console.log(JSON.stringify({ impl: "JS", levels, ...o }));
  line({ ev: "build", tables, root, frames });
  const time = (w, va, f) => {
    for (let rep = 0; rep < reps; rep++) {
      const t0 = performance.now();
      const r = f();
      const ms = performance.now() - t0;
      line({ w, rep, ms: +ms.toFixed(4), ns: +((ms * 1e6) / n).toFixed(4), ...r, va: streamChecksum(va) });
    }
  };
  if (which.includes("W1")) {
    const { hot, va } = hitStream(levels, n);
    const tlb = makeTlb();
    fillTlb(tlb, ram, root, levels, hot);
    time("W1", va, () => runW1(tlb, ram, root, levels, va, n));
  }
  if (which.includes("W2")) {
    const va = walkStream(levels, n);
    time("W2", va, () => runW2(ram, root, levels, va, n));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
