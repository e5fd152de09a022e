// Execute: find an action or procedure, read its documentation, fill in its
// arguments (form or JSON), run it, and see its output, errors and time.

import { api, describe, execute } from "../api.js";
import { clock, copy, h, pretty, say, shellQuote, statusLine, table, uid } from "../dom.js";
import { clearHistory, loadHistory, remember } from "../history.js";
import { argsEditor } from "../widgets/argsform.js";
import { combobox } from "../widgets/combobox.js";

/** A docstring as paragraphs, with ``code`` and `code` set as code. */
function docText(doc) {
  return doc.split(/\n\s*\n/).map((paragraph) =>
    h("p", {}, paragraph.split(/``?([^`]+)``?/).map((part, i) => (i % 2 ? h("code", {}, part) : part))));
}

function documentation(action) {
  const rows = action.parameters.map((p) => [
    h("code", {}, p.name),
    p.type || "any",
    "default" in p && !p.required ? h("code", {}, JSON.stringify(p.default)) : "—",
    p.required ? "yes" : "no",
    p.doc ? docText(p.doc) : "",
  ]);
  const headingId = uid("doc");
  return h("section", { class: "docs", "aria-labelledby": headingId },
    h("h2", { id: headingId }, action.name),
    action.doc ? docText(action.doc) : h("p", { class: "hint" }, "No description."),
    rows.length
      ? table(["Name", "Type", "Default", "Required", "Description"], rows, "Parameters")
      : h("p", {}, "No declared parameters: add any arguments it takes below."));
}

function curlCommand(action, args) {
  const body = JSON.stringify({ type: "request", action, args });
  return `curl -XPOST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\\n  -d ${shellQuote(body)} ${location.origin}/execute`;
}

function region(title, ...content) {
  const id = uid("region");
  return h("section", { "aria-labelledby": id }, h("h3", { id }, title), content);
}

export function render({ params }) {
  const actions = new Map();
  let chosen = null;
  let editor = null;

  const loadError = statusLine("alert");
  const picker = combobox({
    label: "Action",
    noun: "actions and procedures",
    placeholder: "Type part of a name, e.g. echo",
    onPick: (choice) => choose(choice.name),
  });
  const docs = h("div", {});
  const editorSlot = h("div", {});
  const formError = statusLine("alert");
  const runButton = h("button", { type: "submit" }, "Run");
  const curlText = h("pre", { class: "code", tabindex: "0", "aria-label": "curl command", hidden: true });
  const curlStatus = statusLine();
  const form = h("form", { onsubmit: submit, hidden: true },
    editorSlot,
    formError,
    h("div", { class: "actions" },
      runButton,
      h("button", { type: "button", class: "secondary", onclick: copyCurl }, "Copy as curl")),
    curlStatus,
    curlText);

  const runStatus = statusLine();
  const outputs = h("div", { class: "outputs" });
  const result = h("section", { class: "result", "aria-label": "Result", hidden: true }, runStatus, outputs);
  const historyList = h("ol", { class: "history" });
  const historyHeading = uid("history");
  const historySection = h("section", { "aria-labelledby": historyHeading },
    h("h2", { id: historyHeading }, "Recent runs"),
    historyList,
    h("button", {
      type: "button",
      class: "secondary",
      onclick: () => {
        clearHistory();
        showHistory([]);
      },
    }, "Clear history"));

  function choose(name, args = {}) {
    chosen = actions.get(name);
    picker.setValue(name);
    // The address names the action (for links and reloads) without a new route.
    history.replaceState(null, "", `#/execute?action=${encodeURIComponent(name)}`);
    docs.replaceChildren(documentation(chosen));
    editor = argsEditor(chosen.parameters, args);
    editorSlot.replaceChildren(editor.node);
    form.hidden = false;
    say(formError, "");
    say(curlStatus, "");
    curlText.hidden = true;
  }

  // The arguments as the form or the JSON editor holds them; null, with the
  // reason shown, when they do not read.
  function readArgs() {
    try {
      return editor.read();
    } catch (error) {
      say(formError, error.message);
      return null;
    }
  }

  function submit(event) {
    event.preventDefault();
    say(formError, "");
    const args = readArgs();
    if (args !== null) run(chosen.name, args);
  }

  async function run(action, args) {
    runButton.disabled = true;
    result.hidden = false;
    say(runStatus, `Running ${action}…`);
    outputs.replaceChildren();
    const started = performance.now();
    try {
      const envelope = await execute(action, args);
      const ms = Math.round(performance.now() - started);
      const { output, errors = [] } = envelope.response;
      const ok = errors.length === 0;
      say(runStatus, `${action} ${ok ? "finished" : "failed"} in ${ms} ms, at ${clock(Date.now() / 1000)}.`);
      outputs.replaceChildren(
        region("Output", h("pre", { class: "code", tabindex: "0" }, output === null || output === undefined ? "(nothing)" : pretty(output))),
        region("Errors", ok ? h("p", {}, "None.") : h("ul", { class: "errors" }, errors.map((e) => h("li", {}, e)))));
      showHistory(remember({ action, args, ok, ms, at: Date.now() / 1000 }));
    } catch (error) {
      say(runStatus, "");
      outputs.replaceChildren(h("p", { class: "status error", role: "alert" }, describe(error, `Could not run ${action}`)));
    } finally {
      runButton.disabled = false;
    }
  }

  function copyCurl() {
    const args = readArgs();
    if (args === null) return;
    curlText.textContent = curlCommand(chosen.name, args);
    curlText.hidden = false;
    copy(curlText.textContent, curlStatus, "curl command (set TOKEN to a token from Settings → Tokens)");
  }

  function showHistory(runs) {
    historySection.hidden = runs.length === 0;
    historyList.replaceChildren(...runs.map((entry) =>
      h("li", {},
        h("span", { class: "run" },
          h("code", {}, entry.action), " ",
          h("code", { class: "args-preview" }, JSON.stringify(entry.args)), " ",
          h("span", { class: entry.ok ? "ok" : "failed" }, `${entry.ok ? "ok" : "failed"}, ${entry.ms} ms, ${clock(entry.at)}`)),
        h("span", { class: "run-actions" },
          h("button", {
            type: "button",
            class: "secondary",
            "aria-label": `Edit ${entry.action}`,
            disabled: !actions.has(entry.action),
            onclick: () => choose(entry.action, entry.args),
          }, "Edit"),
          h("button", {
            type: "button",
            "aria-label": `Re-run ${entry.action}`,
            onclick: () => {
              if (actions.has(entry.action)) choose(entry.action, entry.args);
              run(entry.action, entry.args);
            },
          }, "Re-run")))));
  }

  async function load() {
    try {
      const { actions: list } = await api("GET", "/api/v1/actions");
      for (const action of list) actions.set(action.name, { ...action, parameters: action.parameters ?? [] });
      picker.setChoices(list.map((a) => ({ name: a.name, detail: (a.doc ?? "").split("\n")[0] })));
      const wanted = params.get("action");
      if (wanted && actions.has(wanted)) choose(wanted);
      else if (wanted) say(loadError, `There is no action named ${wanted}.`);
      showHistory(loadHistory());
    } catch (error) {
      say(loadError, describe(error, "Could not load the list of actions"));
    }
  }

  showHistory([]);
  load();
  const node = h("div", { class: "page execute" },
    h("h1", { tabindex: "-1" }, "Execute"),
    h("p", { class: "intro" }, "Run any action or procedure of the hub, as ", h("code", {}, "POST /execute"), " does."),
    h("div", { class: "columns" },
      h("div", { class: "column" }, picker.node, loadError, docs, form),
      h("div", { class: "column" }, result, historySection)));
  return { node };
}
