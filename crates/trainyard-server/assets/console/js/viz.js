// Visualization jobs (VJ-01..VJ-07): create over a train_url, list with status and auto-stop
// time left, open TensorBoard in a new tab, stop, restart, delete. "Open" is a form posted to
// /console/viz/{id}/open in a new tab: the server answers with the job's access cookie and a
// redirect to the job's page, so the access secret never shows in an address bar.
import { api, badge, confirmButton, drawIfChanged, duration, errorBox, fill, h, isTerminal, poll, setText, showError, table, time, titled } from "./lib.js";

const csrf = document.querySelector('meta[name="trainyard-csrf"]')?.content ?? "";

export function page(main) {
  titled("Visualizations");
  const errors = errorBox();
  const listBox = h("div", { id: "viz-table" });
  const form = h(
    "form",
    { id: "new-viz", class: "card", novalidate: true },
    h("h2", {}, "New TensorBoard"),
    h(
      "div",
      { class: "form-grid" },
      h("div", {}, h("label", { for: "viz-train-url" }, "Event files folder (train_url)"), h("input", { id: "viz-train-url", name: "train_url", required: true, placeholder: "/bucket/out/" })),
      h("div", {}, h("label", { for: "viz-name" }, "Name"), h("input", { id: "viz-name", name: "job_name", placeholder: "tb-…", autocomplete: "off" })),
      h("div", {}, h("label", { for: "viz-desc" }, "Description"), h("input", { id: "viz-desc", name: "job_desc" })),
      h("div", {}, h("label", { for: "viz-hours" }, "Stop automatically after (hours, 0 = never)"), h("input", { id: "viz-hours", name: "hours", type: "number", min: 0, max: 24, value: 1 })),
    ),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, "Create")),
  );
  fill(main, h("h1", {}, "Visualizations"), errors, listBox, form);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const hours = Number(d.get("hours") || 0);
    const body = {
      job_name: d.get("job_name").trim() || `tb-${Date.now()}`,
      job_desc: d.get("job_desc").trim(),
      train_url: d.get("train_url").trim(),
      job_type: "tensorboard",
      schedule: hours > 0 ? [{ type: "stop", time_unit: "HOURS", duration: hours }] : [],
    };
    try {
      await api("POST", "/visualization-jobs", body);
      form.reset();
      showError(errors, null);
      poller.now();
    } catch (err) {
      showError(errors, err);
    }
  });

  const act = (what, path, method = "POST") => async () => {
    try {
      await api(method, path);
      showError(errors, null);
      poller.now();
    } catch (e) {
      showError(errors, e);
    }
  };

  const autoStop = (j) => (j.remaining_duration !== null && j.remaining_duration !== undefined ? duration(j.remaining_duration) : j.schedule.length ? "—" : "never");
  const drawn = {};
  const render = (res) => {
    for (const j of res.jobs) setText(listBox, `tr[data-viz-id="${j.job_id}"] td.auto-stop`, autoStop(j));
    drawIfChanged(drawn, JSON.stringify(res.jobs.map((j) => [j.job_id, j.job_name, j.job_desc, j.status, j.train_url])), () => draw(res));
  };
  const draw = (res) => {
    if (!res.jobs.length) {
      fill(listBox, h("p", { class: "empty card" }, "No visualization jobs yet."));
      return;
    }
    fill(
      listBox,
      table(
        "Visualization jobs",
        [["Name"], ["Status"], ["Auto-stop in"], ["Event files", "wide-only"], ["Created", "wide-only"], ["Actions"]],
        res.jobs.map((j) => {
          const running = j.status === 8;
          const base = `/visualization-jobs/${j.job_id}`;
          return h(
            "tr",
            { dataset: { vizId: j.job_id, vizName: j.job_name } },
            h("td", {}, j.job_name, j.job_desc ? h("div", { class: "muted" }, j.job_desc) : null),
            h("td", {}, badge(j.status)),
            h("td", { class: "auto-stop" }, autoStop(j)),
            h("td", { class: "wide-only mono" }, j.train_url),
            h("td", { class: "wide-only" }, time(j.create_time)),
            h(
              "td",
              {},
              h(
                "div",
                { class: "actions" },
                h(
                  "form",
                  { method: "post", action: `/console/viz/${j.job_id}/open`, target: "_blank", class: "open-viz" },
                  h("input", { type: "hidden", name: "csrf", value: csrf }),
                  h("button", { type: "submit", class: "primary", disabled: !running, "aria-label": `Open TensorBoard ${j.job_name} in a new tab` }, "Open"),
                ),
                isTerminal(j.status)
                  ? h("button", { type: "button", onclick: act("restart", `${base}/restart`), "aria-label": `Restart ${j.job_name}` }, "Restart")
                  : h("button", { type: "button", onclick: act("stop", `${base}/stop`), "aria-label": `Stop ${j.job_name}` }, "Stop"),
                confirmButton("Delete", `Delete ${j.job_name}?`, act("delete", base, "DELETE")),
              ),
            ),
          );
        }),
      ),
    );
  };

  const poller = poll(async () => render(await api("GET", "/visualization-jobs?per_page=100&sortBy=create_time&order=desc")), 2000, (e) => showError(errors, e));
}
