// Creating training jobs (from the form or a saved configuration) and the configuration pages
// (TC-01..TC-05): list, view, create, edit, delete.
import { api, confirmButton, errorBox, fill, h, paramsText, showError, showFieldError, table, tarOf, time, titled, uploadTar } from "./lib.js";
import { configFields, readConfig, setConfig } from "./config-form.js";

const enc = encodeURIComponent;

/** Files of a dropped folder (a FileSystemEntry), recursively, as `{ path, file }`. */
async function entryFiles(entry, prefix = "") {
  if (entry.isFile) return [{ path: prefix + entry.name, file: await new Promise((ok, fail) => entry.file(ok, fail)) }];
  const reader = entry.createReader();
  const children = [];
  for (;;) {
    const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) break;
    children.push(...batch);
  }
  const out = [];
  for (const c of children) out.push(...(await entryFiles(c, `${prefix}${entry.name}/`)));
  return out;
}

/** Left out of an uploaded folder, as `trainyard jobs submit` leaves them out. */
const SKIPPED = /(^|\/)(\.git|__pycache__|\.venv|venv)(\/|$)/;

/**
 * The new-job form's code upload: a folder (chosen or dropped) or a .tar archive (chosen or
 * dropped). `chosen()` answers `null` (nothing chosen: the "Code folder" path is used) or the
 * tar archive to upload, as bytes.
 */
function codeUpload() {
  let picked = null; // { label, archive: File } or { label, files: [{ path, file }] }
  const status = h("p", { class: "hint", id: "code-chosen", "aria-live": "polite" }, "Nothing chosen: the code folder below is used.");
  const show = (p) => {
    picked = p;
    fill(status, p ? p.label : "Nothing chosen: the code folder below is used.");
  };
  const fromFolder = (list) => {
    const files = list.filter((f) => !SKIPPED.test(f.path));
    // Every path starts with the folder's own name: the upload holds what is inside it.
    const root = files[0]?.path.split("/")[0] ?? "";
    const inside = files.map((f) => ({ path: f.path.slice(root.length + 1), file: f.file })).filter((f) => f.path);
    show(inside.length ? { label: `Folder ${root}: ${inside.length} files, uploaded when the job is created.`, files: inside } : null);
  };
  const folder = h("input", { type: "file", id: "code-folder", webkitdirectory: true, multiple: true });
  folder.addEventListener("change", () => fromFolder([...folder.files].map((f) => ({ path: f.webkitRelativePath || f.name, file: f }))));
  const archive = h("input", { type: "file", id: "code-archive", accept: ".tar,application/x-tar" });
  archive.addEventListener("change", () => {
    const f = archive.files[0];
    show(f ? { label: `Archive ${f.name}, uploaded when the job is created.`, archive: f } : null);
  });
  const zone = h(
    "div",
    { class: "drop", id: "code-drop" },
    h("p", {}, "Upload code: drop a folder or a .tar archive here, or choose one."),
    h("label", { for: "code-folder", class: "inline" }, "Folder ", folder),
    h("label", { for: "code-archive", class: "inline" }, "Archive (.tar) ", archive),
    status,
  );
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const items = [...(e.dataTransfer.items ?? [])];
    const entry = items.map((i) => i.webkitGetAsEntry?.()).find(Boolean);
    if (entry?.isDirectory) {
      fromFolder(await entryFiles(entry));
      return;
    }
    const f = e.dataTransfer.files[0];
    if (f) show({ label: `Archive ${f.name}, uploaded when the job is created.`, archive: f });
  });
  const chosen = async () => {
    if (!picked) return null;
    if (picked.archive) return new Uint8Array(await picked.archive.arrayBuffer());
    const files = [];
    for (const f of picked.files) files.push({ path: f.path, data: new Uint8Array(await f.file.arrayBuffer()) });
    return tarOf(files);
  };
  return { zone, chosen, clear: () => show(null) };
}

/** `/console/jobs/new[?config=NAME]`: TJ-01 from a form, optionally started from a configuration. */
export async function newJob(main) {
  titled("New training job");
  const errors = errorBox();
  fill(main, h("h1", {}, "New training job"), errors);
  let configs = [];
  try {
    configs = (await api("GET", "/training-job-configs?per_page=1000")).configs;
  } catch (e) {
    showError(errors, e);
  }
  const wanted = new URLSearchParams(location.search).get("config") ?? "";
  const form = h(
    "form",
    { id: "new-job", novalidate: true },
    h(
      "div",
      { class: "form-grid" },
      h("div", {}, h("label", { for: "job_name" }, "Name"), h("input", { id: "job_name", name: "job_name", required: true, autocomplete: "off", "aria-describedby": "job_name-hint" }), h("p", { class: "hint", id: "job_name-hint" }, "Letters, digits, - and _; unique in the project.")),
      h("div", {}, h("label", { for: "job_desc" }, "Description"), h("input", { id: "job_desc", name: "job_desc" })),
      h("div", {}, h("label", { for: "from_config" }, "Start from configuration"), h("select", { id: "from_config", name: "from_config" }, h("option", { value: "" }, "None"), configs.map((c) => h("option", { value: c.config_name, selected: c.config_name === wanted }, c.config_name)))),
    ),
    await configFields({}),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, "Create and run"), h("a", { href: "/console/jobs" }, "Cancel")),
  );
  const upload = codeUpload();
  // The upload goes with the code fields: before the configuration's first field.
  form.querySelector("fieldset.config .form-grid").before(upload.zone);
  main.append(form);
  const loadConfig = async (name) => {
    if (!name) return;
    try {
      setConfig(form, await api("GET", `/training-job-configs/${enc(name)}`));
      showError(errors, null);
    } catch (e) {
      showError(errors, e);
    }
  };
  form.elements.from_config.addEventListener("change", (e) => loadConfig(e.target.value));
  await loadConfig(wanted);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const body = { job_name: d.get("job_name").trim(), job_desc: d.get("job_desc").trim(), config: readConfig(form) };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showError(errors, null);
    showFieldError(form, null);
    let uploaded = null;
    try {
      const archive = await upload.chosen();
      if (archive) {
        // Where `trainyard jobs submit` puts a job's code; the boot file is relative to it.
        if (!body.job_name) throw new Error("job_name is required");
        uploaded = `/trainyard/code/${body.job_name}/`;
        const boot = body.config.boot_file_url ?? "";
        if (!boot) throw new Error("boot_file_url is required with uploaded code (a file of the upload, e.g. train.py)");
        await uploadTar(uploaded, archive);
        body.config.app_url = uploaded;
        if (!/^(\/|obs:\/\/|s3:\/\/)/.test(boot)) body.config.boot_file_url = uploaded + boot.replace(/^\.\//, "");
      }
      const res = await api("POST", "/training-jobs", body);
      location.assign(`/console/jobs/${res.job_id}`);
    } catch (err) {
      // A job refused after its upload takes the upload back.
      if (uploaded) api("DELETE", `/storage/upload?path=${encodeURIComponent(uploaded)}`).catch(() => {});
      if (!showFieldError(form, err)) {
        showError(errors, err);
        errors.scrollIntoView({ block: "nearest" });
      }
      button.disabled = false;
    }
  });
}

/** `/console/configs`: TC-02. */
export async function list(main) {
  titled("Configurations");
  const errors = errorBox();
  const body = h("div");
  fill(main, h("div", { class: "page-head" }, h("h1", {}, "Configurations"), h("a", { class: "button primary", href: "/console/configs/new" }, "New configuration")), errors, body);
  try {
    const res = await api("GET", "/training-job-configs?per_page=1000&sortBy=config_name&order=asc");
    if (!res.configs.length) {
      fill(body, h("p", { class: "empty card" }, "No configurations yet."));
      return;
    }
    fill(
      body,
      table(
        "Configurations",
        [["Name"], ["Description", "wide-only"], ["Engine or image"], ["Created", "wide-only"]],
        res.configs.map((c) =>
          h(
            "tr",
            { dataset: { configName: c.config_name } },
            h("td", {}, h("a", { href: `/console/configs/${enc(c.config_name)}` }, c.config_name)),
            h("td", { class: "wide-only" }, c.config_desc),
            h("td", {}, c.engine_name ? `${c.engine_name} ${c.engine_version ?? ""}` : c.user_image_url ?? "—"),
            h("td", { class: "wide-only" }, time(c.create_time)),
          ),
        ),
      ),
    );
  } catch (e) {
    showError(errors, e);
  }
}

/** The name/description/config form of a configuration, sent with `method` to `path`. */
async function configForm(cfg, { creating, onSaved, errors }) {
  const form = h(
    "form",
    { id: "config-form", novalidate: true },
    h(
      "div",
      { class: "form-grid" },
      creating ? h("div", {}, h("label", { for: "config_name" }, "Name"), h("input", { id: "config_name", name: "config_name", required: true, autocomplete: "off" })) : null,
      h("div", {}, h("label", { for: "config_desc" }, "Description"), h("input", { id: "config_desc", name: "config_desc", value: cfg.config_desc ?? "" })),
    ),
    await configFields(cfg),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, creating ? "Create configuration" : "Save changes")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const name = creating ? d.get("config_name").trim() : cfg.config_name;
    // TC-01/TC-03 bodies are flat: the configuration's fields next to its description.
    const body = { config_desc: d.get("config_desc").trim(), ...readConfig(form) };
    try {
      if (creating) await api("POST", "/training-job-configs", { config_name: name, ...body });
      else await api("PUT", `/training-job-configs/${enc(name)}`, body);
      onSaved(name);
    } catch (err) {
      showError(errors, err);
    }
  });
  return form;
}

/** `/console/configs/new`: TC-01. */
export async function create(main) {
  titled("New configuration");
  const errors = errorBox();
  fill(main, h("h1", {}, "New configuration"), errors);
  main.append(await configForm({}, { creating: true, errors, onSaved: (name) => location.assign(`/console/configs/${enc(name)}`) }));
}

/** `/console/configs/{name}`: TC-05, with edit (TC-03), delete (TC-04) and "create a job". */
export async function detail(main, name) {
  titled(`Configuration ${name}`);
  const errors = errorBox();
  fill(main, h("h1", {}, `Configuration ${name}`), errors);
  let cfg;
  try {
    cfg = await api("GET", `/training-job-configs/${enc(name)}`);
  } catch (e) {
    if (e.status === 404 || e.code === "ModelArts.0105") main.querySelector("h1").textContent = "Not found";
    showError(errors, e);
    return;
  }
  const view = h(
    "dl",
    { class: "details" },
    [
      ["Description", cfg.config_desc || "—"],
      ["Code", `${cfg.app_url ?? "—"} → ${cfg.boot_file_url ?? "—"}`],
      ["Engine or image", cfg.engine_name ? `${cfg.engine_name} ${cfg.engine_version ?? ""}` : cfg.user_image_url ?? "—"],
      ["Spec", cfg.spec_code ? `${cfg.spec_code} (${cfg.core} cores, ${cfg.cpu} GB${cfg.gpu_num ? `, ${cfg.gpu_num} GPU` : ""})` : "—"],
      ["Workers", cfg.worker_server_num ?? 1],
      ["Data", cfg.data_url ?? "—"],
      ["Output", cfg.train_url ?? "—"],
      ["Parameters", paramsText(cfg.parameter) || "—"],
      ["Created", time(cfg.create_time)],
    ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
  const editArea = h("div");
  const actions = h(
    "div",
    { class: "actions" },
    h("a", { class: "button primary", id: "job-from-config", href: `/console/jobs/new?config=${enc(name)}` }, "Create a job from it"),
    h("button", { type: "button", id: "edit-config", onclick: async () => {
      fill(editArea, h("h2", {}, "Edit"), await configForm(cfg, { creating: false, errors, onSaved: () => location.reload() }));
      editArea.querySelector("input")?.focus();
    } }, "Edit"),
    confirmButton("Delete", "Delete this configuration?", async () => {
      try {
        await api("DELETE", `/training-job-configs/${enc(name)}`);
        location.assign("/console/configs");
      } catch (e) {
        showError(errors, e);
      }
    }),
  );
  main.append(actions, view, editArea);
}
