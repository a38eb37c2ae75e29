// The page walk: one loop for every paging mode, driven by the geometry in state.ts and
// generic over the entry type (u32 for 32-bit paging, u64 otherwise). SDM Vol. 3A 4.3-4.7.
//
// Rights accumulate as in QEMU's mmu_translate: R/W and U/S are ANDed over the levels, XD is
// ORed; the fault is decided once, after the leaf. Nothing is written unless the access is
// allowed: then Accessed is set in every entry used and Dirty in the leaf on a write.

import {
  ACC_AC, ACC_FETCH, ACC_PROBE, ACC_USER, ACC_WRITE, MODE_32, MODE_4L, MODE_5L, MODE_OFF, MODE_PAE,
  PF_ID, PF_P, PF_PK, PF_RSVD, PF_US, PF_WR, PTE_A, PTE_D, PTE_G, PTE_P, PTE_PK_SHIFT, PTE_PS,
  PTE_RW, PTE_US, PTE_XD, ST_GP, ST_OK, ST_PF,
} from "./x86";
import {
  RES_ERROR, RES_LEAF, RES_LEVEL, RES_MEMREFS, RES_PA, RES_RIGHTS, RES_SHIFT, RES_STATUS,
  RIGHT_G, RIGHT_U, RIGHT_W, RIGHT_XD, STAT_A_WRITES, STAT_D_WRITES, STAT_GP_FAULTS,
  STAT_PAGE_FAULTS, STAT_WALKS, STAT_WALK_MEMREFS, bits, ctrlBase, geoMask, geoRsvdLarge,
  geoRsvdTable, geoShift, largeAllowed, mode, nxe, pdpte, physAddrBits, pke, pkru, ramBase,
  ramSize, root, smap, smep, statAdd, topLevel, wp,
} from "./state";

// Physical address of each entry the current walk read, by level, for the A/D pass.
const walkEntryPA = memory.data(8 * 6);

/** Table-address bits of a non-leaf entry. */
@inline export function tableAddr<E>(entry: u64): u64 {
  return sizeof<E>() == 4 ? entry & 0xFFFFF000 : entry & bits(51, 12);
}

/** Reads an entry from guest RAM; all ones if it lies outside RAM. */
@inline export function readEntry<E>(pa: u64): u64 {
  if (pa > ramSize - sizeof<E>()) return sizeof<E>() == 4 ? <u64>0xFFFFFFFF : <u64>-1;
  return <u64>load<E>(ramBase + <usize>pa);
}

/** ORs bits into an entry in guest RAM (A/D updates); dropped outside RAM. */
@inline function setEntryBits<E>(pa: u64, set: u64): void {
  if (pa > ramSize - sizeof<E>()) return;
  const p = ramBase + <usize>pa;
  store<E>(p, load<E>(p) | <E>set);
}

/** Base physical address of the page a leaf maps. */
@inline export function leafBase<E>(entry: u64, level: u32, shift: u64): u64 {
  if (sizeof<E>() == 4) {
    if (level == 1) return entry & 0xFFFFF000;
    // 4 MiB page: PSE-36 high address bits (M-1):32 sit in entry bits (M-20):13.
    const m = physAddrBits < 40 ? physAddrBits : 40;
    return (entry & 0xFFC00000) | (((entry >> 13) & ((<u64>1 << (m - 32)) - 1)) << 32);
  }
  return entry & bits(51, 12) & ~((<u64>1 << shift) - 1);
}

/** Error-code bits that describe the access itself (W/R, U/S, I/D). */
@inline function accessBits(access: u32): u32 {
  let ec: u32 = 0;
  if (access & ACC_WRITE) ec |= PF_WR;
  if (access & ACC_USER) ec |= PF_US;
  // I/D is reported only when execute rights are enforced: SMEP, or PAE-style paging with NXE.
  if ((access & ACC_FETCH) && (smep || nxe)) ec |= PF_ID;
  return ec;
}

@inline function pageFault(errorCode: u32, level: u32, memRefs: u32, access: u32): u32 {
  const c = ctrlBase;
  store<u32>(c + RES_STATUS, ST_PF);
  store<u32>(c + RES_ERROR, errorCode);
  store<u32>(c + RES_LEVEL, level);
  store<u32>(c + RES_MEMREFS, memRefs);
  if (!(access & ACC_PROBE)) {
    statAdd(STAT_WALKS, 1);
    statAdd(STAT_WALK_MEMREFS, memRefs);
    statAdd(STAT_PAGE_FAULTS, 1);
  }
  return ST_PF;
}

/**
 * Access-rights check of SDM 4.6 on the accumulated rights. Returns 0 if allowed, else the
 * error code of the protection fault (P=1, and PK where a protection key forbids the access).
 */
@inline function rightsFault(rights: u32, leaf: u64, access: u32): u32 {
  const user = (access & ACC_USER) != 0;
  const write = (access & ACC_WRITE) != 0;
  const fetch = (access & ACC_FETCH) != 0;
  const userAddr = (rights & RIGHT_U) != 0;
  const writable = (rights & RIGHT_W) != 0;
  let denied = false;
  if (user) {
    denied = !userAddr || (write && !writable) || (fetch && (rights & RIGHT_XD) != 0);
  } else if (fetch) {
    denied = (userAddr && smep) || (rights & RIGHT_XD) != 0;
  } else {
    denied = (userAddr && smap && !(access & ACC_AC)) || (write && wp && !writable);
  }
  // Protection keys: data accesses to user-mode addresses, in IA-32e paging with CR4.PKE.
  let pk: u32 = 0;
  if (pke && userAddr && !fetch) {
    const key = <u32>((leaf >> PTE_PK_SHIFT) & 15);
    const ad = (pkru >> (2 * key)) & 1;
    const wd = (pkru >> (2 * key + 1)) & 1;
    if (ad || (wd && write && (user || wp))) pk = PF_PK;
  }
  if (!denied && !pk) return 0;
  return PF_P | pk | accessBits(access);
}

/**
 * Walks the tables for linear address va. Writes the result block and returns ST_OK or ST_PF.
 * The caller has checked canonicality and that paging is on.
 */
export function walk<E>(va: u64, access: u32): u32 {
  let level = topLevel;
  let table = root;
  let memRefs: u32 = 0;
  let andBits: u64 = PTE_RW | PTE_US; // AND of R/W and U/S over the levels
  let orXd: u64 = 0; //                  OR of XD over the levels
  if (sizeof<E>() == 8 && mode == MODE_PAE) {
    // The PDPTE comes from the registers loaded at MOV CR3: no memory read, no rights.
    const e = load<u64>(pdpte + <usize>((va >> 30) & 3) * 8);
    if (!(e & PTE_P)) return pageFault(accessBits(access), 3, 0, access);
    table = e & bits(51, 12);
  }
  let entry: u64 = 0;
  let shift: u64 = 0;
  while (true) {
    shift = geoShift(level);
    const pa = table + ((va >> shift) & geoMask(level)) * sizeof<E>();
    entry = readEntry<E>(pa);
    memRefs++;
    store<u64>(walkEntryPA + <usize>level * 8, pa);
    if (!(entry & PTE_P)) return pageFault(accessBits(access), level, memRefs, access);
    const large = level > 1 && (entry & PTE_PS) != 0 && largeAllowed(level);
    const rsvd = large ? geoRsvdLarge(level) : geoRsvdTable(level);
    if (entry & rsvd) return pageFault(PF_P | PF_RSVD | accessBits(access), level, memRefs, access);
    andBits &= entry;
    orXd |= entry;
    if (large || level == 1) break;
    table = tableAddr<E>(entry);
    level--;
  }

  let rights: u32 = <u32>(andBits & (PTE_RW | PTE_US)) >> 1; // RIGHT_W = 1, RIGHT_U = 2
  if (nxe && (orXd & PTE_XD)) rights |= RIGHT_XD;
  if (entry & PTE_G) rights |= RIGHT_G;
  const fault = rightsFault(rights, entry, access);
  if (fault) return pageFault(fault, level, memRefs, access);

  const pageMask: u64 = (<u64>1 << shift) - 1;
  const c = ctrlBase;
  store<u32>(c + RES_STATUS, ST_OK);
  store<u32>(c + RES_ERROR, 0);
  store<u64>(c + RES_PA, leafBase<E>(entry, level, shift) | (va & pageMask));
  store<u64>(c + RES_LEAF, entry);
  store<u32>(c + RES_SHIFT, <u32>shift);
  store<u32>(c + RES_LEVEL, level);
  store<u32>(c + RES_MEMREFS, memRefs);
  store<u32>(c + RES_RIGHTS, rights);
  if (access & ACC_PROBE) return ST_OK;

  statAdd(STAT_WALKS, 1);
  statAdd(STAT_WALK_MEMREFS, memRefs);
  // Accessed in every entry used (top down, as the walk read them); Dirty in the leaf.
  let aWrites: u64 = 0;
  for (let l = topLevel; l >= level; l--) {
    const pa = load<u64>(walkEntryPA + <usize>l * 8);
    let set: u64 = 0;
    const e = l == level ? entry : readEntry<E>(pa);
    if (!(e & PTE_A)) { set = PTE_A; aWrites++; }
    if (l == level && (access & ACC_WRITE) && !(e & PTE_D)) { set |= PTE_D; statAdd(STAT_D_WRITES, 1); }
    if (set) setEntryBits<E>(pa, set);
  }
  if (aWrites) statAdd(STAT_A_WRITES, aWrites);
  return ST_OK;
}

/** Translates va for the given access; see walk(). Checks canonicality first. */
export function translate(va: u64, access: u32): u32 {
  const m = mode;
  if (m == MODE_OFF) {
    const c = ctrlBase;
    store<u32>(c + RES_STATUS, ST_OK);
    store<u32>(c + RES_ERROR, 0);
    store<u64>(c + RES_PA, va & 0xFFFFFFFF);
    store<u64>(c + RES_LEAF, 0);
    store<u32>(c + RES_SHIFT, 12);
    store<u32>(c + RES_LEVEL, 0);
    store<u32>(c + RES_MEMREFS, 0);
    store<u32>(c + RES_RIGHTS, RIGHT_W | RIGHT_U);
    return ST_OK;
  }
  if (m == MODE_32) return walk<u32>(va & 0xFFFFFFFF, access);
  if (m == MODE_PAE) return walk<u64>(va & 0xFFFFFFFF, access);
  // Canonical: bits 63:47 (63:56 with LA57) all equal.
  const s: u64 = m == MODE_5L ? 7 : 16;
  if (<u64>((<i64>(va << s)) >> s) != va) {
    store<u32>(ctrlBase + RES_STATUS, ST_GP);
    store<u32>(ctrlBase + RES_ERROR, 0);
    if (!(access & ACC_PROBE)) statAdd(STAT_GP_FAULTS, 1);
    return ST_GP;
  }
  return walk<u64>(va, access);
}
