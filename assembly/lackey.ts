// Trace replay's parser: valgrind lackey lines (`I  0401ab70,3`, ` L 1fff000750,8`, ` S ...`,
// ` M ...`, `==pid== ...`) straight into batch entries for translateBatch: one u64 linear
// address and one access byte per 4 KiB page an access touches (an access that crosses a page
// boundary gives an entry for each page). Same grammar as src/tools/lackey.ts, which the tests
// hold it to.
//
// Counters block (u64 each, at `counts`):
//   0..3  accesses by kind: I, L, S, M      6  accesses that cross a page boundary
//   4     noise lines (valgrind's, empty)   7  entries written by the last call
//   5     malformed lines

const NL: u32 = 10, CR: u32 = 13, SPACE: u32 = 32, COMMA: u32 = 44;
export const LK_NOISE: usize = 4;
export const LK_BAD: usize = 5;
export const LK_CROSS: usize = 6;
export const LK_ENTRIES: usize = 7;

@inline function add(counts: usize, slot: usize, n: u32): void {
  store<u64>(counts + slot * 8, load<u64>(counts + slot * 8) + <u64>n);
}

const ONES: u64 = 0x0101010101010101;
const HIGH: u64 = 0x8080808080808080;

/** High bit of each byte of x (all < 0x80) that lies strictly between m and n. */
@inline function between(x: u64, m: u64, n: u64): u64 {
  return (ONES * (127 + n) - x) & ~x & (x + ONES * (127 - m)) & HIGH;
}

/**
 * The value of 8 hex digits loaded little-endian (first digit in the low byte), or -1 if any
 * byte is not a hex digit. SWAR: all 8 bytes checked and converted at once.
 */
@inline function hex8(x: u64): i64 {
  if (x & HIGH) return -1;
  const lower = x | (ONES * 0x20);
  if ((between(x, 0x2F, 0x3A) | between(lower, 0x60, 0x67)) != HIGH) return -1;
  // '0'-'9' -> 0-9; 'a'-'f' / 'A'-'F' (bit 6 set) -> low nibble + 9.
  let v = bswap<u64>((x & (ONES * 0x0F)) + ((x >> 6) & ONES) * 9);
  v = (v | (v >> 4)) & 0x00FF00FF00FF00FF;
  v = (v | (v >> 8)) & 0x0000FFFF0000FFFF;
  return <i64>((v | (v >> 16)) & 0xFFFFFFFF);
}

/** Index just past the newline that ends the line holding byte i. */
@inline function lineEnd(buf: usize, i: u32): u32 {
  while (<u32>load<u8>(buf + i) != NL) i++;
  return i + 1;
}

/**
 * Parses the lines of buf[0, len) (the last byte is a newline) into entries: address at
 * vas + 8e, access byte at accs + e, at most cap entries; `kindAccess` holds the access byte
 * of kind k (I, L, S, M) in bits 8k..8k+7. Returns the bytes consumed: len, or the start of the
 * first line whose entries did not fit (the next call resumes there). An access touching more
 * than cap pages counts as malformed.
 */
export function lackeyParse(buf: usize, len: u32, vas: usize, accs: usize, cap: u32, kindAccess: u32, counts: usize): u32 {
  let i: u32 = 0;
  let n: u32 = 0;
  // Counters in locals, added to the block on return.
  let nI: u32 = 0, nL: u32 = 0, nS: u32 = 0, nM: u32 = 0, noise: u32 = 0, bad: u32 = 0, cross: u32 = 0;
  while (i < len) {
    const start = i;
    let c = <u32>load<u8>(buf + i);
    let j = i + 1;
    let kind: i32 = -1;
    if (c == 73) { // I
      if (<u32>load<u8>(buf + j) == SPACE) kind = 0;
    } else if (c == SPACE) {
      c = <u32>load<u8>(buf + j++);
      kind = c == 76 ? 1 : c == 83 ? 2 : c == 77 ? 3 : -1; // L S M
    } else {
      noise++;
      i = c == NL ? j : lineEnd(buf, i);
      continue;
    }
    if (kind >= 0) {
      while (<u32>load<u8>(buf + j) == SPACE) j++;
      let va: u64 = 0;
      let digits: u32 = 0;
      // lackey prints addresses with at least 8 digits: take 8 at once when they are there.
      const first8 = hex8(load<u64>(buf + j));
      if (first8 >= 0) {
        va = <u64>first8;
        digits = 8;
        j += 8;
      }
      for (;;) {
        c = <u32>load<u8>(buf + j);
        let d = c - 48;
        if (d > 9) {
          d = (c | 0x20) - 97;
          if (d > 5) break;
          d += 10;
        }
        va = (va << 4) | <u64>d;
        digits++;
        j++;
      }
      if (digits > 0 && digits <= 16 && c == COMMA) {
        let size: u64 = 0;
        let sizeDigits: u32 = 0;
        c = <u32>load<u8>(buf + ++j);
        while (c - 48 <= 9) {
          if (size <= 0xFFFFFFFF) size = size * 10 + <u64>(c - 48);
          sizeDigits++;
          c = <u32>load<u8>(buf + ++j);
        }
        if (c == CR) c = <u32>load<u8>(buf + ++j);
        if (c == NL && sizeDigits > 0 && size <= 0xFFFFFFFF) {
          const pages: u64 = size == 0 ? 1 : (((va & 0xFFF) + size - 1) >> 12) + 1;
          if (pages <= <u64>cap) {
            if (<u64>n + pages > <u64>cap) {
              i = start;
              break;
            }
            const a = <u8>(kindAccess >> (<u32>kind * 8));
            store<u64>(vas + <usize>n * 8, va);
            store<u8>(accs + n, a);
            n++;
            if (pages > 1) {
              cross++;
              const base = va & ~(<u64>0xFFF);
              for (let p: u64 = 1; p < pages; p++) {
                store<u64>(vas + <usize>n * 8, base + (p << 12));
                store<u8>(accs + n, a);
                n++;
              }
            }
            if (kind == 0) nI++;
            else if (kind == 1) nL++;
            else if (kind == 2) nS++;
            else nM++;
            i = j + 1;
            continue;
          }
        }
      }
    }
    bad++;
    i = lineEnd(buf, start);
  }
  add(counts, 0, nI);
  add(counts, 1, nL);
  add(counts, 2, nS);
  add(counts, 3, nM);
  add(counts, LK_NOISE, noise);
  add(counts, LK_BAD, bad);
  add(counts, LK_CROSS, cross);
  store<u64>(counts + LK_ENTRIES * 8, n);
  return i;
}
