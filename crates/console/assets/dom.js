// Small DOM helpers: element building, the alert area, tables with paging, number formats.

import { canManage } from "./api.js";

/**
 * Builds an element. `attrs` keys starting with "on" become listeners; `class`, `for`,
 * `dataset` and boolean attributes are handled; children may be strings, nodes or arrays.
 */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (key === "value") {
      element.value = value;
    } else if (key === "checked") {
      element.checked = Boolean(value);
    } else if (value === true) {
      element.setAttribute(key, "");
    } else {
      element.setAttribute(key, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `element`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Controls only a client with the manage scope sees; null (nothing rendered) otherwise. */
export function writable(build) {
  return canManage() ? build() : null;
}

let alertSeq = 0;

/** Shows an error with its message and tracking id in the page's alert area. */
export function showError(err, context) {
  const area = document.getElementById("alerts");
  const message = err && err.message ? err.message : String(err);
  const id = `alert-${++alertSeq}`;
  const box = h(
    "div",
    { class: "alert", role: "alert", id, dataset: { status: err && err.status ? err.status : "" } },
    h("strong", {}, context ? `${context}: ` : "Error: "),
    h("span", { class: "alert-message" }, message),
    err && err.trackingId ? h("span", { class: "tracking" }, ` (tracking id ${err.trackingId})`) : null,
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => box.remove() }, "×"),
  );
  area.append(box);
  return box;
}

/** Removes every alert (a new page starts clean). */
export function clearErrors() {
  fill(document.getElementById("alerts"));
}

/** Runs `work`, showing its failure instead of losing it; resolves to its value or undefined. */
export async function guard(context, work) {
  try {
    return await work();
  } catch (err) {
    showError(err, context);
    return undefined;
  }
}

/** A number with thousands separators; "–" for null. */
export function num(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A date-time in the user's locale; "–" for null. */
export function when(value) {
  return value ? new Date(value).toLocaleString() : "–";
}

/** A definition list of [label, value, key] triples; `key` becomes data-metric for tests. */
export function metrics(rows) {
  return h(
    "dl",
    { class: "metrics" },
    rows.map(([label, value, key]) =>
      h("div", { class: "metric" }, h("dt", {}, label), h("dd", { dataset: key ? { metric: key } : {} }, value)),
    ),
  );
}

/**
 * A table. `columns` are {label, cell(row) -> node|string, sort?: sorter field}; `sort` the
 * current sorter ("field" or "-field") and `onSort(newSorter)` makes headers sortable.
 */
export function table(caption, columns, rows, { sort, onSort, empty } = {}) {
  const head = h(
    "tr",
    {},
    columns.map((column) => {
      if (!column.sort || !onSort) return h("th", { scope: "col" }, column.label);
      const active = sort === column.sort || sort === `-${column.sort}`;
      const descending = sort === `-${column.sort}`;
      const next = active && !descending ? `-${column.sort}` : column.sort;
      return h(
        "th",
        { scope: "col", "aria-sort": active ? (descending ? "descending" : "ascending") : "none" },
        h("button", { type: "button", class: "sort", onclick: () => onSort(next) }, column.label, active ? (descending ? " ▼" : " ▲") : ""),
      );
    }),
  );
  const body = rows.length
    ? rows.map((row) => h("tr", {}, columns.map((column) => h("td", {}, column.cell(row)))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty || "Nothing to show."))];
  return h("div", { class: "table-wrap" }, h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body)));
}

/** Previous/next paging for a collection of `total` items. */
export function pager(total, offset, limit, onChange, label = "items") {
  const last = Math.min(offset + limit, total);
  return h(
    "nav",
    { class: "pager", "aria-label": `Pages of ${label}` },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => onChange(Math.max(0, offset - limit)) }, "Previous"),
    h("span", { class: "range", "aria-live": "polite" }, total === 0 ? `no ${label}` : `${num(offset + 1)}–${num(last)} of ${num(total)} ${label}`),
    h("button", { type: "button", disabled: last >= total, onclick: () => onChange(offset + limit) }, "Next"),
  );
}

/**
 * One page of a collection as a table with its pager. `state` holds the page's `sort` and
 * `offset`; sorting or paging changes them and calls `reload`. `page` is {items, total}.
 */
export function pagedTable(caption, columns, page, state, limit, reload, { empty, label = "items" } = {}) {
  return [
    table(caption, columns, page.items, {
      sort: state.sort,
      onSort: (sort) => {
        state.sort = sort;
        state.offset = 0;
        reload();
      },
      empty,
    }),
    pager(page.total, state.offset, limit, (offset) => {
      state.offset = offset;
      reload();
    }, label),
  ];
}

/** A labelled form field: the label, the control and a slot for its error. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  const error = h("div", { class: "field-error", id: `${id}-error`, role: "status" });
  control.setAttribute("aria-describedby", `${id}-error`);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", {}, hint) : null, error);
}

/** A checkbox inside its label, as a form field. */
export function checkboxField(checkbox, text) {
  return h("div", { class: "field" }, h("label", {}, checkbox, ` ${text}`));
}

/**
 * A search form: `fields` then a submit button (`button` text, `buttonId`); `apply` runs on
 * submit (the page stays; the caller reloads what the form filters).
 */
export function searchForm(fields, apply, { button = "Filter", buttonId } = {}) {
  return h(
    "form",
    {
      class: "toolbar",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        apply();
      },
    },
    fields,
    h("button", { type: "submit", class: "secondary", id: buttonId }, button),
  );
}

/** Saves `blob` as a file through a temporary link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

/** Filter-language string literal: double-quoted with `"` and `\` escaped. */
export function quoted(text) {
  return `"${String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Repeats `step` every `ms` while it returns true and the page is still `owner`'s. */
export function poll(owner, ms, step) {
  const tick = async () => {
    if (!owner.isConnected) return;
    let again = false;
    try {
      again = await step();
    } catch (err) {
      showError(err, "Refreshing");
      again = false;
    }
    if (again && owner.isConnected) setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}
