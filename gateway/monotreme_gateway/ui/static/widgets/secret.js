// A token's secret, shown once: with copy buttons and a curl line that uses it.

import { copy, h, shellQuote, statusLine, uid } from "../dom.js";

export function secretPanel(title, secret, onDone) {
  const headingId = uid("secret");
  const value = h("input", { id: uid("secret-value"), readonly: true, value: secret, class: "code", spellcheck: "false" });
  const body = JSON.stringify({ type: "request", action: "utils.echo", args: { hello: "world" } });
  const curl = `curl -XPOST -H 'Authorization: Bearer ${secret}' -H 'Content-Type: application/json' \\\n  -d ${shellQuote(body)} ${location.origin}/execute`;
  const curlText = h("pre", { class: "code", tabindex: "0", "aria-label": "curl command with the token" }, curl);
  const status = statusLine();
  const node = h("section", { class: "card secret", "aria-labelledby": headingId },
    h("h2", { id: headingId }, title),
    h("p", {}, h("strong", {}, "Copy it now: it is shown only once."), " Anyone holding it acts as you."),
    h("label", { for: value.id, class: "caption" }, "Token"),
    h("div", { class: "inline" },
      value,
      h("button", { type: "button", onclick: () => copy(secret, status, "token", value) }, "Copy token")),
    h("p", {}, "Use it from anywhere, e.g.:"),
    curlText,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => copy(curl, status, "curl command") }, "Copy curl command"),
      h("button", {
        type: "button",
        class: "secondary",
        onclick: () => {
          node.remove();
          onDone?.();
        },
      }, "Done")),
    status);
  return node;
}
