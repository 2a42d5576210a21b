// Resource charts of a version from its `system_metric_list` (TJ-03): CPU (percent of one
// core, summed over workers), memory (percent of what the spec grants), GPU when sampled, and
// disk and network rates. Drawn with uPlot (vendored, see scripts/vendor-console-assets.sh);
// each chart also says in text how many points it has and the last value, for screen readers
// and for anyone reading numbers rather than lines.
import { fill, h } from "./lib.js";

const CHARTS = [
  { title: "CPU", unit: "%", series: [["cpuUsage", "CPU (% of one core)"]] },
  { title: "Memory", unit: "%", series: [["memUsage", "Memory (% of the spec)"]] },
  { title: "GPU", unit: "%", series: [["gpuUtil", "GPU utilization (%)"], ["gpuMemUsage", "GPU memory (%)"]] },
  { title: "Disk", unit: "B/s", series: [["diskReadRate", "Read (bytes/s)"], ["diskWriteRate", "Write (bytes/s)"]] },
  { title: "Network", unit: "B/s", series: [["recvBytesRate", "Received (bytes/s)"], ["sendBytesRate", "Sent (bytes/s)"]] },
];
const COLOURS = ["#2f81f7", "#d4731b"];

let redraw = null;
// Drawn again when the colour scheme or the window width changes (canvas text has no CSS).
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => redraw?.());
let resizeTimer = null;
addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => redraw?.(), 200);
});

/**
 * Draws the charts of `metrics` into `box`. Point i is the mean over the i-th bucket of
 * `interval` minutes from the start of the run (api.md §2.5); a run shorter than a minute has
 * one point.
 */
export function drawCharts(box, metrics, startMs, durationMs) {
  redraw = () => drawCharts(box, metrics, startMs, durationMs);
  const plots = [];
  const figures = [];
  for (const chart of CHARTS) {
    const data = chart.series.map(([key]) => (metrics?.[key] ?? []).map(Number));
    const n = Math.max(0, ...data.map((d) => d.length));
    if (chart.title === "GPU" && n === 0) continue; // no GPU samples: no GPU chart
    const summary = chart.series
      .map(([key, label], i) => (data[i].length ? `${label}: last ${fmt(data[i][data[i].length - 1], chart.unit)}` : `${label}: no samples`))
      .join("; ");
    const plotBox = h("div", { class: "plot", "aria-hidden": "true" });
    const fig = h(
      "figure",
      { class: "chart", dataset: { chart: chart.series[0][0], points: n } },
      h("figcaption", {}, chart.title),
      plotBox,
      h("p", { class: "visually-hidden" }, `${n} points. ${summary}.`),
      n ? null : h("p", { class: "muted" }, "No samples yet."),
    );
    figures.push(fig);
    if (!n || !window.uPlot) continue;
    const start = (startMs ?? Date.now()) / 1000;
    const end = start + Math.max(1, (durationMs ?? 0) / 1000);
    const bucket = Math.max(1, Number(metrics.interval) || 1) * 60;
    const xs = Array.from({ length: n }, (_, i) => Math.min(start + (i + 0.5) * bucket, end));
    plots.push([plotBox, chart, xs, data, [start, Math.max(end, start + 60)]]);
  }
  fill(box, figures);
  // Sized after layout, so each plot takes its figure's width (phone or desktop).
  for (const [plotBox, chart, xs, data, range] of plots) {
    const width = Math.max(240, plotBox.clientWidth || 320);
    const fg = getComputedStyle(document.body).color;
    const grid = { stroke: "rgba(128,128,128,0.25)", width: 1 };
    new window.uPlot(
      {
        width,
        height: 170,
        legend: { show: false },
        cursor: { show: true, drag: { x: false, y: false } },
        scales: { x: { time: true, range: () => range }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
        axes: [
          { stroke: fg, grid, ticks: grid },
          { stroke: fg, grid, ticks: grid, size: 72, values: (u, vals) => vals.map((v) => fmt(v, chart.unit)) },
        ],
        series: [{}, ...chart.series.map(([, label], i) => ({ label, stroke: COLOURS[i], width: 2, points: { show: xs.length < 3 } }))],
      },
      [xs, ...data.map((d) => padTo(d, xs.length))],
      plotBox,
    );
  }
}

const padTo = (d, n) => (d.length >= n ? d : [...d, ...Array(n - d.length).fill(null)]);

function fmt(v, unit) {
  if (unit === "%") return `${Math.round(v * 10) / 10}%`;
  const units = ["B/s", "KB/s", "MB/s", "GB/s"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Math.round(v * 10) / 10} ${units[i]}`;
}
