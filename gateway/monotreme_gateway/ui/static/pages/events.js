// Events: the live stream, filtered by type and by args, with pause, clear
// and a count of what the hub dropped; and a form to publish an event.

import { api, describe } from "../api.js";
import { clock, field, h, pretty, say, statusLine, uid } from "../dom.js";
import { loose } from "../widgets/argsform.js";
import { KEPT, stream } from "../stream.js";

const CUSTOM_EVENT = "platypush.message.event.custom.CustomEvent";

/** `subtype=foo args.room=hall` as [[path, value]]; a bare `key` asks only that it exists. */
function parseArgsFilter(text) {
  return text.split(/\s+/).filter(Boolean).map((term) => {
    const [path, ...value] = term.split("=");
    return [path.split("."), value.length ? value.join("=") : null];
  });
}

function lookup(object, path) {
  return path.reduce((value, key) => (value !== null && typeof value === "object" ? value[key] : undefined), object);
}

/** Whether an event passes the filters: its type contains `type`, its args hold every `args` term. */
function passes(event, type, args) {
  const eventType = String(event.args?.type ?? "");
  if (type && !eventType.toLowerCase().includes(type.toLowerCase())) return false;
  return args.every(([path, wanted]) => {
    const value = lookup(event.args, path);
    if (value === undefined) return false;
    return wanted === null || (typeof value === "string" ? value : JSON.stringify(value)) === wanted;
  });
}

function shortType(type) {
  return String(type ?? "event").split(".").pop();
}

function eventItem(event) {
  const { type, subtype } = event.args ?? {};
  return h("li", {},
    h("details", {},
      h("summary", {},
        event._timestamp ? h("time", {}, clock(event._timestamp)) : null, " ",
        h("strong", {}, shortType(type)),
        subtype ? [" ", h("span", { class: "subtype" }, String(subtype))] : null,
        event.origin ? h("span", { class: "origin" }, ` from ${event.origin}`) : null),
      h("pre", { class: "code" }, pretty(event))));
}

function publishForm() {
  const type = h("input", { value: CUSTOM_EVENT, spellcheck: "false", autocapitalize: "none", required: true });
  const subtype = h("input", { spellcheck: "false", autocapitalize: "none" });
  const args = h("textarea", { rows: 3, class: "code", spellcheck: "false", value: "{}" });
  const result = statusLine();
  const error = statusLine("alert");
  const headingId = uid("publish");

  async function publish(submitted) {
    submitted.preventDefault();
    say(result, "");
    say(error, "");
    const fields = { type: type.value.trim() };
    if (subtype.value.trim()) fields.subtype = subtype.value.trim();
    const extra = loose(args.value || "{}");
    if (extra === null || typeof extra !== "object" || Array.isArray(extra)) {
      say(error, 'Args must be a JSON object, like {"room": "hall"}.');
      return;
    }
    if (Object.keys(extra).length) fields.args = extra;
    try {
      const { event } = await api("POST", "/api/v1/events", { type: "event", args: fields });
      say(result, `Published event ${event.id}.`);
    } catch (failure) {
      say(error, describe(failure, "Could not publish the event"));
    }
  }

  return h("section", { class: "card", "aria-labelledby": headingId },
    h("h2", { id: headingId }, "Publish an event"),
    h("form", { onsubmit: publish },
      field("Event type", type),
      field("Subtype", subtype, "Hooks and listeners often match on it."),
      field("Event args (JSON)", args),
      error,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Publish event")),
      result));
}

export function render() {
  const typeFilter = h("input", { type: "search", spellcheck: "false", autocapitalize: "none", placeholder: "CustomEvent" });
  const argsFilter = h("input", { type: "search", spellcheck: "false", autocapitalize: "none", placeholder: "subtype=arrived" });
  const connection = h("p", { class: "status", role: "status" });
  const counts = h("p", { class: "counts" });
  const missed = h("p", { class: "status warning", role: "status", hidden: true });
  const list = h("ol", { class: "events", "aria-label": "Events, newest first" });
  const pauseButton = h("button", { type: "button", class: "secondary", onclick: togglePause }, "Pause");
  let paused = false;
  let pending = 0;

  function filters() {
    return [typeFilter.value.trim(), parseArgsFilter(argsFilter.value)];
  }

  function rebuild() {
    const [type, args] = filters();
    list.replaceChildren(...stream.events.filter((event) => passes(event, type, args)).map(eventItem));
    showCounts();
  }

  function showCounts() {
    const shown = list.querySelectorAll("li:not(.empty)").length;
    const parts = [`${shown} shown`];
    if (!paused && stream.events.length > shown) parts.push(`${stream.events.length - shown} hidden by the filters`);
    parts.push(`${stream.received} received`);
    counts.textContent = `${parts.join(", ")}.${paused ? ` Paused: ${pending} new since.` : ""}`;
    say(missed, stream.missed
      ? `Missed ${stream.missed} event${stream.missed === 1 ? "" : "s"}: the page fell behind or was disconnected, and the hub no longer had them.`
      : "");
    if (!shown) list.replaceChildren(h("li", { class: "empty" }, stream.received ? "No event matches the filters." : "No events yet."));
  }

  function onChange({ detail: frame }) {
    connection.textContent = stream.message;
    if (!frame) return; // only the connection changed
    if (paused) {
      pending += 1;
    } else if (passes(frame, ...filters())) {
      list.querySelector("li.empty")?.remove();
      list.prepend(eventItem(frame));
      while (list.children.length > KEPT) list.lastChild.remove();
    }
    showCounts();
  }

  function togglePause() {
    paused = !paused;
    pending = 0;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    rebuild();
  }

  function clear() {
    stream.clear();
    pending = 0;
    rebuild();
  }

  stream.addEventListener("change", onChange);
  stream.start();
  connection.textContent = stream.message;
  rebuild();

  const node = h("div", { class: "page events" },
    h("h1", { tabindex: "-1" }, "Events"),
    h("div", { class: "columns" },
      h("div", { class: "column" },
        connection,
        h("div", { class: "toolbar" },
          field("Filter by type", typeFilter, "Part of the event's type."),
          field("Filter by args", argsFilter, "key=value terms; all must match.")),
        h("div", { class: "bar" },
          counts,
          h("div", { class: "actions" },
            pauseButton,
            h("button", { type: "button", class: "secondary", onclick: clear }, "Clear"))),
        missed,
        list),
      h("div", { class: "column" }, publishForm())));
  typeFilter.addEventListener("input", rebuild);
  argsFilter.addEventListener("input", rebuild);
  return { node, dispose: () => stream.removeEventListener("change", onChange) };
}
