// One training job: its versions (TJ-05), the selected version's details (TJ-03) with its
// outcome, the timeline of its run (its event log), worker logs and resource charts, and the actions: stop with a grace period (TJ-07),
// delete a version (TJ-04) or the job (TJ-09), a new version from this one with edited
// parameters (TJ-06) and the description (TJ-08). Everything is re-read every 1.5 s while a
// version is active.
import { api, badge, confirmButton, drawIfChanged, duration, errorBox, fill, h, isStoppable, isTerminal, paramsText, parseParams, poll, setText, showError, statusName, table, time, titled } from "./lib.js";
import { catalog } from "./config-form.js";
import { LogView } from "./log-view.js";
import { drawCharts } from "./charts.js";

const NOT_FOUND = "ModelArts.0105";
/** Priorities by number, in words (ModelArts' meaning: higher starts first). */
const PRIORITIES = { 1: "1 (low)", 2: "2 (middle)", 3: "3 (high)" };
/** The statuses of a version waiting to start (1 and 7), whose priority may change. */
const WAITING = [1, 7];

export async function page(main, jobIdText) {
  const jobId = Number(jobIdText);
  const wanted = Number(new URLSearchParams(location.search).get("version")) || null;
  titled(`Training job ${jobId}`);
  const errors = errorBox();
  const heading = h("h1", { id: "job-name" }, `Training job ${jobId}`);
  fill(main, h("div", { class: "page-head" }, heading), errors);

  let list;
  try {
    list = await api("GET", `/training-jobs/${jobId}/versions?page=1&per_page=100`);
  } catch (e) {
    if (e.code === NOT_FOUND || e.status === 404 || e.status === 403) {
      heading.textContent = "Not found";
      titled("Not found");
    }
    showError(errors, e);
    main.append(h("p", {}, h("a", { href: "/console/jobs" }, "Back to training jobs")));
    return;
  }
  heading.textContent = list.job_name;
  titled(list.job_name);

  const versionsOf = (l) => [...l.versions].sort((a, b) => b.version_id - a.version_id);
  let versions = versionsOf(list);
  const selectedId = wanted ?? versions[0]?.version_id ?? null;

  // Job header: description and delete.
  const desc = h("p", { id: "job-desc" });
  const descArea = h("div", { class: "actions" });
  const showDesc = (text) => {
    fill(desc, text || h("span", { class: "muted" }, "No description."));
    fill(descArea, desc, h("button", { type: "button", class: "link", onclick: editDesc }, "Edit description"));
  };
  const editDesc = () => {
    const input = h("input", { id: "job-desc-input", name: "job_desc", value: list.job_desc });
    const form = h(
      "form",
      { class: "actions", onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api("PUT", `/training-jobs/${jobId}`, { job_desc: input.value.trim() });
          list.job_desc = input.value.trim();
          showDesc(list.job_desc);
          showError(errors, null);
        } catch (err) {
          showError(errors, err);
        }
      } },
      h("label", { for: "job-desc-input", class: "visually-hidden" }, "Description"),
      input,
      h("button", { type: "submit", class: "primary" }, "Save"),
      h("button", { type: "button", onclick: () => showDesc(list.job_desc) }, "Cancel"),
    );
    fill(descArea, form);
    input.focus();
  };
  showDesc(list.job_desc);
  main.querySelector(".page-head").append(
    confirmButton("Delete job", "Delete this job and all its versions?", async () => {
      try {
        await api("DELETE", `/training-jobs/${jobId}`);
        location.assign("/console/jobs");
      } catch (e) {
        showError(errors, e);
      }
    }),
  );

  const versionsBox = h("div", { id: "versions" });
  const versionHead = h("h2", { id: "version-heading" });
  const versionActions = h("div", { class: "actions", id: "version-actions" });
  const details = h("dl", { class: "details", id: "version-details" });
  const formArea = h("div");
  const logBox = h("div");
  const charts = h("div", { class: "charts", id: "charts" });
  const timeline = h("div", { id: "timeline" });
  main.append(
    descArea,
    h("h2", {}, "Versions"),
    versionsBox,
    h("section", { "aria-labelledby": "version-heading" }, versionHead, versionActions, formArea, details),
    h("section", { "aria-labelledby": "timeline-heading" }, h("h2", { id: "timeline-heading" }, "Timeline"), timeline),
    h("section", { "aria-labelledby": "logs-heading" }, h("h2", { id: "logs-heading" }, "Logs"), logBox),
    h("section", { "aria-labelledby": "charts-heading" }, h("h2", { id: "charts-heading" }, "Resource usage"), charts),
  );

  const renderVersions = () =>
    fill(
      versionsBox,
      versions.length
        ? table(
            "Versions",
            [["Version"], ["Status"], ["Created", "wide-only"], ["Duration", "num"], ["Parameters", "wide-only"], ["Outcome", "wide-only"]],
            versions.map((v) =>
              h(
                "tr",
                { class: v.version_id === selectedId ? "selected" : "", dataset: { versionId: v.version_id } },
                h("td", {}, h("a", { href: `?version=${v.version_id}`, "aria-current": v.version_id === selectedId ? "true" : null }, v.version_name)),
                h("td", {}, badge(v.status)),
                h("td", { class: "wide-only" }, time(v.create_time)),
                h("td", { class: "num duration" }, duration(v.duration)),
                h("td", { class: "wide-only mono" }, (v.parameter ?? []).map((p) => `--${p.label}=${p.value}`).join(" ") || "—"),
                h("td", { class: "wide-only" }, outcome(v)),
              ),
            ),
          )
        : h("p", { class: "empty card" }, "This job has no version yet."),
    );
  renderVersions();
  if (selectedId === null) return;

  let v = null;
  let lastStatus = null;
  const drawnVersions = {};
  const drawnDetails = {};
  let lastMetrics = "";
  let logView = null;
  const drawnTimeline = {};
  // Events are written a moment after the status they explain: a few more looks once ended.
  let lateLooks = 5;
  let timelineDone = false;

  const renderDetails = () => {
    fill(versionHead, `Version ${v.version_name}`);
    const spec = v.spec_code ? `${v.spec_code} (${v.core} cores, ${v.cpu} GB${v.gpu_num ? `, ${v.gpu_num} × ${v.gpu_type || "GPU"}` : ""})` : "—";
    const runsOn = v.user_image_url ? `Image ${v.user_image_url}${v.user_command ? `: ${v.user_command}` : ""}` : v.engine_name ? `${v.engine_name} ${v.engine_version ?? ""}` : "—";
    fill(
      details,
      [
        ["Status", badge(v.status)],
        ["Outcome", h("span", { id: "outcome" }, outcome(v))],
        ["Priority", h("span", { id: "priority" }, PRIORITIES[v.priority ?? 1] ?? String(v.priority))],
        ...(v.queue_reason
          ? [
              ["Queue position", h("span", { id: "queue-position" }, v.queue_position ? `${v.queue_position} ahead` : "next to start")],
              ["Waiting because", h("span", { id: "queue-reason" }, v.queue_reason)],
            ]
          : []),
        ["Parameters", (v.parameter ?? []).length ? h("ul", { class: "params mono" }, v.parameter.map((p) => h("li", {}, `--${p.label}=${p.value}`))) : "—"],
        ["Spec", spec],
        [v.user_image_url ? "Image" : "Engine", runsOn],
        ["Pool", v.pool_name ?? "—"],
        ["Workers", v.worker_server_num],
        ["Code", v.app_url ? `${v.app_url} → ${v.boot_file_url ?? ""}` : v.model_id ? `built-in algorithm ${v.model_id}` : "—"],
        ["Data", v.data_url ?? v.dataset_id ?? "—"],
        ["Output", v.train_url ?? "—"],
        ["Created", time(v.create_time)],
        ["Started", time(v.start_time)],
        ["Duration", h("span", { class: "duration" }, duration(v.duration))],
      ].map(([k, x]) => [h("dt", {}, k), h("dd", {}, x)]),
    );
  };

  const renderActions = () => {
    const grace = h("input", { id: "stop-grace", name: "grace", type: "number", min: 0, max: 86400, placeholder: "default", class: "grace" });
    const stopForm = h(
      "form",
      { id: "stop-form", onsubmit: async (e) => {
        e.preventDefault();
        const body = grace.value === "" ? {} : { grace_period_seconds: Number(grace.value) };
        try {
          await api("POST", `/training-jobs/${jobId}/versions/${v.version_id}/stop`, body);
          showError(errors, null);
          poller.now();
        } catch (err) {
          showError(errors, err);
        }
      } },
      h("label", { for: "stop-grace", class: "inline" }, "Grace (s)", grace),
      h("button", { type: "submit", class: "danger", id: "stop-version" }, "Stop"),
    );
    fill(
      versionActions,
      isStoppable(v.status) ? stopForm : null,
      WAITING.includes(v.status) ? priorityForm() : null,
      h("button", { type: "button", id: "new-version", onclick: newVersionForm }, "New version from this one"),
      v.train_url ? h("button", { type: "button", id: "open-tensorboard", onclick: openTensorBoard }, "Open TensorBoard on this output") : null,
      confirmButton("Delete version", `Delete version ${v.version_name}?`, async () => {
        try {
          await api("DELETE", `/training-jobs/${jobId}/versions/${v.version_id}`);
          location.assign(versions.length > 1 ? `/console/jobs/${jobId}` : "/console/jobs");
        } catch (e) {
          showError(errors, e);
        }
      }),
    );
  };

  // While the version waits to start, its priority can change: it goes behind the waiting runs
  // of its new priority.
  const priorityForm = () => {
    const choice = h("select", { id: "priority-select", name: "priority" }, Object.entries(PRIORITIES).map(([p, name]) => h("option", { value: p, selected: Number(p) === (v.priority ?? 1) }, name)));
    return h(
      "form",
      { id: "priority-form", onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api("PUT", `/training-jobs/${jobId}/versions/${v.version_id}/priority`, { priority: Number(choice.value) });
          showError(errors, null);
          poller.now();
        } catch (err) {
          showError(errors, err);
        }
      } },
      h("label", { for: "priority-select", class: "inline" }, "Priority", choice),
      h("button", { type: "submit", id: "set-priority" }, "Change priority"),
    );
  };

  // A visualization job (VJ-01) over this version's output, stopped after an hour; the
  // Visualizations page then opens it.
  const openTensorBoard = async () => {
    const body = {
      job_name: `tb-${jobId}-${Date.now().toString(36).slice(-6)}`,
      job_desc: `TensorBoard of ${list.job_name} ${v.version_name}`,
      train_url: v.train_url,
      job_type: "tensorboard",
      schedule: [{ type: "stop", time_unit: "HOURS", duration: 1 }],
    };
    try {
      const res = await api("POST", "/visualization-jobs", body);
      location.assign(`/console/viz?created=${res.job_id}`);
    } catch (e) {
      showError(errors, e);
    }
  };

  const newVersionForm = async () => {
    const { specs } = await catalog();
    const form = h(
      "form",
      { id: "new-version-form", class: "card", novalidate: true },
      h("h3", {}, `New version from ${v.version_name}`),
      h("label", { for: "nv-parameter" }, "Parameters"),
      h("textarea", { id: "nv-parameter", name: "parameter", rows: Math.max(3, (v.parameter ?? []).length + 1), "aria-describedby": "nv-parameter-hint" }, paramsText(v.parameter)),
      h("p", { class: "hint", id: "nv-parameter-hint" }, "One label=value per line. Code, data, engine and output stay as in this version."),
      h(
        "div",
        { class: "form-grid" },
        h("div", {}, h("label", { for: "nv-workers" }, "Workers"), h("input", { id: "nv-workers", name: "workers", type: "number", min: 1, value: v.worker_server_num })),
        h("div", {}, h("label", { for: "nv-spec" }, "Resource spec"), h("select", { id: "nv-spec", name: "spec" }, specs.map((s) => h("option", { value: s.spec_id, selected: s.spec_id === v.spec_id }, s.spec_code)))),
        h("div", {}, h("label", { for: "nv-desc" }, "Description"), h("input", { id: "nv-desc", name: "desc" })),
      ),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, "Create and run"), h("button", { type: "button", onclick: () => fill(formArea) }, "Cancel")),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const d = new FormData(form);
      const config = {
        ...sameRun(v),
        parameter: parseParams(d.get("parameter")),
        worker_server_num: Number(d.get("workers")),
        spec_id: Number(d.get("spec")),
        pre_version_id: v.version_id,
      };
      const body = { config };
      if (d.get("desc").trim()) body.job_desc = d.get("desc").trim();
      try {
        const res = await api("POST", `/training-jobs/${jobId}/versions`, body);
        location.assign(`/console/jobs/${jobId}?version=${res.version_id}`);
      } catch (err) {
        showError(errors, err);
      }
    });
    fill(formArea, form);
    form.querySelector("textarea").focus();
  };

  const refresh = async () => {
    const [l, detail, log] = await Promise.all([
      api("GET", `/training-jobs/${jobId}/versions?page=1&per_page=100`),
      api("GET", `/training-jobs/${jobId}/versions/${selectedId}`),
      api("GET", `/training-jobs/${jobId}/versions/${selectedId}/events`),
    ]);
    const events = log.events ?? [];
    drawIfChanged(drawnTimeline, JSON.stringify(events.map((e) => e.seq)), () => renderTimeline(timeline, events));
    const ended = events.length > 0 && events[events.length - 1].kind === "ended";
    // The late looks count only once the version has ended: a long run used them up before.
    if (isTerminal(detail.status) && !ended) lateLooks -= 1;
    timelineDone = events.length === 0 || ended || lateLooks <= 0;
    list = l;
    versions = versionsOf(l);
    v = detail;
    for (const x of versions) setText(versionsBox, `tr[data-version-id="${x.version_id}"] td.duration`, duration(x.duration));
    setText(details, ".duration", duration(v.duration));
    const shape = (x) => [x.version_id, x.version_name, x.status, x.error_result, x.parameter, x.start_time, x.priority, x.queue_position, x.queue_reason];
    drawIfChanged(drawnVersions, JSON.stringify(versions.map(shape)), renderVersions);
    drawIfChanged(drawnDetails, JSON.stringify(shape(v)), renderDetails);
    if (v.status !== lastStatus) {
      lastStatus = v.status;
      renderActions();
    }
    const metrics = JSON.stringify(v.system_metric_list);
    if (metrics !== lastMetrics) {
      lastMetrics = metrics;
      drawCharts(charts, v.system_metric_list, v.start_time ?? v.create_time, v.duration);
    }
    if (!logView) {
      logView = new LogView(jobId, selectedId);
      fill(logBox, logView.el);
      if (!(await logView.load(!isTerminal(v.status)))) logView = null;
    }
    // Once every version has ended nothing changes any more: stop asking.
    return versions.some((x) => !isTerminal(x.status)) || !isTerminal(v.status) || !timelineDone;
  };
  const poller = poll(refresh, 1500, (e) => {
    if (e?.code === NOT_FOUND && !v) {
      heading.textContent = "Not found";
    }
    showError(errors, e);
  });
}

/** The run's events, oldest first: when, how serious (in words, not only colour), what. */
function renderTimeline(box, events) {
  if (!events.length) {
    fill(box, h("p", { class: "empty card" }, "No events recorded for this version."));
    return;
  }
  fill(
    box,
    h(
      "ol",
      { class: "timeline" },
      events.map((e) =>
        h(
          "li",
          { class: `event ${e.level.toLowerCase()}`, dataset: { kind: e.kind } },
          time(e.time),
          h("span", { class: "level" }, e.level),
          h("span", { class: "message" }, e.message),
        ),
      ),
    ),
  );
}

/** What a version's outcome is, in words: the failing worker and its exit code when failed. */
function outcome(v) {
  if (!isTerminal(v.status)) return statusName(v.status).toLowerCase().replace(/_/g, " ");
  if (v.error_result?.error_message) return v.error_result.error_message;
  return v.status === 10 ? "completed" : statusName(v.status).toLowerCase();
}

/** The request fields that make a new version run the same code on the same data. */
function sameRun(v) {
  const keep = ["app_url", "boot_file_url", "data_url", "dataset_id", "dataset_version_id", "train_url", "log_url", "model_id", "pool_id", "user_image_url", "user_command"];
  const cfg = {};
  for (const k of keep) if (v[k] !== null && v[k] !== undefined && v[k] !== "") cfg[k] = v[k];
  if (!v.user_image_url && v.engine_id) cfg.engine_id = v.engine_id;
  return cfg;
}
