// Settings → Tokens: generate a named API token (its secret shown once),
// list and revoke tokens, and, for admins, start an owner session.

import { api, describe } from "../api.js";
import { field, h, say, statusLine, table, uid, when } from "../dom.js";
import { confirmDialog } from "../widgets/confirm.js";
import { secretPanel } from "../widgets/secret.js";
import { settingsPage } from "./settings.js";

const EXPIRIES = [
  ["1", "In 1 day"],
  ["7", "In 7 days"],
  ["30", "In 30 days"],
  ["90", "In 90 days"],
  ["365", "In a year"],
  ["0", "Never"],
];

function section(title, ...content) {
  const id = uid("section");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id, tabindex: "-1" }, title), content);
}

export function render({ user }) {
  const name = h("input", { name: "name", required: true, maxlength: 128, autocomplete: "off", placeholder: "phone" });
  const expiry = h("select", { name: "expiry_days", value: "90" },
    EXPIRIES.map(([days, label]) => h("option", { value: days }, label)));
  const scopes = h("input", { name: "scopes", autocomplete: "off", placeholder: "execute:procedure.at_home" });
  const generateButton = h("button", { type: "submit" }, "Generate token");
  const formError = statusLine("alert");
  const ownerError = statusLine("alert");
  const secretSlot = h("div", {});
  const listStatus = statusLine();
  const listError = statusLine("alert");
  const list = h("div", {});
  const listSection = section("Your tokens",
    h("p", { class: "hint" }, "Browser sessions are not listed; Log out ends this one."),
    listStatus,
    listError,
    list);

  function showSecret(title, secret) {
    secretSlot.replaceChildren(secretPanel(title, secret, () => name.focus()));
    secretSlot.querySelector("h2")?.scrollIntoView({ block: "nearest" });
  }

  async function generate(event) {
    event.preventDefault();
    say(formError, "");
    generateButton.disabled = true;
    try {
      const answer = await api("POST", "/api/v1/tokens", {
        name: name.value.trim(),
        expiry_days: Number(expiry.value),
        scopes: scopes.value.split(/\s+/).filter(Boolean),
      });
      showSecret(`New token “${answer.info.name}”`, answer.token);
      name.value = "";
      scopes.value = "";
      await refresh();
    } catch (error) {
      say(formError, describe(error, "Could not generate the token"));
    } finally {
      generateButton.disabled = false;
    }
  }

  async function ownerToken() {
    say(ownerError, "");
    try {
      const answer = await api("POST", "/api/v1/owner-token", {});
      showSecret("New owner token", answer.token);
      await refresh();
    } catch (error) {
      say(ownerError, describe(error, "Could not get an owner token"));
    }
  }

  async function revoke(token) {
    const sure = await confirmDialog({
      title: `Revoke token “${token.name}”?`,
      text: "Anything using it stops working at once, and its open event streams end. This cannot be undone.",
      confirm: "Revoke token",
    });
    if (!sure) return;
    say(listError, "");
    try {
      await api("DELETE", `/api/v1/tokens/${token.id}`);
      say(listStatus, `Revoked token “${token.name}”.`);
      await refresh();
    } catch (error) {
      say(listError, describe(error, `Could not revoke token “${token.name}”`));
    }
    listSection.querySelector("h2").focus(); // its row is gone
  }

  async function refresh() {
    try {
      const { tokens = [] } = await api("GET", "/api/v1/tokens");
      list.replaceChildren(tokens.length
        ? table(["Name", "Kind", "Scopes", "Created", "Expires", "Last used", ""], tokens.map((token) => [
          token.name,
          token.kind,
          token.scopes?.length ? token.scopes.join(" ") : "all",
          when(token.created_at),
          when(token.expires_at),
          when(token.last_used_at),
          h("button", {
            type: "button",
            class: "danger small",
            "aria-label": `Revoke ${token.name}`,
            onclick: () => revoke(token),
          }, "Revoke"),
        ]))
        : h("p", {}, "No tokens yet."));
    } catch (error) {
      say(listError, describe(error, "Could not list the tokens"));
    }
  }

  refresh();
  const node = settingsPage(user, "/settings/tokens", "Tokens",
    secretSlot,
    h("div", { class: "columns" },
      h("div", { class: "column" },
        section("Generate a token",
          h("p", {}, "An API token lets a script, a phone or another hub call this hub as you."),
          h("form", { onsubmit: generate },
            field("Name", name, "Unique among your tokens, e.g. the device that will use it."),
            field("Expires", expiry),
            field("Scopes", scopes, "Optional, separated by spaces: execute:<action pattern>, events:read, "
              + "events:publish, tokens, admin. None: everything you may do."),
            formError,
            h("div", { class: "actions" }, generateButton))),
        user.is_admin
          ? section("Owner token",
            h("p", {}, "A token acting as the hub's owner, for apps that ask for one. It lapses after two weeks unused."),
            ownerError,
            h("button", { type: "button", class: "secondary", onclick: ownerToken }, "Get owner token"))
          : null),
      h("div", { class: "column" }, listSection)));
  return { node };
}
