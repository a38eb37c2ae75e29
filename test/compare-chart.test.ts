import { describe, expect, it } from "vitest";
import { barChart, escapeXml, formatRatio, tickStep, type ChartSpec } from "../src/tools/compare/chart.js";
import { parseSvg } from "./svg.js";

const spec = (values: (number | null)[][], extra: Partial<ChartSpec> = {}): ChartSpec => ({
  title: "fork+exit relative to x86_64-4level",
  subtitle: "test machine, 2026-11-22",
  groups: ["lmbench", "large"],
  series: ["i386-2level", "x86_64-4level", "x86_64-5level"],
  panels: [{ title: "fork+exit median time", values }],
  yLabel: "relative to x86_64-4level",
  reference: { value: 1, label: "x86_64-4level = 1" },
  ...extra,
});

const bars = (svg: string) => parseSvg(svg).filter((e) => e.name === "rect" && e.attrs.class === "bar");

describe("barChart", () => {
  it("writes well-formed SVG with a bar per group and series", () => {
    const svg = barChart(spec([[0.8, 1, 1.2], [0.5, 1, 3.25]]));
    const els = parseSvg(svg);
    expect(els[0]!.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
    const b = bars(svg);
    expect(b.map((e) => `${e.attrs["data-group"]}/${e.attrs["data-series"]}`)).toEqual([
      "lmbench/i386-2level", "lmbench/x86_64-4level", "lmbench/x86_64-5level",
      "large/i386-2level", "large/x86_64-4level", "large/x86_64-5level",
    ]);
  });

  it("draws bar heights proportional to the values, above and below the reference", () => {
    const values = [[0.8, 1, 1.2], [0.5, 1, 3.25]];
    const b = bars(barChart(spec(values)));
    const perUnit = b.map((e) => Number(e.attrs.height) / Number(e.attrs["data-value"]));
    for (const k of perUnit) expect(k).toBeCloseTo(perUnit[0]!, 1);
    // All bars share one baseline.
    const bottoms = b.map((e) => Number(e.attrs.y) + Number(e.attrs.height));
    for (const y of bottoms) expect(y).toBeCloseTo(bottoms[0]!, 1);
    // The reference line sits where a bar of value 1 ends.
    const ref = parseSvg(barChart(spec(values))).find((e) => e.attrs.class === "reference")!;
    const one = b.find((e) => e.attrs["data-value"] === "1")!;
    expect(Number(ref.attrs.y1)).toBeCloseTo(Number(one.attrs.y), 1);
    // The tallest bar fits in the plot: the axis runs past 3.25.
    const panel = parseSvg(barChart(spec(values))).find((e) => e.attrs.class === "panel")!;
    expect(Number(panel.attrs["data-ymax"])).toBeGreaterThanOrEqual(3.25);
  });

  it("draws a 95% error bar where an interval is given, on the value's scale", () => {
    const values = [[0.8, 1, 1.2], [0.5, 1, 3.25]];
    const intervals: ([number, number] | null)[][] = [[[0.7, 0.9], null, [1.1, 1.3]], [[0.45, 0.55], null, [3, 3.6]]];
    const svg = barChart(spec(values, { panels: [{ title: "t", values, intervals }] }));
    const els = parseSvg(svg);
    const errorBars = els.filter((e) => e.attrs.class === "error-bar");
    expect(errorBars.map((e) => `${e.attrs["data-group"]}/${e.attrs["data-series"]} ${e.attrs["data-low"]}-${e.attrs["data-high"]}`)).toEqual([
      "lmbench/i386-2level 0.7-0.9", "lmbench/x86_64-5level 1.1-1.3", "large/i386-2level 0.45-0.55", "large/x86_64-5level 3-3.6",
    ]);
    // The axis makes room for the highest interval, and the bar's value sits inside its interval.
    const panel = els.find((e) => e.attrs.class === "panel")!;
    expect(Number(panel.attrs["data-ymax"])).toBeGreaterThanOrEqual(3.6);
    const b = bars(svg);
    const i = els.indexOf(errorBars[3]!);
    const [whisker] = els.slice(i + 1).filter((e) => e.name === "line");
    const bar = b[5]!;
    const top = Number(bar.attrs.y);
    expect(Number(whisker!.attrs.y1)).toBeGreaterThan(top); // low end below the bar's top
    expect(Number(whisker!.attrs.y2)).toBeLessThan(top); // high end above it
    expect(() => barChart(spec(values, { panels: [{ title: "t", values, intervals: [[null]] }] }))).toThrow(/intervals/);
    expect(() => barChart(spec(values, { panels: [{ title: "t", values, intervals: [[[2, 1], null, null], [null, null, null]] }] }))).toThrow(/interval 2,1/);
  });

  it("labels every bar with its value, every group, and every series in the legend", () => {
    const svg = barChart(spec([[0.8, 1, 1.2], [0.5, 1, 12.5]]));
    const texts = parseSvg(svg).filter((e) => e.name === "text").map((e) => e.text);
    for (const v of ["0.80", "1.00", "1.20", "0.50", "12.5"]) expect(texts).toContain(v);
    for (const g of ["lmbench", "large"]) expect(texts).toContain(g);
    for (const s of ["i386-2level", "x86_64-4level", "x86_64-5level"]) expect(texts).toContain(s);
    expect(texts).toContain("fork+exit relative to x86_64-4level");
    expect(texts).toContain("x86_64-4level = 1");
    // Each series keeps one colour across groups, and the legend swatch matches it.
    const b = bars(svg);
    const legend = parseSvg(svg).filter((e) => e.name === "rect" && e.attrs.width === "14");
    for (const [i, s] of ["i386-2level", "x86_64-4level", "x86_64-5level"].entries()) {
      const fills = new Set(b.filter((e) => e.attrs["data-series"] === s).map((e) => e.attrs.fill));
      expect([...fills]).toEqual([legend[i]!.attrs.fill]);
    }
  });

  it("shows missing values as n/a and escapes names", () => {
    const svg = barChart(spec([[null, 1, 1.1], [0.9, 1, 1]], { series: ["a<b", "x86_64-4level", 'c&"d'], title: "A & B" }));
    const els = parseSvg(svg);
    expect(els.filter((e) => e.name === "text").map((e) => e.text)).toEqual(expect.arrayContaining(["n/a", "a<b", 'c&"d', "A & B"]));
    expect(bars(svg)).toHaveLength(5);
  });

  it("stacks one panel per measure, each with its own scale", () => {
    const s = spec([[1, 1, 1], [1, 1, 1]]);
    const svg = barChart({ ...s, panels: [s.panels[0]!, { title: "table pages", values: [[0.5, 1, 2], [1, 1, 40]] }] });
    const panels = parseSvg(svg).filter((e) => e.attrs.class === "panel");
    expect(panels.map((p) => p.attrs["data-title"])).toEqual(["fork+exit median time", "table pages"]);
    expect(Number(panels[1]!.attrs["data-ymax"])).toBeGreaterThanOrEqual(40);
    expect(bars(svg)).toHaveLength(12);
  });

  it("refuses malformed input, naming it", () => {
    expect(() => barChart(spec([[1, 1]]))).toThrow(/2 x 3 values/);
    expect(() => barChart(spec([[1, 1, -1], [1, 1, 1]]))).toThrow(/value -1/);
    expect(() => barChart(spec([[1, 1, NaN], [1, 1, 1]]))).toThrow(/value NaN/);
    expect(() => barChart({ ...spec([]), groups: [] })).toThrow(RangeError);
  });
});

describe("chart helpers", () => {
  it("rounds tick steps to 1, 2, 2.5 or 5 times a power of ten", () => {
    expect(tickStep(1)).toBe(0.2);
    expect(tickStep(1.3)).toBe(0.5);
    expect(tickStep(40)).toBe(10);
    expect(tickStep(3.25)).toBe(1);
  });
  it("formats ratios and escapes XML", () => {
    expect(formatRatio(1.034)).toBe("1.03");
    expect(formatRatio(0.5)).toBe("0.50");
    expect(formatRatio(12.345)).toBe("12.3");
    expect(escapeXml(`<a href="x">&'`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
  });
});
