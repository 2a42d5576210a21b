// Shared helpers of the console's pages: the API client (the same /v1 API every client uses,
// authorized by the session cookie plus the session's CSRF token), DOM building without
// innerHTML (so no value from the server is ever parsed as markup), and formatting in the
// browser's own time zone.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";

/** The project of this session (only this one is visible). */
export const project = meta("trainyard-project");
const csrf = meta("trainyard-csrf");

/** Status names and sets, written into the page by the server from trainyard-api. */
export const statuses = JSON.parse(document.getElementById("trainyard-statuses")?.textContent || "{}");

export const statusName = (code) => statuses.names?.[code] ?? `status ${code}`;
export const isTerminal = (code) => statuses.terminal.includes(code);
export const isStoppable = (code) => statuses.stoppable.includes(code);

/** An API error: the HTTP status, the ModelArts code and the API's message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls `/v1/{project}{path}`; resolves with the JSON answer, rejects with an ApiError. */
export async function api(method, path, body) {
  const headers = { "X-Console-CSRF": csrf, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(`/v1/${encodeURIComponent(project)}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "", `The server could not be reached (${e.message}).`);
  }
  return answer(res);
}

/** A call of the new-version (v2) API, `/v2/{project}` + `path`, same credentials. */
export async function apiV2(method, path, body) {
  const headers = { "X-Console-CSRF": csrf, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(`/v2/${encodeURIComponent(project)}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "", `The server could not be reached (${e.message}).`);
  }
  if (res.ok && (res.status === 202 || res.headers.get("content-length") === "0")) return null;
  return answer(res);
}

/** Replaces the storage folder `remote` with the tar archive `bytes` (trainyard's upload
 *  endpoint, as `trainyard jobs submit` uses it). */
export async function uploadTar(remote, bytes) {
  let res;
  try {
    res = await fetch(`/v1/${encodeURIComponent(project)}/storage/upload?path=${encodeURIComponent(remote)}`, {
      method: "PUT",
      headers: { "X-Console-CSRF": csrf, Accept: "application/json", "Content-Type": "application/x-tar" },
      body: bytes,
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "", `The server could not be reached (${e.message}).`);
  }
  return answer(res);
}

/** A tar archive (ustar) of `files`, each `{ path, data }` (a relative path, a Uint8Array). */
export function tarOf(files) {
  const enc = new TextEncoder();
  const blocks = [];
  let total = 0;
  const octal = (n, width) => n.toString(8).padStart(width - 1, "0") + "\0";
  for (const f of files) {
    const header = new Uint8Array(512);
    const put = (text, at, width) => header.set(enc.encode(text).subarray(0, width), at);
    let name = f.path;
    let prefix = "";
    if (enc.encode(name).length > 100) {
      const cut = name.lastIndexOf("/", 155);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    put(name, 0, 100);
    put(octal(0o644, 8), 100, 8);
    put(octal(0, 8), 108, 8);
    put(octal(0, 8), 116, 8);
    put(octal(f.data.length, 12), 124, 12);
    put(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
    put("        ", 148, 8);
    put("0", 156, 1);
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    put(prefix, 345, 155);
    const sum = header.reduce((a, b) => a + b, 0);
    put(octal(sum, 7) + " ", 148, 8);
    const padded = new Uint8Array(Math.ceil(f.data.length / 512) * 512);
    padded.set(f.data);
    blocks.push(header, padded);
    total += 512 + padded.length;
  }
  const out = new Uint8Array(total + 1024);
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Names the API gives form fields, and the words the console's forms use for them. */
export const FIELD_LABELS = {
  job_name: "Name",
  job_desc: "Description",
  config_name: "Name",
  app_url: "Code folder",
  boot_file_url: "Boot file",
  engine_id: "Engine",
  spec_id: "Resource spec",
  worker_server_num: "Workers",
  max_runtime_seconds: "Time limit",
  data_url: "Data folder",
  train_url: "Output folder",
  log_url: "Copy logs to",
  parameter: "Parameters",
  user_image_url: "Image",
  user_command: "Command",
};

/** The API's message in the form's words: field names become their labels, and the spec's
 *  "Parameter error. " prefix goes. */
export function inFormWords(message) {
  let text = String(message).replace(/^Parameter error\.\s*/, "");
  for (const [name, label] of Object.entries(FIELD_LABELS)) text = text.replace(new RegExp(`\\b${name}\\b`, "g"), label);
  return text;
}

/** Shows `err` at the field of `form` it is about (the first API field name its message
 *  names that the form has), in the form's words; answers whether it found one. Clears the
 *  errors shown before. */
export function showFieldError(form, err) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  if (!err) return false;
  const message = String(err.message || err);
  const name = Object.keys(FIELD_LABELS).find((n) => form.elements[n] && new RegExp(`\\b${n}\\b`).test(message));
  if (!name) return false;
  const input = form.elements[name];
  const note = h("p", { class: "field-error", id: `${name}-error`, role: "alert" }, inFormWords(message));
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), `${name}-error`].filter(Boolean).join(" "));
  input.insertAdjacentElement("afterend", note);
  input.focus();
  return true;
}

/** A console-only endpoint (`/console/api/...`), same credentials. */
export async function consoleApi(path) {
  const res = await fetch(`/console/api${path}`, {
    headers: { "X-Console-CSRF": csrf, Accept: "application/json" },
    credentials: "same-origin",
  });
  return answer(res);
}

async function answer(res) {
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: reported below with the HTTP status */
  }
  if (res.ok && data?.is_success !== false) return data;
  if (res.status === 401 && data?.error_code === "ModelArts.0202") {
    // The session ended (signed out elsewhere, expired, server restarted): sign in again and
    // come back here.
    location.assign(`/console/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  throw new ApiError(res.status, data?.error_code ?? "", data?.error_message ?? data?.error_msg ?? `HTTP ${res.status} ${res.statusText}`);
}

/** Builds an element: `h("a", {href: "/x", class: "y"}, "text", child...)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Shows `err` (an ApiError or any error) in `box`, a role="alert" element. */
export function showError(box, err) {
  if (!err) {
    box.replaceChildren();
    box.hidden = true;
    return;
  }
  box.hidden = false;
  fill(box, h("div", { class: "alert", role: "alert" }, err.message || String(err), err.code ? h("span", { class: "code" }, err.code) : null));
}

/** An empty, hidden error box to put on a page. */
export const errorBox = () => h("div", { class: "errors", hidden: true });

/** A local date and time (`<time>` with the ISO value for machines). */
export function time(ms) {
  if (!ms) return h("span", { class: "muted" }, "—");
  const d = new Date(ms);
  return h("time", { datetime: d.toISOString() }, d.toLocaleString());
}

/** `1h 02m 03s` from milliseconds. */
export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (hh) return `${hh}h ${String(mm).padStart(2, "0")}m ${String(ss).padStart(2, "0")}s`;
  if (mm) return `${mm}m ${String(ss).padStart(2, "0")}s`;
  return `${ss}s`;
}

/** The badge of a status code. */
export function badge(code) {
  let kind = "other";
  if (statuses.running.includes(code)) kind = "running";
  else if (statuses.pending.includes(code)) kind = "pending";
  else if (code === 10) kind = "completed";
  else if (isTerminal(code) && code !== 0) kind = "failed";
  return h("span", { class: `badge ${kind}`, dataset: { status: code } }, statusName(code));
}

/** A table in a scrolling wrapper; `columns` are `[label, className]`. */
export function table(caption, columns, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map(([label, cls]) => h("th", { scope: "col", class: cls }, label)))),
      h("tbody", {}, rows),
    ),
  );
}

/**
 * Runs `tick` now and then every `ms` while the page shows this screen; `tick` returning
 * false stops it. Errors are handed to `onError` and the polling goes on.
 */
export function poll(tick, ms, onError) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    timer = null;
    if (stopped) return;
    let again = true;
    try {
      again = (await tick()) !== false;
      onError?.(null);
    } catch (e) {
      onError?.(e);
    }
    if (again && !stopped) timer = setTimeout(run, ms);
  };
  run();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    now() {
      if (timer) clearTimeout(timer);
      if (!stopped) run();
    },
  };
}

/**
 * A button that asks once more in place (no modal dialog): the first press shows
 * "Really …? [yes] [cancel]", the second runs `action`.
 */
export function confirmButton(label, question, action, cls = "danger") {
  const wrap = h("span", { class: "confirm" });
  const ask = () =>
    fill(
      wrap,
      h("span", {}, question),
      h("button", { type: "button", class: cls, onclick: async () => {
        try {
          await action();
        } finally {
          reset();
        }
      } }, `Yes, ${label.toLowerCase()}`),
      h("button", { type: "button", onclick: () => { reset(); wrap.querySelector("button")?.focus(); } }, "Cancel"),
    );
  const reset = () => fill(wrap, h("button", { type: "button", class: cls, onclick: () => { ask(); wrap.querySelector("button")?.focus(); } }, label));
  reset();
  return wrap;
}

/** `label=value` lines to API parameters, and back. */
export function parseParams(text) {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf("=");
      return i < 0 ? { label: l, value: "" } : { label: l.slice(0, i).trim(), value: l.slice(i + 1).trim() };
    });
}
export const paramsText = (params) => (params ?? []).map((p) => `${p.label}=${p.value}`).join("\n");

/** Sets the page title and heading focus after a screen is drawn (screen readers hear it). */
export function titled(title) {
  document.title = `${title} · trainyard console`;
}

/**
 * Redrawing what a poll brought would replace the elements under the reader's focus or mouse;
 * `drawIfChanged(state, key, draw)` draws only when `key` (what the drawing shows, less the
 * ticking numbers) differs from the last time. The ticking numbers are set in place with
 * `setText`.
 */
export function drawIfChanged(state, key, draw) {
  if (state.key === key) return false;
  state.key = key;
  draw();
  return true;
}

/** Sets the text of every element matching `selector` under `root` to `text`. */
export function setText(root, selector, text) {
  for (const el of root.querySelectorAll(selector)) if (el.textContent !== text) el.textContent = text;
}
