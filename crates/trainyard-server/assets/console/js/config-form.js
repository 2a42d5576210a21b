// The fields of a job configuration (JobConfig), shared by "new training job", "new version"
// and the configuration pages, so each field is described once. Values are sent as typed; the
// API checks them and its message is shown when it refuses one.
import { api, h, paramsText, parseParams } from "./lib.js";

let catalogPromise = null;
/** Resource specs (RS-01) and engines (RS-02), read once per page. */
export function catalog() {
  catalogPromise ??= Promise.all([api("GET", "/job/resource-specs"), api("GET", "/job/ai-engines")]).then(([s, e]) => ({ specs: s.specs, engines: e.engines }));
  return catalogPromise;
}

const field = (id, label, input, hint) => h("div", {}, h("label", { for: id }, label), input, hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null);

/**
 * A fieldset with every JobConfig field the console edits, filled from `cfg` (a JobConfig,
 * a VersionInfo or a ConfigDetail: they share the field names).
 */
export async function configFields(cfg = {}) {
  const { specs, engines } = await catalog();
  const v = (k) => cfg[k] ?? "";
  const specOptions = specs.map((s) =>
    h("option", { value: s.spec_id, selected: s.spec_id === cfg.spec_id }, `${s.spec_code} (${s.core} cores, ${s.cpu} GB${s.gpu_num ? `, ${s.gpu_num} GPU` : ""})`),
  );
  // The default engine is the one `trainyard jobs submit` picks: the server's "Python" engine
  // (plain Python code), else the first one.
  const defaultEngine = (engines.find((e) => e.engine_name === "Python") ?? engines[0])?.engine_id;
  const engineOptions = [
    h("option", { value: "" }, "None (custom image)"),
    ...engines.map((e) => h("option", { value: e.engine_id, selected: e.engine_id === (cfg.engine_id ?? (cfg.user_image_url ? null : defaultEngine)) }, `${e.engine_name} ${e.engine_version}`)),
  ];
  return h(
    "fieldset",
    { class: "config" },
    h("legend", {}, "Configuration"),
    h(
      "div",
      { class: "form-grid" },
      field("app_url", "Code folder", h("input", { id: "app_url", name: "app_url", value: v("app_url"), placeholder: "/bucket/app/", "aria-describedby": "app_url-hint" }), "A folder of the project's storage; copied when the version is created."),
      field("boot_file_url", "Boot file", h("input", { id: "boot_file_url", name: "boot_file_url", value: v("boot_file_url"), placeholder: "/bucket/app/train.py" })),
      field("engine_id", "Engine", h("select", { id: "engine_id", name: "engine_id" }, engineOptions)),
      field("spec_id", "Resource spec (per worker)", h("select", { id: "spec_id", name: "spec_id" }, specOptions)),
      field("worker_server_num", "Workers", h("input", { id: "worker_server_num", name: "worker_server_num", type: "number", min: 1, value: cfg.worker_server_num ?? 1 })),
      field("max_runtime_seconds", "Time limit (seconds, optional)", h("input", { id: "max_runtime_seconds", name: "max_runtime_seconds", type: "number", min: 1, value: v("max_runtime_seconds") })),
      field("data_url", "Data folder", h("input", { id: "data_url", name: "data_url", value: v("data_url"), placeholder: "/bucket/data/" })),
      field("train_url", "Output folder (train_url)", h("input", { id: "train_url", name: "train_url", value: v("train_url"), placeholder: "/bucket/out/" })),
      field("log_url", "Copy logs to (optional)", h("input", { id: "log_url", name: "log_url", value: v("log_url") })),
    ),
    field("parameter", "Parameters", h("textarea", { id: "parameter", name: "parameter", rows: 4, "aria-describedby": "parameter-hint" }, paramsText(cfg.parameter)), "One label=value per line; each becomes --label=value."),
    h(
      "details",
      { open: Boolean(cfg.user_image_url) },
      h("summary", {}, "Custom image (optional)"),
      h(
        "div",
        { class: "form-grid" },
        field("user_image_url", "Image", h("input", { id: "user_image_url", name: "user_image_url", value: v("user_image_url"), placeholder: "localhost/my-image:1" })),
        field("user_command", "Command", h("input", { id: "user_command", name: "user_command", value: v("user_command"), placeholder: "python /home/work/user-job-dir/app/train.py {python_file_parameter}" })),
      ),
    ),
  );
}

/** The JobConfig of a form holding `configFields`; empty fields are left out. */
export function readConfig(form) {
  const d = new FormData(form);
  const text = (k) => {
    const x = (d.get(k) ?? "").trim();
    return x === "" ? undefined : x;
  };
  const num = (k) => (text(k) === undefined ? undefined : Number(text(k)));
  const cfg = {
    app_url: text("app_url"),
    boot_file_url: text("boot_file_url"),
    engine_id: num("engine_id"),
    spec_id: num("spec_id"),
    worker_server_num: num("worker_server_num"),
    max_runtime_seconds: num("max_runtime_seconds"),
    data_url: text("data_url"),
    train_url: text("train_url"),
    log_url: text("log_url"),
    parameter: parseParams(d.get("parameter") ?? ""),
    user_image_url: text("user_image_url"),
    user_command: text("user_command"),
  };
  for (const k of Object.keys(cfg)) if (cfg[k] === undefined) delete cfg[k];
  return cfg;
}

/** Fills the fields of `form` from a configuration (TC-05 detail). */
export function setConfig(form, cfg) {
  const set = (k, x) => {
    const el = form.elements[k];
    if (el) el.value = x ?? "";
  };
  for (const k of ["app_url", "boot_file_url", "data_url", "train_url", "log_url", "user_image_url", "user_command", "max_runtime_seconds"]) set(k, cfg[k]);
  set("engine_id", cfg.engine_id);
  set("spec_id", cfg.spec_id);
  set("worker_server_num", cfg.worker_server_num ?? 1);
  set("parameter", paramsText(cfg.parameter));
}
