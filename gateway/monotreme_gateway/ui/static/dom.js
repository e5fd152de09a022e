// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing an action or event returns can become markup.

let nextId = 0;

/** A unique element id, for label/description associations. */
export function uid(prefix = "id") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * Builds an element: h("button", {type: "button", onclick: run}, "Run").
 * `on*` props add listeners; `value` and `checked` set the live property;
 * `true` adds an empty attribute; null, undefined and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  // Children first: a <select>'s value can only name an option it has.
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked") element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  return element;
}

/** A form control with its visible label and, optionally, a hint that describes it. */
export function field(caption, control, hint) {
  control.id ||= uid("field");
  const hintElement = hint ? h("span", { class: "hint", id: uid("hint") }, hint) : null;
  if (hintElement) control.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { class: "caption", for: control.id }, caption), control, hintElement);
}

/** An element whose text is announced when it changes (errors use role=alert). */
export function statusLine(role = "status") {
  return h("p", { class: role === "alert" ? "status error" : "status", role, hidden: true });
}

/** Shows `text` in a status line, or hides it when empty. */
export function say(line, text) {
  line.textContent = text ?? "";
  line.hidden = !text;
}

/**
 * A table whose rows stack into labelled cards on narrow screens: `columns`
 * are the headings, each row's first cell names the row.
 */
export function table(columns, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", { class: "stack" },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((cells) =>
        h("tr", {}, cells.map((cell, i) =>
          h(i ? "td" : "th", { scope: i ? null : "row", "data-label": columns[i] || null }, cell)))))));
}

/** JSON as people read it: strings as they are, everything else indented. */
export function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/** A Unix time in seconds as a date, or `never` for 0. */
export function when(seconds, never = "never") {
  return seconds ? dateFormat.format(new Date(seconds * 1000)) : never;
}

/** A Unix time in seconds as the time of day. */
export function clock(seconds) {
  return timeFormat.format(new Date(seconds * 1000));
}

/** A JSON-safe single-quoted shell word. */
export function shellQuote(text) {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * Copies text to the clipboard and says so in `line`. Browsers offer the
 * clipboard only on https or localhost; elsewhere the text stays on the
 * page, selected, for the user to copy.
 */
export async function copy(text, line, what, fallback) {
  try {
    await navigator.clipboard.writeText(text);
    say(line, `Copied the ${what}.`);
  } catch {
    fallback?.focus();
    fallback?.select?.();
    say(line, `This browser does not let the page copy here: select the ${what} and copy it.`);
  }
}
