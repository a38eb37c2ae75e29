// RAM sizes that are whole 4 KiB pages but not whole 64 KiB WebAssembly pages.
import { expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { CORE } from "../src/machine/machine.js";

it.each([(1 << 20) + 4096, (1 << 20) + 60 * 1024, 3 * (1 << 20) - 4096])("ramBytes %i works and RAM ends at the end of linear memory", async (ramBytes) => {
  const m = await Machine.create({ ramBytes });
  expect(m.ram.length).toBe(ramBytes);
  const core = m[CORE];
  expect(core.ramOffset + ramBytes).toBe(core.memory.buffer.byteLength);
  for (const b of Object.values(core.blocks)) expect(b.offset + b.bytes).toBeLessThanOrEqual(core.ramOffset);
  // The last page of RAM is usable through the tables.
  const last = BigInt(ramBytes - 4096);
  m.writePhysical(0x1000n, new Uint8Array(new BigUint64Array([last | 3n]).buffer)); // PDE 0 -> PT at `last`
  m.writePhysical(last + 4n * 5n, new Uint8Array(new Uint32Array([Number(last) | 3]).buffer)); // PTE 5
  expect(m.setRegisters({ cr0: 0x80000011n, cr3: 0x1000n })).toBeNull();
  const t = m.translate(0x5123n, { write: true });
  expect(t.fault ? t : t.pa).toBe(last + 0x123n);
});
