// A modal question with two answers; resolves true when confirmed. Cancel
// has the focus first and Escape cancels, so a stray Enter destroys nothing.

import { h, uid } from "../dom.js";

export function confirmDialog({ title, text, confirm }) {
  return new Promise((resolve) => {
    const headingId = uid("dialog");
    const dialog = h("dialog", { "aria-labelledby": headingId, class: "card" },
      h("h2", { id: headingId }, title),
      h("p", {}, text),
      h("form", { method: "dialog", class: "actions" },
        h("button", { value: "cancel", class: "secondary", autofocus: true }, "Cancel"),
        h("button", { value: "confirm", class: "danger" }, confirm)));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
