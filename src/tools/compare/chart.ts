// A grouped bar chart as plain SVG: one group of bars per workload, one bar per design, one
// panel per measure, a dashed line at the reference value, a value on every bar and a legend,
// so it reads without the table. Bars start at zero: heights are proportional to the values.

export interface ChartPanel {
  /** What the bars measure, e.g. "fork+exit median time". */
  title: string;
  /** values[group][series]; null draws "n/a" where the bar would be. */
  values: ReadonlyArray<ReadonlyArray<number | null>>;
  /** An error bar [low, high] per value (same shape as values; null: none). */
  intervals?: ReadonlyArray<ReadonlyArray<readonly [number, number] | null>>;
}

export interface ChartSpec {
  title: string;
  /** A second line under the title (machine, date). */
  subtitle?: string;
  /** Group names along the x axis (workloads). */
  groups: readonly string[];
  /** Series names in the legend (designs), one colour each. */
  series: readonly string[];
  panels: readonly ChartPanel[];
  /** Label of the y axis, e.g. "relative to x86_64-4level". */
  yLabel: string;
  /** A dashed line across each panel at this value (1 for ratios). */
  reference?: { value: number; label: string };
}

// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000", "#999999"];

const BAR = 18;
const BAR_GAP = 2;
const GROUP_GAP = 30;
const LEFT = 70;
const RIGHT = 116; // room for the reference line's label
const TITLE_H = 62;
const PANEL_TITLE_H = 26;
const PLOT_H = 240;
const LABEL_ROOM = 34; // above the tallest bar, for its rotated value
const AXIS_LABEL_H = 30;
const LEGEND_ROW = 22;
const LEGEND_ITEM = 190;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

/** A value as printed on a bar: two decimals below 10, one above. */
export function formatRatio(v: number): string {
  return Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** A round step giving about `count` ticks up to max (1, 2, 2.5 or 5 times a power of ten). */
export function tickStep(max: number, count = 5): number {
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

const n = (x: number) => (Math.round(x * 100) / 100).toString();

export function barChart(spec: ChartSpec): string {
  const { groups, series, panels } = spec;
  if (groups.length === 0 || series.length === 0 || panels.length === 0) {
    throw new RangeError(`barChart needs at least one group, series and panel (got ${groups.length}, ${series.length}, ${panels.length})`);
  }
  if (series.length > PALETTE.length) throw new RangeError(`barChart: at most ${PALETTE.length} series, got ${series.length}`);
  for (const p of panels) {
    if (p.values.length !== groups.length || p.values.some((row) => row.length !== series.length)) {
      throw new RangeError(`barChart: panel ${JSON.stringify(p.title)} must have ${groups.length} x ${series.length} values`);
    }
    for (const row of p.values) {
      for (const v of row) {
        if (v !== null && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`barChart: panel ${JSON.stringify(p.title)} has value ${v}`);
      }
    }
    if (p.intervals) {
      if (p.intervals.length !== groups.length || p.intervals.some((row) => row.length !== series.length)) {
        throw new RangeError(`barChart: panel ${JSON.stringify(p.title)} must have ${groups.length} x ${series.length} intervals`);
      }
      for (const row of p.intervals) {
        for (const iv of row) {
          if (iv !== null && !(Number.isFinite(iv[0]) && Number.isFinite(iv[1]) && 0 <= iv[0] && iv[0] <= iv[1])) {
            throw new RangeError(`barChart: panel ${JSON.stringify(p.title)} has interval ${String(iv)}`);
          }
        }
      }
    }
  }

  const groupW = series.length * (BAR + BAR_GAP) - BAR_GAP;
  const plotW = groups.length * groupW + (groups.length + 1) * GROUP_GAP;
  const width = Math.max(LEFT + plotW + RIGHT, 640);
  const legendPerRow = Math.max(1, Math.floor((width - LEFT) / LEGEND_ITEM));
  const legendH = Math.ceil(series.length / legendPerRow) * LEGEND_ROW + 16;
  const panelH = PANEL_TITLE_H + LABEL_ROOM + PLOT_H + AXIS_LABEL_H;
  const height = TITLE_H + panels.length * panelH + legendH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" aria-label="${escapeXml(spec.title)}">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${LEFT}" y="24" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`);
  if (spec.subtitle) out.push(`<text x="${LEFT}" y="44" font-size="11" fill="#555555">${escapeXml(spec.subtitle)}</text>`);

  panels.forEach((panel, pi) => {
    const top = TITLE_H + pi * panelH;
    const plotTop = top + PANEL_TITLE_H + LABEL_ROOM;
    const base = plotTop + PLOT_H;
    let max = spec.reference?.value ?? 0;
    for (const row of panel.values) for (const v of row) if (v !== null && v > max) max = v;
    for (const row of panel.intervals ?? []) for (const iv of row) if (iv !== null && iv[1] > max) max = iv[1];
    if (max === 0) max = 1;
    const step = tickStep(max);
    const yMax = Math.ceil(max / step - 1e-9) * step;
    const y = (v: number) => base - (v / yMax) * PLOT_H;

    out.push(`<g class="panel" data-title="${escapeXml(panel.title)}" data-ymax="${yMax}">`);
    out.push(`<text x="${LEFT}" y="${top + PANEL_TITLE_H - 6}" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`);
    // Grid and y axis.
    for (let t = 0; t <= yMax + step / 2; t += step) {
      const ty = n(y(t));
      out.push(`<line x1="${LEFT}" y1="${ty}" x2="${LEFT + plotW}" y2="${ty}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${LEFT - 6}" y="${ty}" dy="4" text-anchor="end" fill="#333333">${escapeXml(formatTick(t, step))}</text>`);
    }
    out.push(
      `<text transform="translate(${LEFT - 48},${n(plotTop + PLOT_H / 2)}) rotate(-90)" text-anchor="middle" fill="#333333">${escapeXml(spec.yLabel)}</text>`,
    );
    groups.forEach((group, gi) => {
      const gx = LEFT + GROUP_GAP + gi * (groupW + GROUP_GAP);
      series.forEach((name, si) => {
        const v = panel.values[gi]![si]!;
        const x = gx + si * (BAR + BAR_GAP);
        const cx = n(x + BAR / 2);
        if (v === null) {
          out.push(`<text transform="translate(${cx},${n(base - 4)}) rotate(-90)" font-size="10" fill="#777777">n/a</text>`);
          return;
        }
        const h = (v / yMax) * PLOT_H;
        out.push(
          `<rect class="bar" x="${n(x)}" y="${n(base - h)}" width="${BAR}" height="${n(h)}" fill="${PALETTE[si]}" stroke="#333333" stroke-width="0.5" ` +
            `data-group="${escapeXml(group)}" data-series="${escapeXml(name)}" data-value="${v}">` +
            `<title>${escapeXml(`${name}, ${group}: ${formatRatio(v)}`)}</title></rect>`,
        );
        const iv = panel.intervals?.[gi]![si] ?? null;
        let labelTop = base - h;
        if (iv) {
          // The 95% interval: a vertical line with caps, centred on the bar.
          const [y0, y1] = [y(iv[0]), y(iv[1])];
          const c = x + BAR / 2;
          out.push(
            `<g class="error-bar" data-group="${escapeXml(group)}" data-series="${escapeXml(name)}" data-low="${iv[0]}" data-high="${iv[1]}" stroke="#222222" stroke-width="1">` +
              `<line x1="${n(c)}" y1="${n(y0)}" x2="${n(c)}" y2="${n(y1)}"/>` +
              `<line x1="${n(c - 4)}" y1="${n(y0)}" x2="${n(c + 4)}" y2="${n(y0)}"/>` +
              `<line x1="${n(c - 4)}" y1="${n(y1)}" x2="${n(c + 4)}" y2="${n(y1)}"/></g>`,
          );
          labelTop = Math.min(labelTop, y1);
        }
        out.push(`<text transform="translate(${n(x + BAR / 2 + 3.5)},${n(labelTop - 4)}) rotate(-90)" font-size="10" fill="#222222">${formatRatio(v)}</text>`);
      });
      out.push(`<text x="${n(gx + groupW / 2)}" y="${n(base + 18)}" text-anchor="middle" font-size="12" font-weight="bold">${escapeXml(group)}</text>`);
    });
    out.push(`<line x1="${LEFT}" y1="${n(base)}" x2="${LEFT + plotW}" y2="${n(base)}" stroke="#333333"/>`);
    out.push(`<line x1="${LEFT}" y1="${n(plotTop - LABEL_ROOM / 2)}" x2="${LEFT}" y2="${n(base)}" stroke="#333333"/>`);
    if (spec.reference) {
      const ry = n(y(spec.reference.value));
      out.push(`<line class="reference" x1="${LEFT}" y1="${ry}" x2="${LEFT + plotW}" y2="${ry}" stroke="#cc0000" stroke-dasharray="6 4"/>`);
      out.push(`<text x="${LEFT + plotW + 4}" y="${ry}" dy="4" font-size="10" fill="#cc0000">${escapeXml(spec.reference.label)}</text>`);
    }
    out.push(`</g>`);
  });

  // Legend.
  const ly = TITLE_H + panels.length * panelH + 8;
  series.forEach((name, si) => {
    const lx = LEFT + (si % legendPerRow) * LEGEND_ITEM;
    const ry = ly + Math.floor(si / legendPerRow) * LEGEND_ROW;
    out.push(`<g class="legend-item"><rect x="${lx}" y="${ry}" width="14" height="14" fill="${PALETTE[si]}" stroke="#333333" stroke-width="0.5"/>`);
    out.push(`<text x="${lx + 20}" y="${ry + 11}">${escapeXml(name)}</text></g>`);
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** A tick value with as many decimals as the step needs (0.25 -> 2, 0.5 -> 1, 2 -> 0). */
function formatTick(t: number, step: number): string {
  let d = 0;
  while (d < 3 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-9) d++;
  return t.toFixed(d);
}
