// A text field with a list of matching choices (the ARIA 1.2 combobox
// pattern): typing filters the list; Up/Down move through it, Enter picks,
// Escape closes it; a pointer picks with a click.

import { h, uid } from "../dom.js";

const SHOWN = 50; // more matches than this ask the user to keep typing

/** Choices matching every word of `query` in their name; names starting with it first. */
function matching(choices, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const rank = (name) => (name.startsWith(words[0]) ? 0 : name.includes(`.${words[0]}`) ? 1 : 2);
  return choices
    .filter((choice) => words.every((word) => choice.name.toLowerCase().includes(word)))
    .map((choice) => ({ choice, rank: words.length ? rank(choice.name.toLowerCase()) : 0 }))
    .sort((a, b) => a.rank - b.rank || a.choice.name.localeCompare(b.choice.name))
    .map(({ choice }) => choice);
}

/**
 * Choices are `{name, detail}`; `noun` names them in the hint ("actions").
 * `onPick(choice)` runs when one is picked.
 * Answers {node, input, setChoices(choices), setValue(name)}.
 */
export function combobox({ label, noun, placeholder, onPick }) {
  const listId = uid("listbox");
  const input = h("input", {
    id: uid("combobox"),
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": listId,
    autocomplete: "off",
    autocapitalize: "none",
    spellcheck: "false",
    placeholder,
  });
  const list = h("ul", { id: listId, role: "listbox", "aria-label": label, class: "listbox", hidden: true });
  const count = h("p", { class: "hint", "aria-live": "polite" });
  let choices = [];
  let shown = [];
  let active = -1;

  function open() {
    shown = matching(choices, input.value);
    active = -1;
    input.removeAttribute("aria-activedescendant");
    list.replaceChildren(
      ...shown.slice(0, SHOWN).map((choice, index) =>
        h("li", {
          id: `${listId}-${index}`,
          role: "option",
          "aria-selected": "false",
          // mousedown would take the focus from the field and close the list first.
          onmousedown: (event) => event.preventDefault(),
          onclick: () => pick(choice),
        },
        h("span", { class: "option-name" }, choice.name),
        choice.detail ? h("span", { class: "option-detail" }, choice.detail) : null)),
    );
    const n = shown.length;
    count.textContent = n === 0
      ? "Nothing matches."
      : n > SHOWN
        ? `${n} matches; the first ${SHOWN} are listed: keep typing.`
        : `${n} ${n === 1 ? "match" : "matches"}.`;
    list.hidden = shown.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
  }

  function close() {
    list.hidden = true;
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    const options = list.children;
    if (!options.length) return;
    options[active]?.setAttribute("aria-selected", "false");
    active = (index + options.length) % options.length;
    const option = options[active];
    option.setAttribute("aria-selected", "true");
    option.scrollIntoView({ block: "nearest" });
    input.setAttribute("aria-activedescendant", option.id);
  }

  function pick(choice) {
    input.value = choice.name;
    close();
    count.textContent = total();
    onPick(choice);
  }

  const total = () => `${choices.length} ${noun}: type to filter.`;

  input.addEventListener("input", open);
  input.addEventListener("focus", open);
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden) open();
      highlight(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      const exact = choices.find((choice) => choice.name === input.value.trim());
      const choice = active >= 0 ? shown[active] : exact ?? (shown.length === 1 ? shown[0] : null);
      if (choice) {
        event.preventDefault();
        pick(choice);
      }
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault();
      close();
    }
  });

  const node = h("div", { class: "combobox" },
    h("label", { for: input.id, class: "caption" }, label), input, list, count);
  return {
    node,
    input,
    setChoices(next) {
      choices = next;
      count.textContent = total();
      if (document.activeElement === input) open(); // typed before the choices came
    },
    setValue(name) {
      input.value = name;
    },
  };
}
