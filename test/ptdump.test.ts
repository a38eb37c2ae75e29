// ptdump: QEMU listings byte for byte on every real capture, Linux's dump_pagetables format on
// crafted tables, and the dump's ranges tiling the whole address space.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURES, fixtureNames, loadFixture } from "./fixtures.js";
import { Machine } from "../src/index.js";
import { loadCapture } from "../src/tools/capture.js";
import { runCli } from "./cli.js";
import { formatLinux, ptdump, ptdumpRanges } from "../src/tools/ptdump.js";

const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;

describe.each(fixtureNames())("capture %s", (name) => {
  const f = loadFixture(name);
  const dir = join(FIXTURES, name);

  it("--format qemu-tlb and qemu-mem are byte-identical to QEMU's listings", async () => {
    const m = await loadCapture(dir);
    expect(ptdump(m, "qemu-tlb") === f.tlb).toBe(true);
    // QEMU 7.2 prints nothing for info mem under LA57 (its mem_info_la57 bug).
    if (f.meta.mode !== "x86_64-5level") expect(ptdump(m, "qemu-mem") === f.mem).toBe(true);
  });

  it("Linux-style ranges tile the address space and cover exactly the mapped bytes", async () => {
    const m = await loadCapture(dir);
    const ranges = ptdumpRanges(m);
    const end = m.mode === "4-level" || m.mode === "5-level" ? 1n << 64n : 1n << 32n;
    expect(ranges[0]!.start).toBe(0n);
    expect(ranges.at(-1)!.end).toBe(end);
    const gaps = ranges.filter((r, i) => i > 0 && r.start !== ranges[i - 1]!.end);
    expect(gaps).toEqual([]);
    const mapped = (list: Array<{ present: boolean; start: bigint; end: bigint }>) =>
      list.filter((r) => r.present).reduce((s, r) => s + (r.end - r.start), 0n);
    expect(mapped(ranges)).toBe(m.mappings().reduce((s, x) => s + BigInt(x.size), 0n));
    const text = formatLinux(ranges, m.mode);
    expect(text.split("\n").filter((l) => l.startsWith("0x")).length).toBe(ranges.length);
    expect(text.startsWith("---[ User Space ]---\n")).toBe(true);
  });
});

it("the CLI prints QEMU's info tlb for a capture, byte for byte", () => {
  const f = loadFixture("i386-pae-1");
  const out = execFileSync(process.execPath, [CLI, "ptdump", "--format", "qemu-tlb", join(FIXTURES, "i386-pae-1")], {
    maxBuffer: 1 << 26,
  });
  expect(out.toString("utf8") === f.tlb).toBe(true);
});

it("the CLI refuses an unknown format, naming it", () => {
  const r = runCli(["ptdump", "--format", "bochs", join(FIXTURES, "i386-pae-1")]);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(/^error: option '-f, --format <format>' argument 'bochs' is invalid\. Allowed choices are linux, qemu-tlb, qemu-mem, json\.\n/);
});

/** Writes 64-bit (or 32-bit) entries into guest RAM. */
function put(m: Machine, pa: number, entries: Record<number, bigint>, size: 4 | 8 = 8): void {
  for (const [i, e] of Object.entries(entries)) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, e, true);
    m.writePhysical(BigInt(pa + Number(i) * size), b.subarray(0, size));
  }
}

const P = 1n, RW = 2n, US = 4n, A = 0x20n, PS = 0x80n, G = 0x100n, XD = 1n << 63n;

it("formats a crafted 4-level table like Linux's dump_pagetables", async () => {
  const m = await Machine.create({ ramBytes: 1 << 20 });
  put(m, 0x1000, { 0: 0x2000n | P | RW | US, 511: 0x8000n | P | RW });
  put(m, 0x2000, { 0: 0x3000n | P | RW | US });
  put(m, 0x3000, { 0: 0x4000n | P | RW | US, 1: 0x200000n | P | RW | PS | G });
  put(m, 0x4000, { 0: 0x5000n | P | US, 1: 0x6000n | P | US | RW | XD, 2: 0x7000n | P | US | RW | XD, 3: 0x9000n | P | US | RW | XD | A });
  put(m, 0x8000, { 510: 0x40000000n | P | RW | PS | G });
  expect(m.setRegisters({ cr0: 0x80000001n, cr4: 0x20n, efer: 0x900n, cr3: 0x1000n })).toBeNull();
  expect(ptdump(m)).toBe(
    [
      "---[ User Space ]---",
      "0x0000000000000000-0x0000000000001000           4K USR ro                     x  pte",
      "0x0000000000001000-0x0000000000003000           8K USR RW                     NX pte",
      "0x0000000000003000-0x0000000000004000           4K USR RW                     NX pte",
      "0x0000000000004000-0x0000000000200000        2032K                               pte",
      "0x0000000000200000-0x0000000000400000           2M     RW         PSE     GLB x  pmd",
      "0x0000000000400000-0x0000000040000000        1020M                               pmd",
      "0x0000000040000000-0x0000008000000000         511G                               pud",
      "0x0000008000000000-0xffff800000000000   17179737600G                               p4d",
      "---[ Kernel Space ]---",
      "0xffff800000000000-0xffffff8000000000      130560G                               p4d",
      "0xffffff8000000000-0xffffffff80000000         510G                               pud",
      "0xffffffff80000000-0xffffffffc0000000           1G     RW         PSE     GLB x  pud",
      "0xffffffffc0000000-0x0000000000000000           1G                               pud",
      "",
    ].join("\n"),
  );
});

it("formats a crafted 32-bit table with a 4 MiB page like Linux's dump_pagetables", async () => {
  const m = await Machine.create({ ramBytes: 1 << 20 });
  put(m, 0x1000, { 0: 0x2000n | P | RW | US, 0x300: 0x400000n | P | RW | PS | G }, 4);
  put(m, 0x2000, { 0: 0x3000n | P | US }, 4);
  expect(m.setRegisters({ cr0: 0x80000001n, cr4: 0x10n, cr3: 0x1000n })).toBeNull();
  expect(ptdump(m)).toBe(
    [
      "---[ User Space ]---",
      "0x00000000-0x00001000           4K USR ro                     x  pte",
      "0x00001000-0x00400000        4092K                               pte",
      "0x00400000-0xc0000000        3068M                               pmd",
      "---[ Kernel Mapping ]---",
      "0xc0000000-0xc0400000           4M     RW         PSE     GLB x  pmd",
      "0xc0400000-0x00000000        1020M                               pmd",
      "",
    ].join("\n"),
  );
  expect(ptdump(m, "linux", { markers: [{ start: 0n, name: "All" }] }).split("\n")[0]).toBe("---[ All ]---");
});

it("dumps nothing with paging off and refuses an unknown format", async () => {
  const m = await Machine.create({ ramBytes: 1 << 20 });
  expect(ptdump(m)).toBe("");
  expect(() => ptdump(m, "bochs" as never)).toThrow(RangeError);
});

describe.each(["x86_64-4level", "x86_64-5level", "i386-pae", "i386-2level"] as const)("a Kernel process on %s", (design) => {
  it("shows the process's areas, present and with their rights, and nothing else in user space", async () => {
    const { Kernel } = await import("../src/kernel/kernel.js");
    const kernel = await Kernel.create({ design, ramBytes: 16 << 20 });
    const p = kernel.spawn();
    for (const a of p.maps()) p.touch(a.start, a.end - a.start, (a.prot & 2) !== 0);
    kernel.switchTo(p);
    const user = ptdumpRanges(kernel.machine).filter((r) => r.present && r.start < kernel.userTop);
    // Merge adjacent present ranges of equal rights, as the areas are.
    const merged: Array<{ start: bigint; end: bigint; write: boolean }> = [];
    for (const r of user) {
      const last = merged.at(-1);
      if (last && last.end === r.start && last.write === r.write) last.end = r.end;
      else merged.push({ start: r.start, end: r.end, write: r.write });
    }
    expect(merged).toEqual(p.maps().map((a) => ({ start: a.start, end: a.end, write: (a.prot & 2) !== 0 })));
    expect(user.every((r) => r.user)).toBe(true);
  });
});

it("the CLI dumps a Kernel process, or the process a trace ran on", () => {
  const fresh = execFileSync(process.execPath, [CLI, "ptdump", "--design", "x86_64-4level", "--ram-mib", "16"]).toString();
  expect(fresh).toMatch(/^0x0000000000400000-0x0000000000440000 +256K USR ro +x  pte$/m);
  const trace = new URL("./traces/gzip-20k.lackey.gz", import.meta.url).pathname;
  const tlb = execFileSync(process.execPath, [CLI, "ptdump", "--design", "x86_64-4level", "--ram-mib", "64", "--trace", trace, "--format", "qemu-tlb"]).toString();
  // The 203 pages the trace touched, and the kernel's own mappings above them.
  expect(tlb.split("\n").filter((l) => /^0000/.test(l)).length).toBe(203);
  const none = runCli(["ptdump"]);
  expect(none.status).toBe(1);
  expect(none.stderr).toBe("wasm-mmu: give either a capture folder or --design\n");
});
