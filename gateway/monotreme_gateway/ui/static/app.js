// The single-page app: who is logged in, the header, and hash routes
// (`/#/events`), which need no server fallback: `/` serves every page.

import { api, currentUser, describe, forgetSession, onSignedOut } from "./api.js";
import { h } from "./dom.js";
import { clearHistory } from "./history.js";
import * as automation from "./pages/automation.js";
import * as events from "./pages/events.js";
import * as execute from "./pages/execute.js";
import * as login from "./pages/login.js";
import * as tokens from "./pages/tokens.js";
import * as users from "./pages/users.js";
import { stream } from "./stream.js";

const ROUTES = {
  "/execute": { title: "Execute", page: execute, nav: "/execute" },
  "/events": { title: "Events", page: events, nav: "/events" },
  "/automation": { title: "Automation", page: automation, nav: "/automation" },
  "/settings/tokens": { title: "Tokens", page: tokens, nav: "/settings" },
  "/settings/users": { title: "Users", page: users, nav: "/settings" },
};
const ALIASES = { "/": "/execute", "/settings": "/settings/tokens" };
const NAV = [
  ["Execute", "/execute"],
  ["Events", "/events"],
  ["Automation", "/automation"],
  ["Settings", "/settings"],
];

const main = document.getElementById("main");
const nav = document.getElementById("main-nav");
const account = document.getElementById("account");
const state = { user: null, registered: true, notice: "", shown: null, rendered: false };

function parse(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?", 2);
  return { path: ALIASES[path || "/"] ?? path, params: new URLSearchParams(query) };
}

function go(path, { replace = false } = {}) {
  if (replace) location.replace(`#${path}`);
  else location.hash = path;
}

/** Asks the hub who is logged in; answers the error when it cannot tell. */
async function identify() {
  try {
    state.user = (await currentUser()).user;
    state.registered = true;
    return null;
  } catch (error) {
    state.user = null;
    if (error.status === 401) return null;
    if (error.reason === "REGISTRATION_REQUIRED") {
      state.registered = false;
      return null;
    }
    return error;
  }
}

function renderHeader(active) {
  nav.hidden = account.hidden = !state.user;
  if (!state.user) return;
  nav.replaceChildren(
    ...NAV.map(([name, path]) =>
      h("a", { href: `#${path}`, "aria-current": active === path ? "page" : null }, name)),
  );
  account.replaceChildren(
    h("span", { class: "who" }, state.user.username, state.user.is_admin ? " (admin)" : ""),
    h("button", { type: "button", class: "secondary", onclick: logOut }, "Log out"),
  );
}

async function logOut() {
  try {
    await api("DELETE", "/auth", undefined, { auth: false });
  } catch (error) {
    // The session is gone either way for this page; say so if the hub disagreed.
    state.notice = describe(error, "The hub did not confirm the log-out");
  }
  signOut();
  go("/login");
}

function signOut() {
  forgetSession();
  stream.stop();
  clearHistory();
  state.user = null;
}

function show(page, params, title) {
  state.shown?.dispose?.();
  const context = { user: state.user, params, go, notice: state.notice, loggedIn, registering: !state.registered };
  state.notice = "";
  state.shown = page.render(context);
  document.title = `${title} · Monotreme`;
  main.replaceChildren(state.shown.node);
  // Moving focus tells keyboard and screen reader users that the page changed.
  const target = state.shown.focus ?? main.querySelector("h1");
  if (state.rendered || state.shown.focus) target?.focus();
  state.rendered = true;
}

function render() {
  const { path, params } = parse(location.hash);
  if (!state.user) {
    const wanted = state.registered ? "/login" : "/register";
    if (path !== wanted) {
      const next = returnTo(path, params);
      go(next ? `${wanted}?next=${encodeURIComponent(next)}` : wanted, { replace: true });
      return;
    }
    renderHeader(null);
    show(login, params, state.registered ? "Log in" : "Register");
    return;
  }
  if (path === "/login" || path === "/register") {
    go(safeNext(params.get("next")), { replace: true });
    return;
  }
  const route = ROUTES[path];
  renderHeader(route?.nav);
  show(route?.page ?? notFound(path), params, route?.title ?? "Not found");
}

/** Where to return after logging in: the page asked for, unless it is the default. */
function returnTo(path, params) {
  if (path === "/login" || path === "/register") return params.get("next");
  const query = params.toString();
  if (query) return `${path}?${query}`;
  return path === "/execute" ? null : path;
}

/** Only a route of this app: `next` must never send the user elsewhere. */
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/execute";
}

async function loggedIn(next) {
  const error = await identify();
  if (error) throw error;
  go(safeNext(next), { replace: true });
}

function notFound(path) {
  return {
    render: () => ({
      node: h("section", {},
        h("h1", { tabindex: "-1" }, "Not found"),
        h("p", {}, `There is no page at #${path}. `, h("a", { href: "#/execute" }, "Go to Execute"), "."),
      ),
    }),
  };
}

function unreachable(error) {
  renderHeader(null);
  main.replaceChildren(
    h("section", { class: "card narrow" },
      h("h1", { tabindex: "-1" }, "The hub is not answering"),
      h("p", { role: "alert", class: "status error" }, describe(error, "Could not load your session")),
      h("button", { type: "button", onclick: boot }, "Try again"),
    ),
  );
}

async function boot() {
  const error = await identify();
  if (error) {
    unreachable(error);
    return;
  }
  render();
}

onSignedOut((error) => {
  const registration = error.reason === "REGISTRATION_REQUIRED";
  signOut();
  state.registered = !registration;
  state.notice = registration ? "" : describe(error, "Please log in again");
  render();
});
window.addEventListener("hashchange", render);
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault(); // a fragment link would replace the route
  main.focus();
});
boot();
