// Usage: what the project's runs used in a chosen window (GET /v1/{project}/usage), by project,
// user or job: runs by outcome, core-, GPU- and memory-GB-hours and wait time. The window and
// grouping live in the address, so a reload or a shared link shows the same table.
import { api, errorBox, fill, h, showError, table, titled } from "./lib.js";

const WINDOWS = [
  ["24h", "Last 24 hours", 24],
  ["7d", "Last 7 days", 24 * 7],
  ["30d", "Last 30 days", 24 * 30],
  ["365d", "Last year", 24 * 365],
];
const BY = [
  ["project", "Project"],
  ["user", "User"],
  ["job", "Job"],
];
const hours = (s) => (s / 3600).toFixed(3);

export function page(main) {
  titled("Usage");
  const q = new URLSearchParams(location.search);
  const state = {
    window: WINDOWS.some(([v]) => v === q.get("window")) ? q.get("window") : "7d",
    by: BY.some(([v]) => v === q.get("by")) ? q.get("by") : "project",
  };
  const select = (name, label, options, value) =>
    h("div", {}, h("label", { for: `u-${name}` }, label), h("select", { id: `u-${name}`, name }, options.map(([v, t]) => h("option", { value: v, selected: v === value }, t))));
  const form = h(
    "form",
    { class: "toolbar", "aria-label": "Usage window" },
    select("window", "Window", WINDOWS, state.window),
    select("by", "Summed by", BY, state.by),
  );
  const errors = errorBox();
  const body = h("div", { id: "usage-table" });
  const summary = h("p", { class: "muted", "aria-live": "polite", id: "usage-summary" });
  fill(main, h("h1", {}, "Usage"), form, errors, body, summary);

  const load = async () => {
    const hoursBack = WINDOWS.find(([v]) => v === state.window)[2];
    const until = Date.now();
    const since = until - hoursBack * 3600 * 1000;
    try {
      const r = await api("GET", `/usage?since=${since}&until=${until}&by=${state.by}`);
      showError(errors, null);
      const label = BY.find(([v]) => v === state.by)[1];
      const row = (u, total) =>
        h(
          "tr",
          { dataset: { key: u.key }, class: total ? "total" : null },
          h("th", { scope: "row" }, state.by === "job" && !total ? h("a", { href: `/console/jobs/${encodeURIComponent(u.key)}` }, u.name) : u.name),
          h("td", { class: "num" }, u.runs),
          h("td", { class: "num" }, u.runs_by_outcome.completed ?? 0),
          h("td", { class: "num" }, u.runs_by_outcome.failed ?? 0),
          h("td", { class: "num" }, u.runs_by_outcome.stopped ?? 0),
          h("td", { class: "num" }, hours(u.core_seconds)),
          h("td", { class: "num" }, hours(u.gpu_seconds)),
          h("td", { class: "num wide-only" }, hours(u.memory_gb_seconds)),
          h("td", { class: "num wide-only" }, hours(u.wait_seconds)),
        );
      fill(
        body,
        table(
          `Usage by ${label.toLowerCase()}`,
          [[label], ["Runs", "num"], ["Completed", "num"], ["Failed", "num"], ["Stopped", "num"], ["Core-hours", "num"], ["GPU-hours", "num"], ["Memory GB-hours", "num wide-only"], ["Wait hours", "num wide-only"]],
          r.rows.length ? [...r.rows.map((u) => row(u, false)), row(r.total, true)] : [],
        ),
      );
      summary.textContent = r.rows.length
        ? `${r.total.runs} runs ended from ${new Date(r.since).toLocaleString()} to ${new Date(r.until).toLocaleString()}.`
        : "No run used resources in this window.";
    } catch (e) {
      showError(errors, e);
    }
  };
  form.addEventListener("change", () => {
    const data = new FormData(form);
    state.window = data.get("window");
    state.by = data.get("by");
    history.replaceState(null, "", `?window=${state.window}&by=${state.by}`);
    load();
  });
  form.addEventListener("submit", (e) => e.preventDefault());
  load();
}
