// Page-table dumps of a Machine's current address space: Linux's arch/x86/mm/dump_pagetables.c
// style (entries of equal flags, effective rights and level merged into one line, holes
// included), QEMU's `info tlb` / `info mem`, or JSON.

import { CORE, type Machine, type PagingMode } from "../machine/machine.js";
import { qemuInfoMem, qemuInfoTlb } from "./qemu-format.js";

export type PtdumpFormat = "linux" | "qemu-tlb" | "qemu-mem" | "json";
export const PTDUMP_FORMATS: readonly PtdumpFormat[] = ["linux", "qemu-tlb", "qemu-mem", "json"];

/** A named start of an address-space region, printed as `---[ name ]---` (Linux's markers). */
export interface Marker {
  start: bigint;
  name: string;
}

/** One merged run of entries, as a line of Linux's dump. */
export interface PtdumpRange {
  /** Marker headers printed before this range. */
  markers: string[];
  start: bigint;
  /** Exclusive; 2^64 (or 2^32) for the last range. */
  end: bigint;
  /** Linux's name of the level whose entries make up the range: pgd, p4d, pud, pmd or pte. */
  level: string;
  present: boolean;
  /** The entries' flag bits (Linux's PTE_FLAGS_MASK; bit 12 too for large pages: PAT). */
  flags: bigint;
  /** Effective rights over all levels (false for holes). */
  user: boolean;
  write: boolean;
  execute: boolean;
}

export interface PtdumpOptions {
  /** Region markers (default: Linux's "User Space" and "Kernel Space"/"Kernel Mapping"). */
  markers?: Marker[];
}

// Mirrors assembly/dump.ts and assembly/state.ts.
const DUMP_RECORD = 32, DUMP_RECORDS = 2048, DUMP_HOLE = 0x100;
const RIGHT_W = 1, RIGHT_U = 2, RIGHT_XD = 4;

const RW = 2n, US = 4n, PWT = 8n, PCD = 0x10n, PS = 0x80n, G = 0x100n, PAT_LARGE = 0x1000n;
const XD = 1n << 63n;

/** Linux's level names, indexed by hardware level (1 = PTE): a folded top level is not named. */
const LEVEL_NAMES = ["", "pte", "pmd", "pud", "p4d", "pgd"];

const is64 = (mode: PagingMode) => mode === "4-level" || mode === "5-level";

/** Linux's markers for user and kernel space: PAGE_OFFSET 0xc0000000 on i386 (VMSPLIT_3G). */
export function defaultMarkers(mode: PagingMode): Marker[] {
  return is64(mode)
    ? [{ start: 0n, name: "User Space" }, { start: 1n << 63n, name: "Kernel Space" }]
    : [{ start: 0n, name: "User Space" }, { start: 0xc0000000n, name: "Kernel Mapping" }];
}

/**
 * The address space as Linux's ptdump walks it: every entry that maps a page or nothing, in
 * address order, runs of equal flags, effective rights and level merged. The non-canonical gap
 * of long mode counts as a hole at the top level.
 */
export function ptdumpRanges(machine: Machine, options: PtdumpOptions = {}): PtdumpRange[] {
  const mode = machine.mode;
  if (mode === "off") return [];
  const { exports, memory, blocks } = machine[CORE];
  const dump = blocks.dump!.offset;
  const view = new DataView(memory.buffer);
  const wide = mode !== "32-bit";
  const top = mode === "5-level" ? 5 : mode === "4-level" ? 4 : mode === "pae" ? 3 : 2;
  const spaceEnd = is64(mode) ? 1n << 64n : 1n << 32n;
  const lowerEnd = mode === "5-level" ? 1n << 56n : 1n << 47n;
  const markers = [...(options.markers ?? defaultMarkers(mode))].sort((a, b) => (a.start < b.start ? -1 : 1));

  const out: PtdumpRange[] = [];
  let cur: PtdumpRange | undefined;
  let nextMarker = 0;
  // The current run as numbers (page-aligned addresses are exact as doubles), so that most
  // entries, which extend the run, cost no BigInt.
  let markerAt = markers.length ? Number(markers[0]!.start) : Infinity;
  let runLo = -1, runHi = 0, runLevel = 0, runRights = -1;
  let gap = is64(mode);
  // Linux's note_page: a new line starts when flags, effective rights, level or marker change.
  const note = (hi: number, lo: number, level: number, fHi: number, fLo: number, rights: number) => {
    const at = hi * 2 ** 32 + lo;
    if (cur && at < markerAt && fLo === runLo && fHi === runHi && level === runLevel && rights === runRights) return;
    const start = (BigInt(hi) << 32n) | BigInt(lo);
    if (cur) cur.end = start;
    const names: string[] = [];
    while (nextMarker < markers.length && markers[nextMarker]!.start <= start) names.push(markers[nextMarker++]!.name);
    markerAt = nextMarker < markers.length ? Number(markers[nextMarker]!.start) : Infinity;
    const present = rights >= 0;
    cur = {
      markers: names, start, end: spaceEnd, level: LEVEL_NAMES[level]!, present,
      flags: (BigInt(fHi) << 32n) | BigInt(fLo),
      user: present && (rights & RIGHT_U) !== 0,
      write: present && (rights & RIGHT_W) !== 0,
      execute: present && (rights & RIGHT_XD) === 0,
    };
    out.push(cur);
    runLo = fLo; runHi = fHi; runLevel = level; runRights = rights;
  };

  const words = new Uint32Array(memory.buffer);
  exports.dumpStartAll();
  for (;;) {
    const n = exports.dumpNext(dump, DUMP_RECORDS);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const w = (dump + i * DUMP_RECORD) >> 2;
      const lo = words[w]!, hi = words[w + 1]!, eLo = words[w + 4]!, eHi = words[w + 5]!, rights = words[w + 7]!;
      const level = (rights >> 16) & 0xff;
      if (gap && hi >= 0x80000000) {
        gap = false;
        note(Number(lowerEnd >> 32n), 0, top, 0, 0, -1);
      }
      const hole = (rights & DUMP_HOLE) !== 0;
      // Flag bits: Linux's PTE_FLAGS_MASK, and bit 12 (PAT) of a large page.
      const fLo = (eLo & 0xfff) | (!hole && level > 1 ? eLo & 0x1000 : 0);
      const fHi = wide ? (eHi & 0xfff00000) >>> 0 : 0;
      note(hi, lo, level, fHi, fLo, hole ? -1 : rights & (RIGHT_U | RIGHT_W | RIGHT_XD));
    }
  }
  return out;
}

/** The size column of Linux's dump: `%9lu%c` in the largest unit that divides the size. */
function sizeColumn(bytes: bigint): string {
  const units = "BKMGTPE";
  let u = 0;
  while (bytes % 1024n === 0n && bytes !== 0n && u < units.length - 1) {
    bytes /= 1024n;
    u++;
  }
  return bytes.toString().padStart(9) + units[u];
}

/** Linux's printk_prot for a range's flags. */
function protColumn(r: PtdumpRange): string {
  if (!r.present) return " ".repeat(30);
  const f = r.flags;
  const on = (bit: bigint) => (f & bit) !== 0n;
  const large = r.level !== "pte";
  return (
    (on(US) ? "USR " : "    ") +
    (on(RW) ? "RW " : "ro ") +
    (on(PWT) ? "PWT " : "    ") +
    (on(PCD) ? "PCD " : "    ") +
    (large && on(PS) ? "PSE " : "    ") +
    ((large ? on(PAT_LARGE) : on(PS)) ? "PAT " : "    ") +
    (on(G) ? "GLB " : "    ") +
    (on(XD) ? "NX " : "x  ")
  );
}

/** Linux's dump_pagetables text for ranges of a mode (addresses 16 hex digits, 8 in 32-bit modes). */
export function formatLinux(ranges: PtdumpRange[], mode: PagingMode): string {
  const width = is64(mode) ? 16 : 8;
  const mask = is64(mode) ? (1n << 64n) - 1n : 0xffffffffn;
  const hex = (v: bigint) => "0x" + (v & mask).toString(16).padStart(width, "0");
  let s = "";
  for (const r of ranges) {
    for (const m of r.markers) s += `---[ ${m} ]---\n`;
    s += `${hex(r.start)}-${hex(r.end)}   ${sizeColumn(r.end - r.start)} ${protColumn(r)}${r.level}\n`;
  }
  return s;
}

const hex = (v: bigint) => "0x" + v.toString(16);

/** A JSON document of the dump: registers, mode, merged ranges and QEMU-style leaves. */
export function ptdumpJson(machine: Machine, options: PtdumpOptions = {}): string {
  const regs = machine.registers();
  const ranges = ptdumpRanges(machine, options).map((r) => ({
    ...(r.markers.length ? { markers: r.markers } : {}),
    start: hex(r.start),
    end: hex(r.end),
    bytes: hex(r.end - r.start),
    level: r.level,
    present: r.present,
    ...(r.present ? { flags: hex(r.flags), user: r.user, write: r.write, execute: r.execute } : {}),
  }));
  const mappings = machine.mappings().map((m) => ({
    va: hex(m.va), pa: hex(m.pa), size: m.size, entry: hex(m.entry), user: m.user, write: m.write, execute: m.execute,
  }));
  return JSON.stringify({ mode: machine.mode, cr3: hex(regs.cr3), ranges, mappings }, null, 1) + "\n";
}

/** The dump of the machine's current address space in one of PTDUMP_FORMATS. */
export function ptdump(machine: Machine, format: PtdumpFormat = "linux", options: PtdumpOptions = {}): string {
  switch (format) {
    case "linux": return formatLinux(ptdumpRanges(machine, options), machine.mode);
    case "qemu-tlb": return qemuInfoTlb(machine.mappings(), machine.mode);
    case "qemu-mem": return qemuInfoMem(machine.ranges());
    case "json": return ptdumpJson(machine, options);
    default: throw new RangeError(`format must be one of ${PTDUMP_FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  }
}
