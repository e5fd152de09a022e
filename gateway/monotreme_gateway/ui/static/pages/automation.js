// Automation: the procedures and schedules the hub knows, read through the
// `inspect` plugin. No inspect action lists event hooks yet, so this page
// says so instead of guessing.

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

function scheduleItem([name, job]) {
  const action = `cron.${name}`;
  const when = job.next_run ? `next run ${job.next_run}` : "no next run";
  return h("li", {},
    h("details", {},
      h("summary", {}, h("code", {}, action), ` — ${job.cron_expression}, ${when}`, job.running ? " (running)" : ""),
      h("pre", { class: "code" }, pretty(job))),
    h("a", { href: `#/execute?action=${encodeURIComponent(action)}`, "aria-label": `Open ${action} in Execute` }, "Run now in Execute"));
}

// One inspect action's answer into a list, with its status and errors in words.
async function fill(list, status, error, action, item, summary, what) {
  say(status, "Loading…");
  try {
    const { response } = await execute(action, {});
    if (response.errors?.length) throw new Error(response.errors.join("; "));
    const entries = Object.entries(response.output ?? {});
    list.replaceChildren(...entries.map(item));
    say(status, summary(entries.length));
  } catch (failure) {
    say(status, "");
    say(error, describe(failure, `Could not read the ${what}`));
  }
}

export function render() {
  const list = h("ul", { class: "procedures" });
  const status = h("p", { class: "hint", role: "status" });
  const error = statusLine("alert");
  const jobs = h("ul", { class: "procedures" });
  const jobsStatus = h("p", { class: "hint", role: "status" });
  const jobsError = statusLine("alert");
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}.`;

  fill(list, status, error, "inspect.get_procedures", ([, procedure]) => procedureItem(procedure),
    (n) => n ? plural(n, "procedure") : "No procedures: define them in the config (procedure.NAME) or in scripts (@procedure).",
    "procedures");
  fill(jobs, jobsStatus, jobsError, "inspect.get_cronjobs", scheduleItem,
    (n) => n ? plural(n, "schedule") : "No schedules: define them in the config (cron.NAME) or in scripts (@cron).",
    "schedules");
  const node = h("div", { class: "page automation" },
    h("h1", { tabindex: "-1" }, "Automation"),
    section("Procedures", status, error, list),
    section("Schedules", jobsStatus, jobsError, jobs),
    section("Hooks",
      h("p", {},
        "Not shown: no inspect action lists event hooks yet. ",
        "Hooks are the config's ", h("code", {}, "event.hook.*"), " entries and the scripts' ", h("code", {}, "@when"),
        " functions; they run on the hub whether or not they are listed here.")));
  return { node };
}
