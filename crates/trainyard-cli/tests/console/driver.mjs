// Browser driver of crates/trainyard-cli/tests/it/console.rs: one headless Chromium (Debian's
// `chromium`, driven by playwright-core) for the whole suite, remote-controlled over stdin and
// stdout with one JSON command per line. The test itself (what to click, what must happen)
// is written in Rust next to the server it starts; this file only knows how to drive a page.
//
// Command: {"op": "...", "page": "name", ...}; answer: {"ok": true, "value": ...} or
// {"ok": false, "error": "..."}. Pages are named; "context" names a browser context (its own
// cookies), so two projects can be signed in side by side.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.SCREENSHOT_DIR;
const base = process.env.BASE_URL;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const TIME_ZONE = "Asia/Tokyo";

if (!existsSync(executablePath)) {
  console.log(JSON.stringify({ ok: false, error: `no Chromium at ${executablePath}: apt-get install chromium (or set CHROMIUM)` }));
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const contexts = new Map();
const pages = new Map();

async function context(name = "default", scheme = "light") {
  const key = `${name}`;
  // A time zone other than the machine's (UTC here), so the test sees times shown in the
  // browser's zone.
  if (!contexts.has(key)) contexts.set(key, await browser.newContext({ baseURL: base, viewport: DESKTOP, colorScheme: scheme, timezoneId: TIME_ZONE, locale: "en-US" }));
  return contexts.get(key);
}

function track(name, page) {
  pages.set(name, page);
  page.on("pageerror", (e) => process.stderr.write(`[${name}] page error: ${e.message}\n`));
  page.on("console", (m) => {
    // Refused requests are part of the tests (the page shows the API's message); other
    // console errors are worth seeing when a step fails.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) process.stderr.write(`[${name}] console: ${m.text()}\n`);
  });
}

async function page(name = "main", ctx) {
  if (!pages.has(name)) track(name, await (await context(ctx)).newPage());
  return pages.get(name);
}

const ops = {
  async goto({ page: p, context: ctx, url }) {
    const pg = await page(p, ctx);
    await pg.goto(url, { waitUntil: "domcontentloaded" });
    return pg.url();
  },
  async url({ page: p }) {
    return (await page(p)).url();
  },
  async waitUrl({ page: p, pattern, timeout = 15000 }) {
    const pg = await page(p);
    await pg.waitForURL(new RegExp(pattern), { timeout, waitUntil: "domcontentloaded" });
    return pg.url();
  },
  async fill({ page: p, selector, value }) {
    await (await page(p)).locator(selector).fill(value);
  },
  /** Sets the files of a file input: paths of files, or one folder for a `webkitdirectory` input.
   *  The page comes to the front first: Chromium lists a chosen folder only for the tab in front
   *  (in a tab behind another the input never gets its files). */
  async setFiles({ page: p, selector, files }) {
    const pg = await page(p);
    await pg.bringToFront();
    await pg.locator(selector).setInputFiles(files);
  },
  async select({ page: p, selector, value }) {
    await (await page(p)).locator(selector).selectOption(value);
  },
  async click({ page: p, selector }) {
    await (await page(p)).locator(selector).first().click();
  },
  async press({ page: p, selector, key }) {
    await (await page(p)).locator(selector).press(key);
  },
  async text({ page: p, selector }) {
    return (await page(p)).locator(selector).first().innerText();
  },
  async value({ page: p, selector }) {
    return (await page(p)).locator(selector).first().inputValue();
  },
  /** Waits until `selector`'s text contains `text`; answers the whole text. */
  async waitText({ page: p, selector, text, timeout = 15000 }) {
    const pg = await page(p);
    try {
      await pg.waitForFunction(([s, t]) => document.querySelector(s)?.textContent.includes(t), [selector, text], { timeout, polling: 50 });
    } catch (e) {
      const now = await pg.evaluate((s) => document.querySelector(s)?.textContent ?? "(no such element)", selector);
      throw new Error(`${selector} never showed ${JSON.stringify(text)} in ${timeout} ms; it shows ${JSON.stringify(now.slice(0, 2000))}`);
    }
    return pg.locator(selector).first().textContent();
  },
  /** Waits until the JavaScript expression `expr` is truthy in the page; answers its value. */
  async waitFor({ page: p, expr, timeout = 15000 }) {
    // Polled from here with `evaluate` rather than `waitForFunction(string)`: the console's
    // content security policy forbids the eval() that the latter runs in the page.
    const pg = await page(p);
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        last = await pg.evaluate(expr);
        if (last) return last;
      } catch (e) {
        last = e.message.split("\n")[0];
      }
      if (Date.now() > deadline) throw new Error(`never true in ${timeout} ms: ${expr} (last: ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  },
  async eval({ page: p, expr }) {
    return (await page(p)).evaluate(expr);
  },
  /** Clicks `selector` and names the tab it opens `as`; answers the tab's first URL. */
  async popup({ page: p, selector, as }) {
    const pg = await page(p);
    const [tab] = await Promise.all([pg.context().waitForEvent("page"), pg.locator(selector).first().click()]);
    track(as, tab);
    await tab.waitForLoadState("domcontentloaded");
    return tab.url();
  },
  /** Waits for visible text anywhere in the page, shadow DOM included (TensorBoard's UI). */
  async waitVisibleText({ page: p, text, timeout = 30000 }) {
    await (await page(p)).getByText(text, { exact: true }).first().waitFor({ state: "visible", timeout });
  },
  /** axe-core on the page as it is: the serious and critical violations. */
  async axe({ page: p }) {
    const pg = await page(p);
    await pg.evaluate(AXE);
    const result = await pg.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  },
  /** Whole-page screenshots in a 1280×800 and a 390×844 window, light and dark:
   *  `<name>-<size>-<scheme>.png`. */
  async screenshots({ page: p, name, settle = 400 }) {
    const pg = await page(p);
    const files = [];
    mkdirSync(shots, { recursive: true });
    for (const scheme of ["light", "dark"]) {
      await pg.emulateMedia({ colorScheme: scheme });
      for (const [size, vp] of [["1280x800", DESKTOP], ["390x844", PHONE]]) {
        await pg.setViewportSize(vp);
        await pg.waitForTimeout(settle);
        const file = `${shots}/${name}-${size}-${scheme}.png`;
        await pg.screenshot({ path: file, fullPage: true });
        files.push(file);
      }
    }
    await pg.emulateMedia({ colorScheme: "light" });
    await pg.setViewportSize(DESKTOP);
    return files;
  },
  async emulate({ page: p, scheme, width, height }) {
    const pg = await page(p);
    if (scheme) await pg.emulateMedia({ colorScheme: scheme });
    if (width) await pg.setViewportSize({ width, height });
  },
  /** The cookies of the page's browser context, with their attributes. */
  async cookies({ page: p }) {
    return (await page(p)).context().cookies();
  },
  /** Milliseconds from the start of the page's navigation until `expr` is truthy (browser clock). */
  async timeUntil({ page: p, expr, timeout = 15000 }) {
    const check = `(${expr}) ? performance.now() : 0`;
    return ops.waitFor({ page: p, expr: check, timeout });
  },
  async close({ page: p }) {
    await (await page(p)).close();
    pages.delete(p);
  },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let answer;
  try {
    const cmd = JSON.parse(line);
    if (!ops[cmd.op]) throw new Error(`unknown op ${cmd.op}`);
    answer = { ok: true, value: (await ops[cmd.op](cmd)) ?? null };
  } catch (e) {
    // What the page says is usually why: its error messages go along with the failure.
    let alerts = "";
    try {
      const cmd = JSON.parse(line);
      const pg = pages.get(cmd.page ?? "main");
      if (pg) alerts = (await pg.locator(".alert").allInnerTexts()).join(" | ");
    } catch {
      /* the page is gone */
    }
    answer = { ok: false, error: alerts ? `${e.message}\npage alerts: ${alerts}` : e.message };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await browser.close();
