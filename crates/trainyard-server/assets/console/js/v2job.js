// One job of the new-version (v2) API: its phase, resources and each task's log (the end the
// server previews), re-read every 2 s; terminate and delete.
import { apiV2, duration, errorBox, fill, h, poll, showError, time, titled } from "./lib.js";

export function page(main, id) {
  titled("v2 training job");
  const errors = errorBox();
  const head = h("div", { class: "page-head" }, h("h1", { id: "v2-name" }, id));
  const facts = h("dl", { id: "v2-facts", class: "card" });
  const actions = h(
    "div",
    { class: "toolbar" },
    h("button", { type: "button", id: "v2-terminate", onclick: () => act("POST", `/training-jobs/${id}/actions`, { action_type: "terminate" }) }, "Terminate"),
    h("button", { type: "button", id: "v2-delete", class: "danger", onclick: () => act("DELETE", `/training-jobs/${id}`).then(() => location.assign("/console/jobs")) }, "Delete"),
  );
  const logs = h("div", { id: "v2-logs" });
  fill(main, h("p", {}, h("a", { href: "/console/jobs" }, "Training jobs")), head, errors, actions, facts, logs);

  const act = async (method, path, body) => {
    try {
      await apiV2(method, path, body);
      poller.now();
    } catch (e) {
      showError(errors, e);
    }
  };

  const load = async () => {
    const job = await apiV2("GET", `/training-jobs/${id}`);
    head.firstChild.textContent = job.metadata.name;
    const res = job.spec.resource ?? {};
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v ?? "")];
    fill(
      facts,
      ...row("API", "v2"),
      ...row("ID", job.metadata.id),
      ...row("Phase", `${job.status.phase} / ${job.status.secondary_phase}`),
      ...row("Created", time(job.metadata.create_time)),
      ...row("Duration", duration(job.status.duration)),
      ...row("Flavor", res.flavor_id),
      ...row("Nodes", String(res.node_count ?? "")),
      ...row("Pool", res.pool_id),
      ...row("Description", job.metadata.description),
    );
    const parts = [];
    for (const task of job.status.tasks) {
      let text;
      try {
        text = (await apiV2("GET", `/training-jobs/${id}/tasks/${task}/logs/preview`)).content;
      } catch (e) {
        text = e.message;
      }
      parts.push(h("h2", {}, task), h("pre", { class: "log", dataset: { task } }, text));
    }
    fill(logs, ...parts);
  };
  const poller = poll(load, 2000, (e) => showError(errors, e));
}
