// Bad input to the CLI gets a clear error: replay on a file with no lackey access lines or with
// malformed lines (counted, the first one's line number given; fatal with --strict), ptdump on
// a folder that is not a capture (naming the file it expected).
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readLackey } from "../src/tools/lackey.js";
import { MAKE_A_TRACE, replay } from "../src/tools/replay.js";
import { runCli } from "./cli.js";

const dir = mkdtempSync(join(tmpdir(), "wasm-mmu-bad-input-"));
const file = (name: string, data: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
};

/** Bytes from a fixed-seed xorshift: "random bytes", the same on every run. */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe("wasm-mmu replay on a file that is not a trace", () => {
  it("a passwd-like text file: exit 1, no I/L/S/M lines found, and the command that makes a trace", () => {
    const passwd = file("passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n");
    const r = runCli(["replay", "--ram-mib", "16", passwd]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`wasm-mmu: ${passwd}: no lackey access lines (I, L, S or M) in 2 lines; make a trace with: ${MAKE_A_TRACE}\n`);
  });

  it("random bytes: exit 1 with the same message", () => {
    const noise = file("random.bin", randomBytes(1 << 16));
    const r = runCli(["replay", "--ram-mib", "16", noise]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(new RegExp(`^wasm-mmu: ${noise}: no lackey access lines \\(I, L, S or M\\) in \\d+ lines.*; make a trace with: valgrind --tool=lackey --trace-mem=yes`));
  });

  it("an empty file and valgrind's messages alone: exit 1", () => {
    for (const text of ["", "==9737== Lackey, an example Valgrind tool\n==9737== \n"]) {
      const r = runCli(["replay", "--ram-mib", "16", file("only-noise.txt", text)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(": no lackey access lines (I, L, S or M) in ");
    }
  });
});

// Lines 4 (a bad address) and 6 (no size) are malformed; line 3 is valgrind's own.
const MIXED = "I  0401ab70,3\n L 1fff000750,8\n==1== note\n S zz,8\n M 0422f1c8,4\n I 12\n";

describe("malformed lines", () => {
  it("are skipped, counted and the first named on stderr; the table still prints", () => {
    const r = runCli(["replay", "--ram-mib", "16", file("mixed.txt", MIXED)]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("wasm-mmu replay: skipped 2 malformed lines (the first is line 4); --strict makes them an error\n");
    expect(r.stdout).toMatch(/│ accesses +│ 3 +│/);
  });

  it("--strict makes them fatal", () => {
    const path = file("mixed.txt", MIXED);
    const r = runCli(["replay", "--strict", "--ram-mib", "16", path]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`wasm-mmu: ${path}: 2 malformed lines, the first is line 4 (strict)\n`);
  });

  it("a clean trace passes --strict", () => {
    const r = runCli(["replay", "--strict", "--ram-mib", "16", file("clean.txt", "I  0401ab70,3\n L 1fff000750,8\n")]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
  });

  it("the first one's line number is exact far into a trace, across chunks and parse windows, in both parsers", async () => {
    // 200,000 lines (3.4 MB: several 1 MiB parse windows); malformed at lines 150,001 and 180,000.
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) lines.push(i % 1000 === 7 ? "==1== x" : ` L ${(0x400000 + (i % 4096) * 8).toString(16)},8`);
    lines[150_000] = " L 40zz00,8";
    lines[179_999] = "I  401000";
    const text = lines.join("\n") + "\n";
    const chunks = () => Readable.from((function* () {
      for (let at = 0; at < text.length; at += 65_521) yield Buffer.from(text.slice(at, at + 65_521));
    })());
    const general = await readLackey(chunks(), () => {});
    expect(general.malformedLines).toBe(2);
    expect(general.firstMalformedLine).toBe(150_001);
    const report = await replay(chunks(), { ramBytes: 16 << 20 });
    expect(report.malformedLines).toBe(2);
    expect(report.firstMalformedLine).toBe(150_001);
    await expect(replay(chunks(), { ramBytes: 16 << 20, strict: true })).rejects.toThrow(
      new RangeError("trace stream: 2 malformed lines, the first is line 150001 (strict)"),
    );
    const clean = await replay(Readable.from([Buffer.from(" L 400000,8\n")]), { ramBytes: 16 << 20, strict: true });
    expect([clean.malformedLines, clean.firstMalformedLine]).toEqual([0, null]);
    await expect(replay(Readable.from([Buffer.from("x\n")]), { strict: "yes" as never })).rejects.toThrow(TypeError);
  });
});

describe("wasm-mmu ptdump on a folder that is not a capture", () => {
  it("names meta.json when the folder has none", () => {
    const empty = mkdtempSync(join(dir, "empty-"));
    const r = runCli(["ptdump", empty]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`wasm-mmu: ${empty} is not a capture folder: expected ${join(empty, "meta.json")} (a capture holds meta.json and tables.bin.gz)\n`);
  });

  it("names tables.bin.gz when only meta.json is there, and a folder that does not exist", () => {
    const half = mkdtempSync(join(dir, "half-"));
    copyFileSync(new URL("./fixtures/i386-pae-1/meta.json", import.meta.url), join(half, "meta.json"));
    const r = runCli(["ptdump", half]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`wasm-mmu: ${half} is not a capture folder: expected ${join(half, "tables.bin.gz")} (a capture holds meta.json and tables.bin.gz)\n`);
    const gone = join(dir, "no-such-folder");
    expect(runCli(["ptdump", gone]).stderr).toBe(`wasm-mmu: ${gone} is not a capture folder: expected ${join(gone, "meta.json")} (a capture holds meta.json and tables.bin.gz)\n`);
  });

  it("says when meta.json is not JSON", () => {
    const bad = mkdtempSync(join(dir, "bad-meta-"));
    writeFileSync(join(bad, "meta.json"), "mode: 4-level\n");
    const r = runCli(["ptdump", bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^wasm-mmu: ${join(bad, "meta.json")} is not JSON: `));
  });
});
