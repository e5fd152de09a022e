// Settings → Users (admins): add a user, list users.

import { api, describe } from "../api.js";
import { field, h, say, statusLine, table, uid, when } from "../dom.js";
import { settingsPage } from "./settings.js";

export function render({ user }) {
  if (!user.is_admin) {
    return { node: settingsPage(user, "/settings/users", "Users", h("p", {}, "Only administrators can see and add users.")) };
  }
  const username = h("input", { name: "username", required: true, autocomplete: "off", autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" });
  const confirm = h("input", { name: "confirm_password", type: "password", required: true, autocomplete: "new-password" });
  const admin = h("input", { name: "is_admin", type: "checkbox" });
  const addButton = h("button", { type: "submit" }, "Add user");
  const formError = statusLine("alert");
  const added = statusLine();
  const listError = statusLine("alert");
  const list = h("div", {});
  const formHeading = uid("add-user");
  const listHeading = uid("users");

  async function add(event) {
    event.preventDefault();
    say(formError, "");
    say(added, "");
    if (password.value !== confirm.value) {
      say(formError, "The passwords do not match.");
      confirm.focus();
      return;
    }
    addButton.disabled = true;
    try {
      const answer = await api("POST", "/api/v1/users", {
        username: username.value.trim(),
        password: password.value,
        is_admin: admin.checked,
      });
      say(added, `Added ${answer.user.username}${answer.user.is_admin ? " (admin)" : ""}.`);
      event.target.reset();
      await refresh();
    } catch (error) {
      say(formError, describe(error, "Could not add the user"));
    } finally {
      addButton.disabled = false;
    }
  }

  async function refresh() {
    try {
      const { users = [] } = await api("GET", "/api/v1/users");
      list.replaceChildren(table(["Username", "Role", "Created"], users.map((u) => [
        u.username,
        u.is_admin ? "admin" : "user",
        when(u.created_at),
      ])));
    } catch (error) {
      say(listError, describe(error, "Could not list the users"));
    }
  }

  refresh();
  const node = settingsPage(user, "/settings/users", "Users",
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": formHeading },
        h("h2", { id: formHeading }, "Add a user"),
        h("form", { onsubmit: add },
          field("Username", username, "1-64 letters, digits, '.', '_', '-' or '@'."),
          field("Password", password, "At least 8 characters."),
          field("Confirm password", confirm),
          h("label", { class: "check" }, admin, " Administrator (may add users and manage everyone's tokens)"),
          formError,
          h("div", { class: "actions" }, addButton),
          added)),
      h("section", { class: "card", "aria-labelledby": listHeading },
        h("h2", { id: listHeading }, "All users"),
        listError,
        list)));
  return { node };
}
