// Access rights (SDM Vol. 3A 4.6) and the page-fault error code (4.7), decided in one place for
// walks and for TLB hits. A TLB entry caches rights (R/W and U/S ANDed over the levels, XD ORed,
// the protection key, D); its ALLOW bits say which of the eight access kinds those rights
// permit under the current registers, from two small tables recomputed when the registers
// that rights depend on change (WP, SMEP, SMAP, NXE, PKE, PKRU).

import { ACC_AC, ACC_FETCH, ACC_USER, ACC_WRITE, PF_ID, PF_P, PF_PK, PF_US, PF_WR, PTE_PK_SHIFT } from "./x86";
import { RIGHT_U, RIGHT_W, RIGHT_XD, nxe, pke, pkru, smap, smep, wp } from "./state";

// ALLOW bits: one per access kind (accessIndex()).
export const ALLOW_KINDS: u32 = 8;

/** Index 0..7 of an access kind in the ALLOW bits. */
@inline export function accessIndex(access: u32): u32 {
  if (access & ACC_USER) return 5 + ((access & ACC_FETCH) ? 2 : (access & ACC_WRITE));
  if (access & ACC_FETCH) return 2;
  return ((access & ACC_AC) ? 3 : 0) + (access & ACC_WRITE);
}

/** The access whose ALLOW bit is i (inverse of accessIndex). */
@inline export function accessOfIndex(i: u32): u32 {
  if (i >= 5) return ACC_USER | (i == 7 ? ACC_FETCH : i == 6 ? ACC_WRITE : 0);
  if (i == 2) return ACC_FETCH;
  return (i >= 3 ? ACC_AC : 0) | ((i == 1 || i == 4) ? ACC_WRITE : 0);
}

/** Error-code bits that describe the access itself (W/R, U/S, I/D). */
@inline export function accessBits(access: u32): u32 {
  let ec: u32 = 0;
  if (access & ACC_WRITE) ec |= PF_WR;
  if (access & ACC_USER) ec |= PF_US;
  // I/D is reported only when execute rights are enforced: SMEP, or PAE-style paging with NXE.
  if ((access & ACC_FETCH) && (smep || nxe)) ec |= PF_ID;
  return ec;
}

/**
 * Access-rights check of SDM 4.6 on the accumulated rights. Returns 0 if allowed, else the
 * error code of the protection fault (P=1, and PK where a protection key forbids the access).
 */
@inline export function rightsFault(rights: u32, leaf: u64, access: u32): u32 {
  const user = (access & ACC_USER) != 0;
  const write = (access & ACC_WRITE) != 0;
  const fetch = (access & ACC_FETCH) != 0;
  const userAddr = (rights & RIGHT_U) != 0;
  const writable = (rights & RIGHT_W) != 0;
  let denied = false;
  // XD forbids execution only while EFER.NXE = 1: a cached XD stops counting when NXE is cleared.
  const xd = nxe && (rights & RIGHT_XD) != 0;
  if (user) {
    denied = !userAddr || (write && !writable) || (fetch && xd);
  } else if (fetch) {
    denied = (userAddr && smep) || xd;
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

// ALLOW bits by cached rights (RIGHT_W | RIGHT_U | RIGHT_XD, plus 8 if dirty), and the data
// accesses to user pages that each protection key's PKRU bits deny; both follow the registers
// (refreshed by rederiveAllow()).
const allowByRights = memory.data(16 * 4);
const pkDeny = memory.data(16 * 4);

let allowKey: u64 = <u64>-1; // the registers the tables were computed for

/** Recomputes the two tables from rightsFault() if the registers changed since. */
export function refreshAllowTables(): void {
  const key = (<u64>pkru << 8) | (wp ? 1 : 0) | (smep ? 2 : 0) | (smap ? 4 : 0) | (nxe ? 8 : 0) | (pke ? 16 : 0);
  if (key != allowKey) computeAllowTables();
}

/** Recomputes the two tables from rightsFault() under the current registers. */
function computeAllowTables(): void {
  allowKey = (<u64>pkru << 8) | (wp ? 1 : 0) | (smep ? 2 : 0) | (smap ? 4 : 0) | (nxe ? 8 : 0) | (pke ? 16 : 0);
  for (let r: u32 = 0; r < 16; r++) {
    let allow: u32 = 0;
    for (let i: u32 = 0; i < ALLOW_KINDS; i++) {
      const access = accessOfIndex(i);
      if ((access & ACC_WRITE) && !(r & 8)) continue; // a clean page walks on its first write
      if (rightsFault(r & 7, 0, access) == 0) allow |= 1 << i;
    }
    store<u32>(allowByRights + <usize>r * 4, allow);
  }
  for (let k: u32 = 0; k < 16; k++) {
    let deny: u32 = 0;
    if (pke) {
      for (let i: u32 = 0; i < ALLOW_KINDS; i++) {
        // rightsFault of a user, writable, dirty page with key k: only the key can deny.
        if (rightsFault(RIGHT_W | RIGHT_U, <u64>k << PTE_PK_SHIFT, accessOfIndex(i)) & PF_PK) deny |= 1 << i;
      }
    }
    store<u32>(pkDeny + <usize>k * 4, deny);
  }
}

/** ALLOW bits of a TLB entry: the accesses its cached rights permit without a walk. */
@inline export function allowBits(rights: u32, pk: u32, dirty: bool): u32 {
  const allow = load<u32>(allowByRights + <usize>((rights & 7) | (dirty ? 8 : 0)) * 4);
  return (rights & RIGHT_U) ? allow & ~load<u32>(pkDeny + <usize>pk * 4) : allow;
}
