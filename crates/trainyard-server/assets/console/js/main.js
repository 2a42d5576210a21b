// The console's router: every screen is a real URL under /console/ served with the same shell;
// this picks the screen from the path. Links are plain links (a full page load), so the back
// button, new tabs and bookmarks work without any client-side history code.
import { fill, h, titled } from "./lib.js";
import * as jobs from "./jobs.js";
import * as job from "./job.js";
import * as v2job from "./v2job.js";
import * as configs from "./configs.js";
import * as viz from "./viz.js";
import * as catalog from "./catalog.js";
import * as usage from "./usage.js";

const routes = [
  [/^\/console\/jobs$/, "jobs", () => jobs.list],
  [/^\/console\/jobs\/new$/, "jobs", () => configs.newJob],
  [/^\/console\/jobs\/(\d+)$/, "jobs", () => job.page],
  [/^\/console\/jobs\/v2\/([0-9a-f-]{36})$/, "jobs", () => v2job.page],
  [/^\/console\/configs$/, "configs", () => configs.list],
  [/^\/console\/configs\/new$/, "configs", () => configs.create],
  [/^\/console\/configs\/([^/]+)$/, "configs", () => configs.detail],
  [/^\/console\/viz$/, "viz", () => viz.page],
  [/^\/console\/catalog$/, "catalog", () => catalog.page],
  [/^\/console\/usage$/, "usage", () => usage.page],
];

const main = document.getElementById("main");
const path = location.pathname.replace(/\/+$/, "");
const route = routes.find(([re]) => re.test(path));
if (route) {
  const [re, nav, screen] = route;
  document.querySelector(`nav a[data-nav="${nav}"]`)?.setAttribute("aria-current", "page");
  const args = path.match(re).slice(1).map(decodeURIComponent);
  screen()(main, ...args);
} else {
  titled("Not found");
  fill(main, h("h1", {}, "Not found"), h("p", {}, "No console page has this address. ", h("a", { href: "/console/jobs" }, "Training jobs")));
}
