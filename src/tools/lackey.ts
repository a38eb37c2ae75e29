// Streaming parser of valgrind lackey memory traces (`valgrind --tool=lackey --trace-mem=yes`):
//
//   I  0401ab70,3          instruction fetch
//    L 1fff000750,8        load
//    S 1fff000758,8        store
//    M 0422f1c8,4          modify (load then store)
//   ==9737== ...           valgrind's own messages (skipped)
//
// Bytes go straight into typed arrays: a state machine over the bytes of each chunk, carried
// across chunk boundaries, with no string or object per line. Memory stays constant however
// long the trace: one block of accesses is filled, handed over, and reused.


export const KIND_I = 0, KIND_L = 1, KIND_S = 2, KIND_M = 3;
export const KIND_NAMES = ["I", "L", "S", "M"] as const;

/** A block of parsed accesses; its arrays are reused for the next block once onBlock returns. */
export interface AccessBlock {
  count: number;
  /** Address of access i: low 32 bits at [2i], high 32 bits at [2i+1] (a BigUint64Array's layout). */
  addr: Uint32Array;
  /** Bytes accessed. */
  size: Uint32Array;
  /** KIND_I, KIND_L, KIND_S or KIND_M. */
  kind: Uint8Array;
}

export interface LackeyCounts {
  accesses: number;
  /** Per kind: instruction fetches, loads, stores, modifies. */
  byKind: [number, number, number, number];
  /** Lines of valgrind's own output (`==pid== ...`) and empty lines. */
  noiseLines: number;
  /** Lines that start like an access but are not one (kept out of the accesses). */
  malformedLines: number;
  /** Line number (from 1) of the first malformed line, or null when there is none. */
  firstMalformedLine: number | null;
  /** Trace bytes parsed (after decompression). */
  bytes: number;
}

const NL = 10, CR = 13, SPACE = 32, COMMA = 44;
/** Hex digit value of a byte, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) {
  HEX["0123456789abcdef".charCodeAt(c)] = c;
  HEX["0123456789ABCDEF".charCodeAt(c)] = c;
}
/** A line longer than this cannot be an access; the carry keeps no more of it. */
const CARRY_MAX = 4096;

/**
 * Incremental lackey parser: push() chunks in order, then end(). Whole lines are parsed in
 * place in the chunk; only a line cut by a chunk boundary is carried over (at most CARRY_MAX
 * bytes of it).
 */
export class LackeyParser {
  readonly block: AccessBlock;
  readonly counts: LackeyCounts = { accesses: 0, byKind: [0, 0, 0, 0], noiseLines: 0, malformedLines: 0, firstMalformedLine: null, bytes: 0 };
  #onBlock: (block: AccessBlock) => void;
  #capacity: number;
  #carry = new Uint8Array(CARRY_MAX + 1);
  #carryLen = 0;
  /** Bytes of the carried line beyond CARRY_MAX (it is then noise or malformed). */
  #carryLost = 0;

  constructor(onBlock: (block: AccessBlock) => void, blockSize = 1 << 16) {
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 1 << 24) {
      throw new RangeError(`blockSize must be an integer in [1, 2^24], got ${blockSize}`);
    }
    this.#onBlock = onBlock;
    this.#capacity = blockSize;
    this.block = { count: 0, addr: new Uint32Array(blockSize * 2), size: new Uint32Array(blockSize), kind: new Uint8Array(blockSize) };
  }

  /** Parses a chunk of trace bytes. */
  push(bytes: Uint8Array): void {
    // A plain Uint8Array view (not a Buffer) keeps the byte loop monomorphic.
    const chunk = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    const len = chunk.length;
    this.counts.bytes += len;
    let start = 0;
    if (this.#carryLen > 0 || this.#carryLost > 0) {
      const nl = chunk.indexOf(NL);
      this.#appendCarry(chunk, 0, nl < 0 ? len : nl + 1);
      if (nl < 0) return;
      this.#lineEnded();
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(NL);
    if (last >= start) {
      this.#lines(chunk, start, last + 1);
      start = last + 1;
    }
    if (start < len) this.#appendCarry(chunk, start, len);
  }

  #appendCarry(chunk: Uint8Array, from: number, to: number): void {
    const room = CARRY_MAX - this.#carryLen;
    const n = Math.min(room, to - from);
    this.#carry.set(chunk.subarray(from, from + n), this.#carryLen);
    this.#carryLen += n;
    this.#carryLost += to - from - n;
  }

  /** The carried line is complete (it ends with a newline): parse it. */
  #lineEnded(): void {
    const c = this.#carry;
    if (this.#carryLost > 0) {
      // Too long to be an access: noise unless it started like one.
      if (c[0] === 73 || c[0] === SPACE) {
        if (this.counts.malformedLines === 0) this.counts.firstMalformedLine = this.#linesBefore(0) + 1;
        this.counts.malformedLines++;
      } else this.counts.noiseLines++;
    } else this.#lines(c, 0, this.#carryLen);
    this.#carryLen = 0;
    this.#carryLost = 0;
  }

  /** Parses whole lines: buf[to - 1] is a newline. */
  #lines(buf: Uint8Array, from: number, to: number): void {
    const b = this.block;
    const addr = b.addr, sizes = b.size, kinds = b.kind, cap = this.#capacity;
    const byKind = this.counts.byKind;
    let n = b.count, noise = 0, bad = 0;
    let i = from;
    while (i < to) {
      let c = buf[i]!;
      let j = i + 1;
      let kind = -1;
      if (c === 73 /* I */) kind = buf[j] === SPACE ? KIND_I : -1;
      else if (c === SPACE) {
        c = buf[j++]!;
        kind = c === 76 /* L */ ? KIND_L : c === 83 /* S */ ? KIND_S : c === 77 /* M */ ? KIND_M : -1;
      } else {
        noise++;
        i = c === NL ? j : buf.indexOf(NL, i) + 1;
        continue;
      }
      if (kind >= 0) {
        while (buf[j] === SPACE) j++;
        let lo = 0, hi = 0, digits = 0;
        let d = HEX[buf[j]!]!;
        while (d >= 0) {
          hi = ((hi << 4) | (lo >>> 28)) >>> 0;
          lo = ((lo << 4) | d) >>> 0;
          digits++;
          d = HEX[buf[++j]!]!;
        }
        if (digits > 0 && digits <= 16 && buf[j] === COMMA) {
          let size = 0, sizeDigits = 0;
          c = buf[++j]!;
          while (c >= 48 && c <= 57) {
            size = size * 10 + (c - 48);
            sizeDigits++;
            c = buf[++j]!;
          }
          if (c === CR) c = buf[++j]!;
          if (c === NL && sizeDigits > 0 && size <= 0xffffffff) {
            addr[2 * n] = lo;
            addr[2 * n + 1] = hi;
            sizes[n] = size;
            kinds[n] = kind;
            byKind[kind]!++;
            if (++n === cap) {
              b.count = n;
              this.#flushBlock();
              n = 0;
            }
            i = j + 1;
            continue;
          }
        }
      }
      if (bad === 0 && this.counts.malformedLines === 0) this.counts.firstMalformedLine = this.#linesBefore(noise) + 1;
      bad++;
      i = buf.indexOf(NL, i) + 1;
    }
    b.count = n;
    this.counts.noiseLines += noise;
    this.counts.malformedLines += bad;
  }

  /** Lines parsed so far (every access is counted by kind at once), with `noise` not yet added. */
  #linesBefore(noise: number): number {
    const k = this.counts.byKind;
    return k[0] + k[1] + k[2] + k[3] + this.counts.noiseLines + noise + this.counts.malformedLines;
  }

  #flushBlock(): void {
    this.counts.accesses += this.block.count;
    this.#onBlock(this.block);
    this.block.count = 0;
  }

  /** Ends the trace: a last line without a newline still counts; hands over the last block. */
  end(): LackeyCounts {
    if (this.#carryLen > 0 || this.#carryLost > 0) {
      this.#appendCarry(Uint8Array.of(NL), 0, 1);
      if (this.#carryLost > 0) this.#carryLost--; // the newline: not in the trace, not a lost byte
      else this.#carry[this.#carryLen - 1] = NL;
      this.#lineEnded();
    }
    if (this.block.count > 0) this.#flushBlock();
    return this.counts;
  }
}

export interface ReadOptions {
  blockSize?: number;
  /** Called as raw (possibly compressed) bytes are read: bytes so far, total if known. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
}

/** Whether bytes start with the gzip magic number. */
const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * The bytes of a trace from a file path ("-" for stdin) or a readable stream, inflated if they
 * start like gzip, in chunks of up to 1 MiB.
 */
export async function* traceBytes(
  source: string | NodeJS.ReadableStream,
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void,
): AsyncGenerator<Uint8Array> {
  // Node built-ins load only here, so that the package itself imports in a browser.
  const [{ createReadStream }, { stat }, { Readable }, { createGunzip }] = await Promise.all([
    import(/* @vite-ignore */ "node:fs"), import(/* @vite-ignore */ "node:fs/promises"),
    import(/* @vite-ignore */ "node:stream"), import(/* @vite-ignore */ "node:zlib"),
  ]);
  let total: number | undefined;
  let input: NodeJS.ReadableStream;
  if (typeof source === "string") {
    if (source === "-") input = process.stdin;
    else {
      total = (await stat(source)).size;
      input = createReadStream(source, { highWaterMark: 1 << 20 });
    }
  } else input = source;

  let read = 0;
  const raw = async function* (): AsyncGenerator<Uint8Array> {
    for await (const chunk of input as AsyncIterable<Uint8Array | string>) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      read += bytes.length;
      onProgress?.(read, total);
      yield bytes;
    }
  };
  // Look at the first chunk to decide whether to inflate.
  const it = raw();
  const first = await it.next();
  if (first.done) return;
  const all = (async function* () {
    yield first.value;
    yield* it;
  })();
  // zlib inflates on a worker thread, beside the parsing on this one.
  yield* isGzip(first.value) ? Readable.from(all).pipe(createGunzip({ chunkSize: 1 << 20 })) : all;
}

/**
 * Parses a lackey trace from a file path ("-" for stdin) or a readable stream, gzip-compressed
 * or not (detected from the first bytes), calling onBlock for each block of accesses (the
 * block is reused once onBlock returns).
 */
export async function readLackey(
  source: string | NodeJS.ReadableStream,
  onBlock: (block: AccessBlock) => void,
  options: ReadOptions = {},
): Promise<LackeyCounts> {
  const parser = new LackeyParser(onBlock, options.blockSize);
  for await (const chunk of traceBytes(source, options.onProgress)) parser.push(chunk);
  return parser.end();
}
