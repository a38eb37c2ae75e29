// QEMU monitor listings (`info tlb`, `info mem`) of a Machine's address space, byte for byte as
// QEMU 7.2 prints them (target/i386/monitor.c), so captures can be compared line by line.

import type { Mapping, PagingMode, Range } from "../machine/machine.js";

const hex16 = (v: bigint) => v.toString(16).padStart(16, "0");

/** QEMU prints `entry & mask`, the mask depending on mode and page size. */
function physMask(mode: PagingMode, size: number): bigint {
  if (mode === "4-level" || mode === "5-level") return 0x0003fffffffff000n & ~BigInt(size - 1);
  if (mode === "pae") return size === 4096 ? 0xfffffffffffff000n : 0xfffffffffff00000n;
  return size === 4096 ? 0xfffff000n : 0xffe00000n;
}

const FLAGS: Array<[bigint, string]> = [
  [63n, "X"], [8n, "G"], [7n, "P"], [6n, "D"], [5n, "A"], [4n, "C"], [3n, "T"], [2n, "U"], [1n, "W"],
];

/** One `info tlb` line: `va: phys XGPDACTUW`, flags of the leaf entry only. */
export function qemuTlbLine(m: Mapping, mode: PagingMode): string {
  // QEMU clears bit 7 of 4 KiB PTEs (PAT there), so P marks exactly the large pages.
  const entry = m.size === 4096 ? m.entry & ~0x80n : m.entry;
  const flags = FLAGS.map(([bit, c]) => ((entry >> bit) & 1n ? c : "-")).join("");
  return `${hex16(m.va)}: ${hex16(entry & physMask(mode, m.size))} ${flags}`;
}

/** One `info mem` line: `start-end length [u-]r[w-]`. */
export function qemuMemLine(r: Range): string {
  const end = BigInt.asUintN(64, r.end);
  return `${hex16(r.start)}-${hex16(end)} ${hex16(r.end - r.start)} ${r.user ? "u" : "-"}r${r.write ? "w" : "-"}`;
}

export function qemuInfoTlb(mappings: Mapping[], mode: PagingMode): string {
  return mappings.map((m) => qemuTlbLine(m, mode) + "\n").join("");
}

export function qemuInfoMem(ranges: Range[]): string {
  return ranges.map((r) => qemuMemLine(r) + "\n").join("");
}
