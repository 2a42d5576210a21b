// A worker log viewer over the paged log API (TJ-12, `aom-log`): it only ever asks for pages
// of at most 500 lines by line number, so a multi-GB log opens as fast as a small one (the
// server keeps a sparse line index next to each log). "Follow" asks for the lines after the
// last one shown every second; "Jump to end" asks for the last page.
import { api, h, fill } from "./lib.js";

const PAGE = 500;
/** Lines kept on screen; older ones are dropped (and can be read again with "Older"). */
const KEEP = 5000;

export class LogView {
  constructor(jobId, versionId) {
    this.base = `/training-jobs/${jobId}/versions/${versionId}`;
    this.file = null;
    this.lines = [];
    this.first = 0; // line number of this.lines[0]
    this.last = 0; // line number of the last line shown (0: none)
    this.following = false;
    this.timer = null;
    this.busy = false;
    this.pre = h("pre", { class: "log", id: "log", tabindex: 0, role: "log", "aria-label": "Worker log", "aria-live": "off" });
    this.where = h("p", { class: "log-where", id: "log-where" });
    this.message = h("div", { class: "errors" });
    this.workers = h("select", { id: "log-worker", onchange: () => this.open(this.workers.value) });
    this.follow = h("input", { type: "checkbox", id: "log-follow", onchange: () => this.setFollow(this.follow.checked) });
    this.el = h(
      "div",
      { class: "log-view" },
      h(
        "div",
        { class: "log-tools" },
        h("label", { for: "log-worker", class: "inline" }, "Worker", this.workers),
        h("button", { type: "button", id: "log-start", onclick: () => this.run(() => this.toStart()) }, "Start"),
        h("button", { type: "button", id: "log-older", onclick: () => this.run(() => this.older()) }, "Older"),
        h("button", { type: "button", id: "log-newer", onclick: () => this.run(() => this.newer()) }, "Newer"),
        h("button", { type: "button", id: "log-end", onclick: () => this.run(() => this.toEnd()) }, "Jump to end"),
        h("label", { class: "inline", for: "log-follow" }, this.follow, "Follow"),
      ),
      this.message,
      this.pre,
      this.where,
    );
  }

  /** Reads the worker list (TJ-10) and opens the first log: at its end, following, while the
   *  version runs; at its start once it ended. */
  async load(active) {
    try {
      const names = (await api("GET", `${this.base}/log/file-names`)).log_file_list;
      if (!names.length) {
        this.say(active ? "No log yet: the version has not started." : "This version wrote no log.");
        return false;
      }
      fill(this.workers, names.map((n) => h("option", { value: n }, n)));
      this.follow.checked = active;
      await this.open(names[0], active);
      return true;
    } catch (e) {
      this.say(e.message, true);
      return false;
    }
  }

  async open(file, atEnd = this.following) {
    this.file = file;
    this.workers.value = file;
    await this.run(() => (atEnd ? this.toEnd() : this.toStart()));
    this.setFollow(this.follow.checked);
  }

  say(text, isError = false) {
    fill(this.message, text ? h("div", { class: isError ? "alert" : "muted", role: isError ? "alert" : "status" }, text) : null);
  }

  async page(params) {
    const q = new URLSearchParams({ log_file: this.file, lines: PAGE, ...params });
    return api("GET", `${this.base}/aom-log?${q}`);
  }

  /** Runs one page request at a time, showing its error in place. */
  async run(step) {
    if (this.busy || !this.file) return;
    this.busy = true;
    try {
      await step();
      this.say(null);
    } catch (e) {
      this.say(e.message, true);
    } finally {
      this.busy = false;
    }
  }

  show(lines, first, scroll) {
    this.lines = lines;
    this.first = first;
    this.last = lines.length ? first + lines.length - 1 : first - 1;
    this.pre.textContent = lines.join("\n");
    this.where.textContent = lines.length ? `Lines ${this.first.toLocaleString()}–${this.last.toLocaleString()} of ${this.file}` : `${this.file} is empty so far.`;
    if (scroll === "end") this.pre.scrollTop = this.pre.scrollHeight;
    if (scroll === "start") this.pre.scrollTop = 0;
  }

  static split(res) {
    return res.lines ? res.content.split("\n") : [];
  }

  async toStart() {
    const res = await this.page({ base_line: 0, order: "desc" });
    this.show(LogView.split(res), res.lines ? Number(res.start_line) : 1, "start");
  }

  async toEnd() {
    const res = await this.page({});
    this.show(LogView.split(res), res.lines ? Number(res.start_line) : 1, "end");
  }

  async older() {
    if (this.first <= 1) return;
    const res = await this.page({ base_line: this.first, order: "asc" });
    if (!res.lines) return;
    const lines = [...LogView.split(res), ...this.lines].slice(0, KEEP);
    const height = this.pre.scrollHeight;
    this.show(lines, Number(res.start_line));
    this.pre.scrollTop = this.pre.scrollHeight - height;
  }

  /** The lines after the last one shown; returns how many came. */
  async newer(scroll) {
    const res = await this.page({ base_line: this.last, order: "desc" });
    if (!res.lines) return 0;
    let lines = [...this.lines, ...LogView.split(res)];
    let first = this.first;
    if (lines.length > KEEP) {
      first += lines.length - KEEP;
      lines = lines.slice(lines.length - KEEP);
    }
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    this.show(lines, first, scroll ?? (atBottom ? "end" : undefined));
    return res.lines;
  }

  setFollow(on) {
    this.following = on;
    this.follow.checked = on;
    clearTimeout(this.timer);
    if (!on) return;
    const tick = async () => {
      if (!this.following) return;
      await this.run(async () => {
        // Everything that came since, page by page, then wait for more.
        while ((await this.newer("end")) === PAGE);
      });
      if (this.following) this.timer = setTimeout(tick, 1000);
    };
    tick();
  }

  stop() {
    this.following = false;
    clearTimeout(this.timer);
  }
}
