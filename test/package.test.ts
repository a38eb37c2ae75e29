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

it("every module the package index loads imports only relative paths (so it loads in a browser)", () => {
  const seen = new Set<string>();
  const bare: string[] = [];
  const visit = (url: URL): void => {
    if (seen.has(url.href)) return;
    seen.add(url.href);
    const src = readFileSync(url, "utf8");
    // Static imports and re-exports; dynamic import() of node: built-ins inside functions is fine.
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      if (spec.startsWith("./") || spec.startsWith("../")) visit(new URL(spec, url));
      else bare.push(`${url.pathname.slice(url.pathname.indexOf("/dist/"))}: ${spec}`);
    }
  };
  visit(new URL(pkg.exports["."].import, root));
  expect(bare).toEqual([]);
  expect(seen.size).toBeGreaterThan(5);
});
