// What the Settings pages share: the Settings sub-navigation above their heading.

import { h } from "../dom.js";

export function settingsPage(user, current, title, ...content) {
  const links = [["Tokens", "/settings/tokens"], ...(user.is_admin ? [["Users", "/settings/users"]] : [])];
  return h("div", { class: "page settings" },
    h("nav", { class: "sub-nav", "aria-label": "Settings" },
      h("span", { class: "eyebrow" }, "Settings"),
      links.map(([name, path]) => h("a", { href: `#${path}`, "aria-current": path === current ? "page" : null }, name))),
    h("h1", { tabindex: "-1" }, title),
    content);
}
