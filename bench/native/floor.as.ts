// AssemblyScript: the least WebAssembly an emulator could call for a TLB hit, so that the
// product's per-address call and batch have a same-run floor (issue 10 states those targets
// against a minimal AssemblyScript prototype). bench/native.bench.ts compiles this with
// asc -O3 in memory. The TLB is mmu.mjs makeTlb()'s, copied in by the host: 4096 entries of
// 4 u32 {VPN low, VPN high, frame, rights (bit 1 U)}. No walk: a miss returns -1 (or stops
// the batch), and the streams measured hit every time.

const TLB: usize = 65536; //  4096 entries x 16 bytes
const VAS: usize = 131072; // batch: 4096 (low, high) u32 pairs
const PAS: usize = 163840; // batch: 4096 u64 physical addresses

const ACCESS_USER: u32 = 2; // the product's ACCESS_USER; also the entry's U bit here

/** The TLB entry that maps (lo, hi) for this access (only ACCESS_USER is checked), or 0. */
@inline function entryFor(lo: u32, hi: u32, access: u32): usize {
  const vpnLo = (lo >>> 12) | (hi << 20);
  const e = TLB + (<usize>(vpnLo & 4095) << 4);
  const need = access & ACCESS_USER;
  if (load<u32>(e) == vpnLo && load<u32>(e, 4) == hi >>> 12 && (load<u32>(e, 12) & need) == need) return e;
  return 0;
}

/** One call per address, with the product's (low, high, access) arguments: the physical
 * address as a number, or -1. */
export function translate(lo: u32, hi: u32, access: u32): f64 {
  const e = entryFor(lo, hi, access);
  return e ? <f64>load<u32>(e, 8) * 4096 + <f64>(lo & 0xfff) : -1;
}

/** Batch of user reads: translates VAS[start .. n) into PAS; the index of the first miss, or n. */
export function batch(n: u32, start: u32): u32 {
  for (let i = start; i < n; i++) {
    const p = VAS + (<usize>i << 3);
    const lo = load<u32>(p);
    const e = entryFor(lo, load<u32>(p, 4), ACCESS_USER);
    if (!e) return i;
    store<u64>(PAS + (<usize>i << 3), (<u64>load<u32>(e, 8) << 12) | <u64>(lo & 0xfff));
  }
  return n;
}
