// Training jobs: search, status filter, sort and paging done by the API (TJ-02 pages in the
// database, so this stays fast with 100k jobs); the page is re-read every 2 s so statuses
// change without a reload. The filters live in the address, so a reload or a shared link
// shows the same list.
import { api, apiV2, badge, drawIfChanged, duration, errorBox, fill, h, poll, setText, showError, statuses, table, time, titled } from "./lib.js";

const SORTS = [
  ["create_time", "Created"],
  ["job_name", "Name"],
  ["status", "Status"],
  ["duration", "Duration"],
  ["version_count", "Versions"],
  ["job_desc", "Description"],
];

export function list(main) {
  titled("Training jobs");
  const q = new URLSearchParams(location.search);
  const state = {
    search: q.get("search") ?? "",
    status: q.get("status") ?? "",
    sort: q.get("sort") ?? "create_time",
    order: q.get("order") ?? "desc",
    page: Math.max(1, Number(q.get("page")) || 1),
    per_page: Number(q.get("per_page")) || 20,
  };
  const active = [...statuses.pending, ...statuses.running].join(",");
  const statusOptions = [
    ["", "Any status"],
    [active, "Waiting or running"],
    ...Object.entries(statuses.names).map(([code, name]) => [code, name]),
  ];
  const select = (name, label, options, value) =>
    h("div", {}, h("label", { for: `f-${name}` }, label), h("select", { id: `f-${name}`, name }, options.map(([v, t]) => h("option", { value: v, selected: v === String(value) }, t))));

  const form = h(
    "form",
    { class: "toolbar", role: "search", "aria-label": "Filter training jobs" },
    h("div", { class: "search" }, h("label", { for: "f-search" }, "Search"), h("input", { id: "f-search", name: "search", type: "search", value: state.search, placeholder: "Name or description" })),
    select("status", "Status", statusOptions, state.status),
    select("sort", "Sort by", SORTS, state.sort),
    select("order", "Order", [["desc", "Descending"], ["asc", "Ascending"]], state.order),
    select("per_page", "Per page", [10, 20, 50, 100].map((n) => [String(n), String(n)]), state.per_page),
  );
  const errors = errorBox();
  const body = h("div", { id: "jobs-table" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const summary = h("p", { class: "muted", "aria-live": "polite", id: "jobs-summary" });
  // Sweeps: one row each with its progress, opened to show its runs (ordinary jobs, above).
  const sweepsBody = h("div", { id: "sweeps" });
  // Jobs of the new-version API: other resources (UUID ids, phases), listed apart.
  const v2body = h("div", { id: "v2-jobs-table" });
  fill(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Training jobs"), h("a", { class: "button primary", href: "/console/jobs/new" }, "New training job")),
    form,
    errors,
    body,
    pager,
    summary,
    h("h2", {}, "Sweeps"),
    sweepsBody,
    h("h2", {}, "New-version (v2) jobs"),
    v2body,
  );

  let searchTimer = null;
  const apply = (resetPage) => {
    const data = new FormData(form);
    Object.assign(state, {
      search: data.get("search").trim(),
      status: data.get("status"),
      sort: data.get("sort"),
      order: data.get("order"),
      per_page: Number(data.get("per_page")),
    });
    if (resetPage) state.page = 1;
    poller.now();
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply(true);
  });
  form.addEventListener("change", (e) => {
    if (e.target.name !== "search") apply(true);
  });
  form.elements.search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => apply(true), 300);
  });

  const load = async () => {
    const params = new URLSearchParams({ page: state.page, per_page: state.per_page, sortBy: state.sort, order: state.order });
    if (state.search) params.set("search_content", state.search);
    if (state.status) params.set("status", state.status);
    const res = await api("GET", `/training-jobs?${params}`);
    const shown = new URLSearchParams({ page: state.page, per_page: state.per_page, sort: state.sort, order: state.order });
    if (state.search) shown.set("search", state.search);
    if (state.status) shown.set("status", state.status);
    history.replaceState(null, "", `?${shown}`);
    render(res);
    const sweeps = await api("GET", "/sweeps");
    drawIfChanged(drawnSweeps, JSON.stringify(sweeps.sweeps.map((w) => [w.sweep_id, w.progress, w.best?.job_id, w.best?.metric])), () => drawSweeps(sweeps.sweeps));
    for (const id of openSweeps) await loadRuns(id);
    const v2 = await apiV2("POST", "/training-job-searches", { limit: 50, offset: 0 });
    drawIfChanged(drawnV2, JSON.stringify(v2.items.map((j) => [j.metadata.id, j.metadata.name, j.status.phase, j.status.duration])), () => drawV2(v2));
  };
  // Sweeps opened to their runs stay open across redraws; their runs are re-read on each poll.
  const openSweeps = new Set();
  const drawnSweeps = {};
  const drawSweeps = (sweeps) => {
    if (!sweeps.length) {
      fill(sweepsBody, h("p", { class: "empty card" }, "No sweeps. ", h("code", {}, "trainyard sweep create"), " makes one."));
      return;
    }
    fill(
      sweepsBody,
      sweeps.map((w) => {
        const p = w.progress;
        const done = p.completed + p.failed + p.stopped;
        const parts = [["running", p.running], ["queued", p.queued], ["completed", p.completed], ["failed", p.failed], ["stopped", p.stopped]].filter(([, n]) => n > 0);
        const best = w.best && w.objective ? ` · best ${w.best.job_name} (${w.objective.metric} ${w.best.metric})` : "";
        const details = h(
          "details",
          { class: "card sweep", dataset: { sweepId: w.sweep_id }, open: openSweeps.has(w.sweep_id) },
          h(
            "summary",
            {},
            h("strong", {}, w.sweep_name),
            " ",
            h("progress", { max: w.run_count, value: done, "aria-label": `${w.sweep_name}: ${done} of ${w.run_count} runs ended` }),
            h("span", { class: "sweep-progress" }, ` ${done} of ${w.run_count} ended: ${parts.map(([k, n]) => `${n} ${k}`).join(", ")}${best}`),
          ),
          h("div", { class: "sweep-runs" }),
        );
        details.addEventListener("toggle", () => {
          if (details.open) {
            openSweeps.add(w.sweep_id);
            loadRuns(w.sweep_id).catch((e) => showError(errors, e));
          } else {
            openSweeps.delete(w.sweep_id);
          }
        });
        return details;
      }),
    );
  };
  const loadRuns = async (id) => {
    const box = sweepsBody.querySelector(`details[data-sweep-id="${id}"] .sweep-runs`);
    if (!box) return;
    const w = await api("GET", `/sweeps/${id}`);
    fill(
      box,
      table(
        `Runs of sweep ${w.sweep_name}`,
        [["Run"], ["Status"], ["Parameters"], [w.objective ? w.objective.metric : "Metric", "num"]],
        w.runs.map((r) =>
          h(
            "tr",
            { dataset: { jobId: r.job_id } },
            h("td", {}, h("a", { href: `/console/jobs/${r.job_id}` }, r.job_name)),
            h("td", {}, badge(r.status)),
            h("td", {}, Object.entries(r.parameters).map(([k, v]) => `${k}=${v}`).join(" ")),
            h("td", { class: "num" }, r.metric ?? ""),
          ),
        ),
      ),
    );
  };

  const drawnV2 = {};
  const drawV2 = (v2) => {
    if (!v2.items.length) {
      fill(v2body, h("p", { class: "empty card" }, "No v2 jobs."));
      return;
    }
    fill(
      v2body,
      table(
        "New-version (v2) jobs",
        [["Name"], ["API"], ["Phase"], ["Created", "wide-only"], ["Duration", "num"], ["Description", "wide-only"]],
        v2.items.map((j) =>
          h(
            "tr",
            { dataset: { v2Id: j.metadata.id } },
            h("td", {}, h("a", { href: `/console/jobs/v2/${j.metadata.id}` }, j.metadata.name)),
            h("td", {}, "v2"),
            h("td", { class: "phase" }, j.status.phase),
            h("td", { class: "wide-only" }, time(j.metadata.create_time)),
            h("td", { class: "num" }, duration(j.status.duration)),
            h("td", { class: "wide-only" }, j.metadata.description),
          ),
        ),
      ),
    );
  };

  const render = (res) => {
    const pages = Math.max(1, Math.ceil(res.job_total_count / state.per_page));
    if (state.page > pages) {
      state.page = pages;
      poller.now();
      return;
    }
    for (const j of res.jobs) setText(body, `tr[data-job-id="${j.job_id}"] td.duration`, duration(j.duration));
    const key = JSON.stringify([state, res.job_total_count, res.jobs.map((j) => [j.job_id, j.job_name, j.status, j.version_count, j.job_desc, j.queue_reason])]);
    drawIfChanged(drawn, key, () => draw(res, pages));
  };
  const drawn = {};

  const draw = (res, pages) => {
    if (!res.jobs.length) {
      fill(body, h("p", { class: "empty card" }, state.search || state.status ? "No training job matches." : "No training jobs yet. ", h("a", { href: "/console/jobs/new" }, "Create one")));
    } else {
      fill(
        body,
        table(
          "Training jobs",
          [["Name"], ["Status"], ["Queue", "wide-only"], ["Versions", "num wide-only"], ["Created", "wide-only"], ["Duration", "num"], ["Description", "wide-only"]],
          res.jobs.map((j) =>
            h(
              "tr",
              { dataset: { jobId: j.job_id, jobName: j.job_name } },
              h("td", {}, h("a", { href: `/console/jobs/${j.job_id}` }, j.job_name)),
              h("td", {}, badge(j.status)),
              h("td", { class: "wide-only queue" }, j.queue_reason ?? ""),
              h("td", { class: "num wide-only" }, j.version_count),
              h("td", { class: "wide-only" }, time(j.create_time)),
              h("td", { class: "num duration" }, duration(j.duration)),
              h("td", { class: "wide-only" }, j.job_desc),
            ),
          ),
        ),
      );
    }
    const go = (page) => () => {
      state.page = page;
      poller.now();
    };
    fill(
      pager,
      h("button", { type: "button", disabled: state.page <= 1, onclick: go(state.page - 1) }, "Previous"),
      h("span", {}, `Page ${state.page} of ${pages}`),
      h("button", { type: "button", disabled: state.page >= pages, onclick: go(state.page + 1) }, "Next"),
    );
    summary.textContent = `${res.job_total_count} job${res.job_total_count === 1 ? "" : "s"}${state.search || state.status ? " match" : ""}.`;
  };

  const poller = poll(load, 2000, (e) => showError(errors, e));
}
