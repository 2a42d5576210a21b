// The catalog: the executor's capacity (used and free), the resource specs (RS-01) with how
// many workers of each fit now, and the engines (RS-02).
import { api, consoleApi, errorBox, fill, h, showError, table, titled } from "./lib.js";

const NAMES = { cores: "CPU cores", memory_gb: "Memory (GB)", gpus: "GPUs" };

export async function page(main) {
  titled("Catalog");
  const errors = errorBox();
  const capacityBox = h("div", { class: "cards", id: "capacity" });
  const specsBox = h("div", { id: "specs" });
  const enginesBox = h("div", { id: "engines" });
  fill(main, h("h1", {}, "Catalog"), errors, h("h2", {}, "Capacity"), capacityBox, h("h2", {}, "Resource specs"), specsBox, h("h2", {}, "Engines"), enginesBox);
  try {
    const [cap, specs, engines] = await Promise.all([consoleApi("/capacity"), api("GET", "/job/resource-specs"), api("GET", "/job/ai-engines")]);
    fill(
      capacityBox,
      cap.resources.map((r) => {
        const pct = r.total ? Math.round((r.used / r.total) * 100) : 0;
        return h(
          "div",
          { class: "card", dataset: { resource: r.resource } },
          h("h3", {}, NAMES[r.resource] ?? r.resource),
          h("div", { class: "meter", role: "img", "aria-label": `${pct}% used` }, h("span", { style: null, dataset: { pct } })),
          h("p", {}, `${r.used} used · ${r.free} free · ${r.total} total`),
        );
      }),
    );
    // Width set from script (the page's CSP allows no inline style attributes).
    for (const bar of capacityBox.querySelectorAll(".meter > span")) bar.style.width = `${bar.dataset.pct}%`;
    const fits = new Map(cap.specs.map((s) => [s.spec_id, s]));
    fill(
      specsBox,
      table(
        "Resource specs",
        [["Spec"], ["Cores", "num"], ["Memory (GB)", "num"], ["GPUs", "num"], ["Max workers", "num wide-only"], ["Free now (workers)", "num"]],
        specs.specs.map((s) => {
          const f = fits.get(s.spec_id);
          const free = f?.free_workers === null || f?.free_workers === undefined ? "no limit" : f.free_workers;
          return h(
            "tr",
            { dataset: { specId: s.spec_id } },
            h("td", {}, s.spec_code),
            h("td", { class: "num" }, s.core),
            h("td", { class: "num" }, s.cpu),
            h("td", { class: "num" }, s.gpu_num ? `${s.gpu_num} × ${s.gpu_type}` : "0"),
            h("td", { class: "num wide-only" }, s.max_num),
            h("td", { class: "num" }, s.no_resource ? "0 (full)" : free),
          );
        }),
      ),
    );
    fill(
      enginesBox,
      table(
        "Engines",
        [["Engine"], ["Version"], ["Id", "num"], ["Type", "num wide-only"]],
        engines.engines.map((e) => h("tr", {}, h("td", {}, e.engine_name), h("td", {}, e.engine_version), h("td", { class: "num" }, e.engine_id), h("td", { class: "num wide-only" }, e.engine_type))),
      ),
    );
  } catch (e) {
    showError(errors, e);
  }
}
