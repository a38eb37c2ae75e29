// The package's entry points name files the build really produces, and load by name in Node.
import { existsSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";

const root = new URL("../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));

it("main, types and exports point at built files", () => {
  const paths = [pkg.main, pkg.types, pkg.exports["."].import, pkg.exports["."].types, pkg.exports["./build/release.wasm"]];
  for (const p of paths) expect(existsSync(new URL(p, root)), p).toBe(true);
});

it("the package loads by its own name (ESM self-reference)", async () => {
  const mod = await import(/* @vite-ignore */ new URL(pkg.exports["."].import, root).href);
  const m = await mod.Machine.create({ ramBytes: 1 << 20 });
  expect(m.translate(0x1234n)).toMatchObject({ pa: 0x1234n });
});
