// First run: the registration form (while no user exists). Afterwards: log in.
// Both answer a session: the hub sets its HttpOnly cookie.

import { api, describe } from "../api.js";
import { field, h, say, statusLine } from "../dom.js";

export function render({ params, notice, loggedIn, registering }) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", {
    name: "password",
    type: "password",
    required: true,
    autocomplete: registering ? "new-password" : "current-password",
  });
  const confirm = h("input", { name: "confirm_password", type: "password", required: true, autocomplete: "new-password" });
  const remember = h("input", { name: "remember", type: "checkbox" });
  const error = statusLine("alert");
  const submit = h("button", { type: "submit" }, registering ? "Register" : "Log in");

  async function send(event) {
    event.preventDefault();
    say(error, "");
    if (registering && password.value !== confirm.value) {
      say(error, "The passwords do not match.");
      confirm.focus();
      return;
    }
    const body = { username: username.value.trim(), password: password.value };
    if (registering) body.confirm_password = confirm.value;
    else body.remember = remember.checked;
    submit.disabled = true;
    try {
      await api("POST", `/auth?type=${registering ? "register" : "login"}`, body, { auth: false });
      await loggedIn(params.get("next"));
    } catch (failure) {
      say(error, describe(failure, registering ? "Could not register" : "Could not log in"));
      password.focus();
    } finally {
      submit.disabled = false;
    }
  }

  const node = h("section", { class: "card narrow" },
    h("h1", { tabindex: "-1" }, registering ? "Create the first user" : "Log in"),
    registering
      ? h("p", {}, "No user exists yet. The first user you register here is the hub's administrator.")
      : null,
    notice ? h("p", { class: "status notice", role: "status" }, notice) : null,
    h("form", { onsubmit: send },
      field("Username", username),
      field("Password", password, registering ? "At least 8 characters." : null),
      registering ? field("Confirm password", confirm) : null,
      registering ? null : h("label", { class: "check" }, remember, " Keep me logged in for a year"),
      error,
      h("div", { class: "actions" }, submit),
    ),
  );
  return { node, focus: username };
}
