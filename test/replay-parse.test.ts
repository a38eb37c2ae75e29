// The replay's WebAssembly parser against the general parser: same accesses, same counts, the
// same entries once each access is expanded to the pages it touches, however the bytes are cut.
import fc from "fast-check";
import { expect, it } from "vitest";
import { LackeyParser } from "../src/tools/lackey.js";
import { TraceEntryParser, type EntryBlock } from "../src/tools/replay-parse.js";

const ACCESS: [number, number, number, number] = [6, 2, 3, 3];

/** Entries as the general parser's accesses give them: [address, access byte] per page. */
function expected(chunks: Uint8Array[]) {
  const out: Array<[bigint, number]> = [];
  let crossings = 0;
  const p = new LackeyParser((b) => {
    for (let i = 0; i < b.count; i++) {
      const va = (BigInt(b.addr[2 * i + 1]!) << 32n) | BigInt(b.addr[2 * i]!);
      const pages = b.size[i] === 0 ? 1n : (((va & 0xfffn) + BigInt(b.size[i]!) - 1n) >> 12n) + 1n;
      if (pages > 1n) crossings++;
      out.push([va, ACCESS[b.kind[i]!]!]);
      for (let k = 1n; k < pages; k++) out.push([BigInt.asUintN(64, (va & ~0xfffn) + (k << 12n)), ACCESS[b.kind[i]!]!]);
    }
  }, 7);
  for (const c of chunks) p.push(c);
  return { entries: out, counts: p.end(), crossings };
}

async function actual(chunks: Uint8Array[], capacity: number) {
  const out: Array<[bigint, number]> = [];
  const p = await TraceEntryParser.create(capacity, ACCESS);
  const take = (b: EntryBlock) => {
    expect(b.count).toBeLessThanOrEqual(capacity);
    for (let i = 0; i < b.count; i++) out.push([(BigInt(b.vaWords[2 * i + 1]!) << 32n) | BigInt(b.vaWords[2 * i]!), b.access[i]!]);
  };
  for (const c of chunks) p.push(c, take);
  return { entries: out, counts: p.end(take) };
}

const access = fc.tuple(fc.constantFrom("I  ", " L ", " S ", " M ", " L"), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.oneof(fc.nat(70), fc.nat(20000)), fc.boolean())
  .map(([k, a, s, upper]) => { const h = a.toString(16).padStart(8, "0"); return `${k}${upper ? h.toUpperCase() : h},${s}`; });
const other = fc.constantFrom(
  "==9737== Lackey, an example Valgrind tool", "", "I  xyz,3", " L 0401ab70", " Q 0401ab70,8", "I  0401ab70,", " S 11112222333344445,8",
  "I 04,3 x", " ", "I  0401ab70,3\r", " L 7fff,99999999999", "=".repeat(5000), "I" + " ".repeat(4200) + "1,1", " L" + " ".repeat(300) + "2,2", "I  00000ffe,8",
);

it("agrees with the general parser on random traces, chunkings and block sizes", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof({ weight: 6, arbitrary: access }, { weight: 2, arbitrary: other }), { maxLength: 120 }),
      fc.array(fc.nat(6000), { maxLength: 12 }),
      fc.integer({ min: 6, max: 40 }),
      fc.boolean(),
      async (lines, cuts, capacity, finalNewline) => {
        const bytes = Buffer.from(lines.join("\n") + (finalNewline && lines.length ? "\n" : ""));
        const chunks: Uint8Array[] = [];
        let at = 0;
        for (const c of cuts) { const end = Math.min(bytes.length, at + c); chunks.push(bytes.subarray(at, end)); at = end; }
        chunks.push(bytes.subarray(at));
        const want = expected(chunks);
        const got = await actual(chunks, capacity);
        // Accesses of more pages than a block holds count as malformed in the replay parser.
        const tooBig = want.entries.length - got.entries.length;
        if (tooBig === 0) {
          expect(got.entries).toEqual(want.entries);
          expect(got.counts.accesses).toBe(want.counts.accesses);
          expect(got.counts.byKind).toEqual(want.counts.byKind);
          expect(got.counts.malformedLines).toBe(want.counts.malformedLines);
          expect(got.counts.pageCrossings).toBe(want.crossings);
        } else expect(got.counts.malformedLines).toBeGreaterThan(want.counts.malformedLines);
        expect(got.counts.noiseLines).toBe(want.counts.noiseLines);
        expect(got.counts.bytes).toBe(bytes.length);
        expect(got.counts.entries).toBe(got.entries.length);
      },
    ),
    { numRuns: 200 },
  );
});
