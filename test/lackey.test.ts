// The lackey parser against a real valgrind trace (figures counted independently, see
// test/traces/README.md) and against a line-by-line reference on random traces.
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LackeyParser, readLackey, type AccessBlock } from "../src/tools/lackey.js";

const TRACE = new URL("./traces/gzip-20k.lackey.gz", import.meta.url).pathname;

describe("real trace: valgrind lackey on gzip", () => {
  it("counts every access, kind, page and page crossing exactly", async () => {
    const pages = new Set<number>();
    const fetchPages = new Set<number>();
    let crossings = 0, maxSize = 0, blocks = 0;
    const counts = await readLackey(TRACE, (b: AccessBlock) => {
      blocks++;
      for (let i = 0; i < b.count; i++) {
        const page = b.addr[2 * i + 1]! * 2 ** 20 + (b.addr[2 * i]! >>> 12);
        const last = b.addr[2 * i + 1]! * 2 ** 20 + ((b.addr[2 * i]! + b.size[i]! - 1) / 4096 | 0);
        for (let p = page; p <= last; p++) {
          pages.add(p);
          if (b.kind[i] === 0) fetchPages.add(p);
        }
        if (last !== page) crossings++;
        maxSize = Math.max(maxSize, b.size[i]!);
      }
    }, { blockSize: 100_000 });
    expect(counts.accesses).toBe(3_478_227);
    expect(counts.byKind).toEqual([2_597_123, 562_157, 308_467, 10_480]);
    expect(counts.noiseLines).toBe(25);
    expect(counts.malformedLines).toBe(0);
    expect(pages.size).toBe(203);
    expect(fetchPages.size).toBe(81);
    expect(crossings).toBe(154);
    expect(maxSize).toBe(32);
    expect(blocks).toBe(35);
  });

  it("reads the same trace from a stream, and reports progress up to the file size", async () => {
    const { createReadStream, statSync } = await import("node:fs");
    let last = 0;
    const viaStream = await readLackey(createReadStream(TRACE), () => {});
    const viaPath = await readLackey(TRACE, () => {}, { onProgress: (n, total) => { last = n; expect(total).toBe(statSync(TRACE).size); } });
    expect(viaStream).toEqual(viaPath);
    expect(last).toBe(statSync(TRACE).size);
  });
});

/** One parsed access: kind, 64-bit address, size. */
type Row = [number, bigint, number];

/** A line-at-a-time reference over strings. */
function reference(text: string): { rows: Row[]; noise: number; bad: number } {
  const rows: Row[] = [];
  let noise = 0, bad = 0;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) {
    const m = /^(I | [LSM]) *([0-9a-fA-F]{1,16}),([0-9]+)\r?$/.exec(line);
    if (m) rows.push(["ILSM".indexOf(m[1]!.trim()), BigInt("0x" + m[2]), Number(m[3])]);
    else if (line === "" || !/^(I| )/.test(line)) noise++;
    else bad++;
  }
  return { rows, noise, bad };
}

function parseAll(chunks: Uint8Array[], blockSize: number) {
  const rows: Row[] = [];
  const p = new LackeyParser((b) => {
    expect(b.count).toBeLessThanOrEqual(blockSize);
    for (let i = 0; i < b.count; i++) rows.push([b.kind[i]!, (BigInt(b.addr[2 * i + 1]!) << 32n) | BigInt(b.addr[2 * i]!), b.size[i]!]);
  }, blockSize);
  for (const c of chunks) p.push(c);
  return { rows, counts: p.end() };
}

const access = fc.tuple(fc.constantFrom("I  ", " L ", " S ", " M "), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.nat(1 << 20), fc.boolean())
  .map(([k, a, s, upper]) => { const h = a.toString(16).padStart(8, "0"); return `${k}${upper ? h.toUpperCase() : h},${s}`; });
const noise = fc.constantFrom("==9737== Lackey, an example Valgrind tool", "==1== ", "", "--1-- warning");
const malformed = fc.constantFrom("I  xyz,3", " L 0401ab70", " Q 0401ab70,8", "I  0401ab70,", " S 11112222333344445,8", "I 04,3 x", " ");

it("matches a line-by-line reference on random traces, however the bytes are chunked", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 8, arbitrary: access }, { weight: 1, arbitrary: noise }, { weight: 1, arbitrary: malformed }), { maxLength: 200 }),
      fc.array(fc.nat(64), { maxLength: 30 }),
      fc.integer({ min: 1, max: 17 }),
      fc.boolean(),
      (lines, cuts, blockSize, finalNewline) => {
        const text = lines.join("\n") + (finalNewline && lines.length ? "\n" : "");
        const bytes = Buffer.from(text);
        const chunks: Uint8Array[] = [];
        let at = 0;
        for (const c of cuts) { chunks.push(bytes.subarray(at, Math.min(bytes.length, at + c))); at = Math.min(bytes.length, at + c); }
        chunks.push(bytes.subarray(at));
        const ref = reference(text);
        const got = parseAll(chunks, blockSize);
        expect(got.rows).toEqual(ref.rows);
        expect(got.counts.accesses).toBe(ref.rows.length);
        expect(got.counts.noiseLines).toBe(ref.noise);
        expect(got.counts.malformedLines).toBe(ref.bad);
        expect(got.counts.bytes).toBe(bytes.length);
      },
    ),
    { numRuns: 300 },
  );
});

it("inflates gzip from any stream, CRLF lines included", async () => {
  const text = "==1== hi\r\nI  0401ab70,3\r\n L 7ff0,8\r\n";
  const rows: Row[] = [];
  const counts = await readLackey(Readable.from([gzipSync(text)]), (b) => {
    for (let i = 0; i < b.count; i++) rows.push([b.kind[i]!, BigInt(b.addr[2 * i]!), b.size[i]!]);
  });
  expect(rows).toEqual([[0, 0x0401ab70n, 3], [1, 0x7ff0n, 8]]);
  expect(counts.noiseLines).toBe(1);
  expect((await readLackey(Readable.from([]), () => {})).accesses).toBe(0);
});

it("refuses a bad block size, naming it", () => {
  expect(() => new LackeyParser(() => {}, 0)).toThrow(/blockSize.*0/);
  expect(() => new LackeyParser(() => {}, 1.5)).toThrow(RangeError);
});
