// Automation: the procedures the hub knows, read through the `inspect`
// plugin. No inspect action lists event hooks or schedules yet, so this
// page says so instead of guessing.

import { describe, execute } from "../api.js";
import { h, pretty, say, statusLine, uid } from "../dom.js";

function section(title, ...content) {
  const id = uid("section");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), content);
}

function procedureItem(procedure) {
  const name = `procedure.${procedure.name}`;
  const args = procedure.args?.length ? `(${procedure.args.join(", ")})` : "";
  const kind = procedure.type === "python" ? "Python" : "YAML";
  return h("li", {},
    h("details", {},
      h("summary", {}, h("code", {}, `${name}${args}`), ` — ${kind}`, procedure.source ? `, ${procedure.source}` : ""),
      h("pre", { class: "code" }, pretty(procedure.actions ?? procedure))),
    h("a", { href: `#/execute?action=${encodeURIComponent(name)}`, "aria-label": `Open ${name} in Execute` }, "Open in Execute"));
}

export function render() {
  const list = h("ul", { class: "procedures" });
  const status = h("p", { class: "hint", role: "status" });
  const error = statusLine("alert");

  async function load() {
    say(status, "Loading…");
    try {
      const { response } = await execute("inspect.get_procedures", {});
      if (response.errors?.length) throw new Error(response.errors.join("; "));
      const procedures = Object.values(response.output ?? {});
      list.replaceChildren(...procedures.map(procedureItem));
      say(status, procedures.length
        ? `${procedures.length} procedure${procedures.length === 1 ? "" : "s"}.`
        : "No procedures: define them in the config (procedure.NAME) or in scripts (@procedure).");
    } catch (failure) {
      say(status, "");
      say(error, describe(failure, "Could not read the procedures"));
    }
  }

  load();
  const node = h("div", { class: "page automation" },
    h("h1", { tabindex: "-1" }, "Automation"),
    section("Procedures", status, error, list),
    section("Hooks and schedules",
      h("p", {},
        "Not shown: no inspect action lists event hooks or schedules yet, so this page shows procedures only. ",
        "Hooks are the config's ", h("code", {}, "event.hook.*"), " entries and the scripts' ", h("code", {}, "@when"),
        " functions; they run on the hub whether or not they are listed here.")));
  return { node };
}
