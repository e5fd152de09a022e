// An action's arguments, two ways kept in step: a form generated from its
// parameter schema (plus free name/value rows, since many actions take any
// keyword argument) and the raw JSON of `args`. The JSON, while valid, is
// what runs; editing the form rewrites it, editing it refills the form.

import { field, h, say, statusLine, uid } from "../dom.js";

/** Text as typed into a free field: JSON when it parses as JSON, else the text itself. */
export function loose(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The inverse of `loose`: strings that would parse as JSON keep their quotes. */
function looseText(value) {
  return typeof value === "string" && loose(value) === value ? value : JSON.stringify(value);
}

/** How each parameter type reads its field's text: {value} or {error}; absent when blank. */
const READERS = {
  string: (text) => ({ value: text }),
  integer: (text) => (/^-?\d+$/.test(text.trim()) ? { value: Number(text) } : { error: "a whole number" }),
  number: (text) => (text.trim() !== "" && Number.isFinite(Number(text)) ? { value: Number(text) } : { error: "a number" }),
  boolean: (text) => ({ value: loose(text) }),
  object: (text) => jsonOf(text, (v) => v !== null && typeof v === "object" && !Array.isArray(v), "a JSON object"),
  array: (text) => jsonOf(text, Array.isArray, "a JSON array"),
  any: (text) => ({ value: loose(text) }),
};

function jsonOf(text, fits, what) {
  try {
    const value = JSON.parse(text);
    return fits(value) ? { value } : { error: what };
  } catch {
    return { error: what };
  }
}

function shown(type, value) {
  if (type === "string" && typeof value === "string") return value;
  if (type === "object" || type === "array") return JSON.stringify(value, null, 2);
  return looseText(value);
}

/** One declared parameter's labelled control. */
function parameterField(parameter) {
  const type = READERS[parameter.type] ? parameter.type : "any";
  const hint = "default" in parameter && !parameter.required
    ? `Default: ${JSON.stringify(parameter.default)}`
    : null;
  let control;
  if (type === "boolean") {
    control = h("select", {},
      h("option", { value: "" }, parameter.required ? "(choose)" : "(not set)"),
      h("option", { value: "true" }, "true"),
      h("option", { value: "false" }, "false"));
  } else if (type === "object" || type === "array") {
    control = h("textarea", { rows: 3, class: "code", spellcheck: "false", placeholder: type === "object" ? "{}" : "[]" });
  } else {
    const inputmode = type === "integer" ? "numeric" : type === "number" ? "decimal" : null;
    control = h("input", { inputmode, spellcheck: "false", autocapitalize: "none" });
  }
  control.name = parameter.name;
  if (parameter.required) control.setAttribute("aria-required", "true");
  const caption = [parameter.name, h("span", { class: "badge" }, parameter.required ? `${type}, required` : type)];
  const error = h("span", { class: "field-error", id: uid("error"), hidden: true });
  const node = field(caption, control, hint);
  node.append(error);
  control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") ?? ""} ${error.id}`.trim());
  return {
    node,
    name: parameter.name,
    read() {
      if (control.value === "") return {};
      const answer = READERS[type](control.value);
      const problem = answer.error ? `${parameter.name}: must be ${answer.error}` : "";
      say(error, problem);
      control.setAttribute("aria-invalid", String(Boolean(problem)));
      return answer;
    },
    write(value) {
      if (type === "boolean") {
        // A value typed into the JSON that is no boolean is shown as such, so nothing is lost.
        control.querySelector("option.typed")?.remove();
        if (value !== undefined && typeof value !== "boolean") {
          const text = JSON.stringify(value);
          control.append(h("option", { value: text, class: "typed" }, text));
        }
      }
      control.value = value === undefined ? "" : shown(type, value);
      this.read();
    },
  };
}

/** A free argument: name and value (JSON, or text). */
function freeRow(onRemove) {
  const name = h("input", { spellcheck: "false", autocapitalize: "none" });
  const value = h("input", { spellcheck: "false", autocapitalize: "none" });
  const node = h("div", { class: "free-row" },
    field("Argument name", name),
    field("Argument value", value),
    h("button", { type: "button", class: "secondary", onclick: () => onRemove(row) }, "Remove"));
  const row = { node, name, value };
  return row;
}

/**
 * The editor for `parameters` (ListActions' schema), filled with `args`.
 * Answers {node, read()}: read() answers the arguments, or throws an Error
 * saying what to fix.
 */
export function argsEditor(parameters, args = {}) {
  const fields = parameters.map(parameterField);
  const declared = new Set(parameters.map((p) => p.name));
  const rows = h("div", { class: "free-rows" });
  let free = [];
  const json = h("textarea", { rows: 6, class: "code", spellcheck: "false", name: "args" });
  const jsonError = statusLine("alert");

  function addRow(name = "", value) {
    const row = freeRow((gone) => {
      free = free.filter((r) => r !== gone);
      gone.node.remove();
      formChanged();
    });
    row.name.value = name;
    row.value.value = value === undefined ? "" : looseText(value);
    free.push(row);
    rows.append(row.node);
    return row;
  }

  function fromForm() {
    const result = {};
    for (const f of fields) {
      const { value } = f.read();
      if (value !== undefined) result[f.name] = value;
    }
    for (const row of free) {
      const name = row.name.value.trim();
      if (name && row.value.value !== "") result[name] = loose(row.value.value);
    }
    return result;
  }

  function formChanged() {
    json.value = JSON.stringify(fromForm(), null, 2);
    say(jsonError, "");
  }

  function fill(values) {
    for (const f of fields) f.write(values[f.name]);
    free = [];
    rows.replaceChildren();
    for (const [name, value] of Object.entries(values)) {
      if (!declared.has(name)) addRow(name, value);
    }
  }

  function parsed() {
    let values;
    try {
      values = JSON.parse(json.value || "{}");
    } catch (error) {
      throw new Error(`Arguments (JSON) is not valid JSON: ${error.message}`);
    }
    if (values === null || typeof values !== "object" || Array.isArray(values)) {
      throw new Error('Arguments (JSON) must be a JSON object, like {"name": "value"}');
    }
    return values;
  }

  json.addEventListener("input", () => {
    try {
      fill(parsed());
      say(jsonError, "");
    } catch (error) {
      say(jsonError, error.message);
    }
  });

  const form = h("fieldset", { class: "args", oninput: formChanged },
    h("legend", {}, "Arguments"),
    fields.map((f) => f.node),
    rows,
    h("button", {
      type: "button",
      class: "secondary",
      onclick: () => addRow().name.focus(),
    }, "Add argument"));
  fill(args);
  json.value = JSON.stringify(args, null, 2);

  return {
    node: h("div", { class: "args-editor" },
      form,
      field("Arguments (JSON)", json, "The args object sent to /execute; it and the form above stay in step."),
      jsonError),
    read() {
      const values = parsed();
      const problems = fields.map((f) => f.read().error && f.name).filter(Boolean);
      if (problems.length) throw new Error(`Fix the argument ${problems.join(", ")} first`);
      return values;
    },
  };
}
