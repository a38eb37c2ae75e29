// Machine state that lives in WebAssembly: where RAM and the emulator's own blocks sit in
// linear memory, the control registers, and the geometry of the current paging mode.
//
//   0                 static data of this module (a few KiB)
//   ctrlBase          control block: translate result (RES_*), inline-path words (CTRL_*),
//                     counters (STAT_*)
//   ...               other emulator blocks (dump buffer, batch buffers, TLB, frame table),
//                     placed by the facade (src/wasm/core.ts LayoutPlan) and handed to init()
//   ramBase           guest RAM: byte p is physical address p, ramSize bytes
//   ramBase+ramSize   end of linear memory
//
// Guest physical addresses are u64; any access at or past ramSize is "non-existent memory":
// reads give all ones (as on a PC bus with nothing behind it), writes are dropped.

import {
  CR0_PG, CR0_WP, CR4_LA57, CR4_PAE, CR4_PKE, CR4_PSE, CR4_SMAP, CR4_SMEP, CR4_PCIDE, CR4_PGE,
  EFER_LME, EFER_NXE, MODE_32, MODE_4L, MODE_5L, MODE_OFF, MODE_PAE, PTE_P, PTE_PS, PTE_XD,
} from "./x86";

export let ramBase: usize = 0;
export let ramSize: u64 = 0;
export let ctrlBase: usize = 0;
export let physAddrBits: u32 = 46; // MAXPHYADDR

// Control block (at ctrlBase). The result of the last translate:
export const RES_STATUS: usize = 0; //     u32: ST_OK / ST_PF / ST_GP
export const RES_ERROR: usize = 4; //      u32: page-fault error code
export const RES_PA: usize = 8; //         u64: physical address
export const RES_LEAF: usize = 16; //      u64: the leaf entry as it was read (before A/D were set)
export const RES_SHIFT: usize = 24; //     u32: log2 of the page size (12, 21, 22 or 30)
export const RES_LEVEL: usize = 28; //     u32: level of the leaf (1 = PTE) or of the faulting entry
export const RES_MEMREFS: usize = 32; //   u32: paging-structure reads made by this walk
export const RES_RIGHTS: usize = 36; //    u32: RIGHT_* effective rights of the translation
export const RES_HIT: usize = 40; //       u32: 1 if a TLB entry answered (no walk)
// What JavaScript's inline TLB hit path reads (and writes: CTRL_TICK) in the control block:
export const CTRL_TICK: usize = 44; //     u32: LRU clock of the TLB structures (assembly/tlb.ts touch())
export const CTRL_KEY: usize = 48; //      u32: w1 of a valid entry of the current PCID, tag bits 0
export const CTRL_HI_MASK: usize = 52; //  u32: linear-address bits 63:32 that are part of the tag
export const CTRL_TOP_SHIFT: usize = 56; // u32: shift of va bits 63:32 leaving the sign-extension bits
export const CTRL_TOP_NEG: i32 = 60; //    i32: what those bits may be besides 0 (-1, or 0 in 32-bit modes)
/** A CTRL_KEY no entry matches (bit 13 of w1 is never compared): paging off, or a destroyed Machine. */
export const CTRL_NO_KEY: u32 = 0x2000;
// Counters, u64 each, from ctrlBase + STATS:
export const STATS: usize = 64;
export const STAT_WALKS: usize = 0;
export const STAT_WALK_MEMREFS: usize = 1;
export const STAT_A_WRITES: usize = 2;
export const STAT_D_WRITES: usize = 3;
export const STAT_PAGE_FAULTS: usize = 4;
export const STAT_GP_FAULTS: usize = 5;
export const STAT_COUNT: usize = 48;

export const RIGHT_W: u32 = 1; // R/W set at every level
export const RIGHT_U: u32 = 2; // U/S set at every level (a user-mode address)
export const RIGHT_XD: u32 = 4; // XD set at some level (with EFER.NXE = 1)
export const RIGHT_G: u32 = 8; // leaf is global

// Control registers as last set (validated by the facade; derived state below).
export let cr0: u64 = 0;
export let cr3: u64 = 0;
export let cr4: u64 = 0;
export let efer: u64 = 0;
export let pkru: u32 = 0;

export let mode: u32 = MODE_OFF;
export let root: u64 = 0; //     physical address of the top table (PAE: of the PDPT)
export let topLevel: u32 = 0; // level of the first entry read from memory (1 = PTE)
export let wp: bool = false;
export let smep: bool = false;
export let smap: bool = false;
export let nxe: bool = false; // XD honoured (PAE, 4- and 5-level only)
export let pke: bool = false; // protection keys honoured (4- and 5-level only)
export let pcide: bool = false;
export let pge: bool = false;

// PAE's four PDPTE registers, loaded from memory when CR3 is written (SDM 4.4.1).
export const pdpte = memory.data(4 * 8);

// Geometry, one record per level 1..5 (level 1 holds PTEs), set from the mode.
//   shift: bit position of the level's index in the linear address
//   mask:  index mask (entries per table - 1)
//   rsvdTable: reserved bits of an entry that references a table (or of a 4 KiB PTE)
//   rsvdLarge: reserved bits of an entry that maps a large page; 0 where none may
const GEO_SIZE: usize = 32;
const geo = memory.data(6 * <i32>GEO_SIZE);
@inline export function geoShift(level: u32): u64 { return <u64>load<u32>(geo + <usize>level * GEO_SIZE, 0); }
@inline export function largeAllowed(level: u32): bool { return load<u32>(geo + <usize>level * GEO_SIZE, 4) != 0; }
@inline export function geoMask(level: u32): u64 { return load<u64>(geo + <usize>level * GEO_SIZE, 8); }
@inline export function geoRsvdTable(level: u32): u64 { return load<u64>(geo + <usize>level * GEO_SIZE, 16); }
@inline export function geoRsvdLarge(level: u32): u64 { return load<u64>(geo + <usize>level * GEO_SIZE, 24); }

function setGeo(level: u32, shift: u32, nBits: u32, rsvdTable: u64, large: bool, rsvdLarge: u64): void {
  const p = geo + <usize>level * GEO_SIZE;
  store<u32>(p, shift, 0);
  store<u32>(p, large ? 1 : 0, 4);
  store<u64>(p, (<u64>1 << nBits) - 1, 8);
  store<u64>(p, rsvdTable, 16);
  store<u64>(p, rsvdLarge, 24);
}

/** Index bits of a table level: 10 with 4-byte entries (32-bit paging), else 9 (SDM 4.3-4.5). */
@inline export function idxBits<E>(): u32 { return sizeof<E>() == 4 ? 10 : 9; }

/** Bit position of a level's index in the linear address (level 1 holds PTEs). */
@inline export function levelShift<E>(level: u32): u64 { return 12 + <u64>idxBits<E>() * <u64>(level - 1); }

/** Bits hi..lo set. */
@inline export function bits(hi: u32, lo: u32): u64 {
  return ((<u64>-1) >>> (63 - hi)) & ((<u64>-1) << lo);
}

/** Reserved bits of a PAE PDPTE: 2:1, 8:5 and 63:MAXPHYADDR (SDM Table 4-8). */
@inline export function pdpteReserved(): u64 {
  return bits(2, 1) | bits(8, 5) | bits(63, physAddrBits);
}

/** Derives mode and geometry from the control registers. */
function setGeometry(): void {
  const m = physAddrBits;
  if (mode == MODE_32) {
    // 4-byte entries, 10+10 bits. With CR4.PSE a PDE may map 4 MiB; PSE-36 puts physical
    // address bits (M-1):32 in bits (M-20):13 (M capped at 40), leaving 21:(M-19) reserved.
    const m40 = m < 40 ? m : 40;
    setGeo(1, <u32>levelShift<u32>(1), idxBits<u32>(), 0, false, 0);
    setGeo(2, <u32>levelShift<u32>(2), idxBits<u32>(), 0, (cr4 & CR4_PSE) != 0, bits(21, m40 - 19));
    topLevel = 2;
    return;
  }
  const xd: u64 = nxe ? 0 : PTE_XD;
  if (mode == MODE_PAE) {
    // PAE entries reserve 62:M (no ignored high bits, unlike IA-32e paging).
    const r = bits(62, m) | xd;
    setGeo(1, <u32>levelShift<u64>(1), idxBits<u64>(), r, false, 0);
    setGeo(2, <u32>levelShift<u64>(2), idxBits<u64>(), r, true, r | bits(20, 13));
    setGeo(3, <u32>levelShift<u64>(3), 2, pdpteReserved(), false, 0);
    topLevel = 2;
    return;
  }
  // IA-32e: 9 bits per level, reserved 51:M; PS is reserved in PML4Es and PML5Es.
  const r = (m < 52 ? bits(51, m) : 0) | xd;
  for (let l: u32 = 1; l <= 5; l++) {
    // PDEs map 2 MiB and PDPTEs 1 GiB pages; PS is reserved in PML4Es and PML5Es.
    // (in a PTE, bit 7 is PAT).
    const large = l == 2 || l == 3;
    setGeo(l, <u32>levelShift<u64>(l), idxBits<u64>(), l >= 4 ? r | PTE_PS : r, large, large ? r | bits(<u32>levelShift<u64>(l) - 1, 13) : 0);
  }
  topLevel = mode == MODE_5L ? 5 : 4;
}

/** Paging mode the registers select (SDM Table 4-1). */
export function modeOf(cr0v: u64, cr4v: u64, eferv: u64): u32 {
  if (!(cr0v & CR0_PG)) return MODE_OFF;
  if (!(cr4v & CR4_PAE)) return MODE_32;
  if (!(eferv & EFER_LME)) return MODE_PAE;
  return (cr4v & CR4_LA57) ? MODE_5L : MODE_4L;
}

/** Reads a guest-physical u64; all ones outside RAM. */
@inline export function readPhys64(pa: u64): u64 {
  if (pa > ramSize - 8) return <u64>-1;
  return load<u64>(ramBase + <usize>pa);
}

/** Reads a guest-physical u32; all ones outside RAM. */
@inline export function readPhys32(pa: u64): u32 {
  if (pa > ramSize - 4) return <u32>-1;
  return load<u32>(ramBase + <usize>pa);
}

/** True if the four PDPTEs at cr3 (PAE) would load: no reserved bit in a present entry. */
export function pdptesValid(cr3v: u64): bool {
  const base = cr3v & 0xFFFFFFE0;
  const rsvd = pdpteReserved();
  for (let i: u64 = 0; i < 4; i++) {
    const e = readPhys64(base + i * 8);
    if ((e & PTE_P) && (e & rsvd)) return false;
  }
  return true;
}

/**
 * Loads the control registers (already checked by the facade) and derives the paging mode.
 * In PAE mode the PDPTEs are loaded from CR3; returns false and changes nothing if one is
 * invalid (the #GP of MOV CR3).
 */
export function setControl(ncr0: u64, ncr3: u64, ncr4: u64, nefer: u64, npkru: u32, loadPdpte: bool): bool {
  const nmode = modeOf(ncr0, ncr4, nefer);
  if (nmode == MODE_PAE && loadPdpte) {
    if (!pdptesValid(ncr3)) return false;
    const base = ncr3 & 0xFFFFFFE0;
    for (let i: u64 = 0; i < 4; i++) store<u64>(pdpte + <usize>i * 8, readPhys64(base + i * 8));
  }
  cr0 = ncr0; cr3 = ncr3; cr4 = ncr4; efer = nefer; pkru = npkru;
  mode = nmode;
  wp = (cr0 & CR0_WP) != 0;
  smep = (cr4 & CR4_SMEP) != 0;
  smap = (cr4 & CR4_SMAP) != 0;
  nxe = mode >= MODE_PAE && (efer & EFER_NXE) != 0;
  pke = mode >= MODE_4L && (cr4 & CR4_PKE) != 0;
  pcide = mode >= MODE_4L && (cr4 & CR4_PCIDE) != 0;
  pge = (cr4 & CR4_PGE) != 0;
  if (mode == MODE_32) root = cr3 & 0xFFFFF000;
  else if (mode == MODE_PAE) root = cr3 & 0xFFFFFFE0;
  else root = cr3 & bits(51, 12);
  if (mode != MODE_OFF) setGeometry();
  else topLevel = 0;
  return true;
}

/** Where things are; called once by the facade after it sized linear memory. */
export function init(ctrl: usize, ram: usize, ramBytes: u64, maxPhys: u32): void {
  ctrlBase = ctrl;
  ramBase = ram;
  ramSize = ramBytes;
  physAddrBits = maxPhys;
  memory.fill(ctrlBase, 0, STATS + STAT_COUNT * 8);
}

@inline export function statAdd(index: usize, n: u64): void {
  const p = ctrlBase + STATS + index * 8;
  store<u64>(p, load<u64>(p) + n);
}

/** End of this module's static data: the facade places its blocks above it. */
export function heapBase(): usize {
  return __heap_base;
}
