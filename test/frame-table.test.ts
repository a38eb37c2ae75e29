// The frame table is the Kernel's: a Machine alone carries no block for it, and a Kernel asks
// its Machine for exactly one record per frame through Machine.create's extraBytes.
import { expect, it } from "vitest";
import { Kernel, Machine } from "../src/index.js";
import { CORE } from "../src/machine/machine.js";
import { FRAME_RECORD_BYTES } from "../src/kernel/core.js";
import { expectErr, rejected } from "./expect-error.js";

const ramBytes = 16 << 20;

it("a Machine without a Kernel has no frame table: its blocks do not grow with RAM", async () => {
  const small = await Machine.create({ ramBytes });
  const big = await Machine.create({ ramBytes: 4 * ramBytes });
  expect(Object.keys(small[CORE].blocks)).not.toContain("extra");
  expect(big[CORE].blocks).toEqual(small[CORE].blocks);
  expect(big[CORE].ramOffset + 4 * ramBytes).toBe(big[CORE].memory.buffer.byteLength);
  expect(big[CORE].memory.buffer.byteLength - 4 * ramBytes).toBe(small[CORE].memory.buffer.byteLength - ramBytes);
});

it("a Kernel's Machine holds one frame record per frame below RAM, and nothing else grows", async () => {
  const alone = await Machine.create({ ramBytes });
  const k = await Kernel.create({ design: "x86_64-4level", ramBytes });
  const c = k.machine[CORE];
  const extra = c.blocks.extra!;
  expect(extra.bytes).toBe((ramBytes / 4096) * FRAME_RECORD_BYTES);
  expect(extra.offset + extra.bytes).toBeLessThanOrEqual(c.ramOffset);
  const { extra: _, ...rest } = c.blocks;
  expect(rest).toEqual(alone[CORE].blocks);
  expect(c.ramOffset - alone[CORE].ramOffset).toBeLessThanOrEqual(extra.bytes + 65536);
});

it("extraBytes is checked like every option", async () => {
  expectErr(await rejected(Machine.create({ ramBytes, extraBytes: -1 })), RangeError, undefined, [/extraBytes/, /-1/]);
  expectErr(await rejected(Machine.create({ ramBytes, extraBytes: "8" as never })), TypeError, undefined, [/extraBytes/]);
  const m = await Machine.create({ ramBytes, extraBytes: 4096 });
  expect(m[CORE].blocks.extra!.bytes).toBe(4096);
});
