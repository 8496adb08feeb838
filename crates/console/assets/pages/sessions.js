// Sessions: the list (sorted, filtered by name and saved, paged) and the creation form with a
// scope builder that shows the API's complaint next to the field it names.

import { call, page as fetchPage } from "../api.js";
import { checkboxField, field, fill, h, num, pagedTable, quoted, searchForm, showError, when, writable } from "../dom.js";

const LIMIT = 20;

/** Renders the sessions page. */
export async function render(page) {
  const state = { name: "", saved: false, sort: "-createdDate", offset: 0 };
  const list = h("section", { id: "session-list", "aria-labelledby": "sessions-title" });
  const nameFilter = h("input", { id: "session-name-filter", type: "search", placeholder: "starts with…" });
  const savedFilter = h("input", { id: "session-saved-filter", type: "checkbox" });
  const toolbar = searchForm([field("Name", nameFilter), checkboxField(savedFilter, "Saved only")], () => {
    state.name = nameFilter.value.trim();
    state.saved = savedFilter.checked;
    state.offset = 0;
    load();
  });
  const load = async () => {
    const filters = [];
    if (state.name) filters.push(`name sw ${quoted(state.name)}`);
    if (state.saved) filters.push("saved eq true");
    try {
      const found = await fetchPage("/role-mining-sessions", {
        limit: LIMIT,
        offset: state.offset,
        sorters: state.sort,
        filters: filters.join(" and "),
      });
      fill(
        list,
        h("h2", { id: "sessions-title" }, "Sessions"),
        toolbar,
        pagedTable("Role mining sessions", COLUMNS, found, state, LIMIT, load, { empty: "No sessions yet.", label: "sessions" }),
      );
    } catch (err) {
      showError(err, "Listing sessions");
    }
  };
  fill(page, h("h1", {}, "Role mining sessions"), writable(() => createForm()), list);
  await load();
}

const COLUMNS = [
  { label: "Name", cell: (s) => h("a", { href: `#/sessions/${s.id}`, class: "session-link" }, s.name || s.id) },
  { label: "State", cell: (s) => h("span", { class: `state state-${s.status.state}` }, s.status.state) },
  { label: "Identities", cell: (s) => num(s.identityCount) },
  { label: "Roles", cell: (s) => num(s.potentialRoleCount) },
  { label: "Threshold", cell: (s) => num(s.pruneThreshold) },
  { label: "Min identities", cell: (s) => num(s.minNumIdentitiesInPotentialRole) },
  { label: "Type", cell: (s) => s.type },
  { label: "Explained", cell: (s) => (s.assignmentsExplainedPercent == null ? "–" : `${num(s.assignmentsExplainedPercent, 1)} %`) },
  { label: "Saved", cell: (s) => (s.saved ? "yes" : "") },
  { label: "Created by", cell: (s) => (s.createdBy ? s.createdBy.displayName || s.createdBy.id : "–"), sort: "createdBy" },
  { label: "Created", cell: (s) => when(s.createdDate), sort: "createdDate" },
];

/** The new-session form. */
function createForm() {
  const chips = [];
  const controls = {
    name: h("input", { id: "new-name", required: true, maxlength: 200 }),
    criteria: h("textarea", { id: "new-criteria", placeholder: "department:Finance AND NOT title:Contractor", spellcheck: "false" }),
    identityIds: h("textarea", { id: "new-identity-ids", placeholder: "one id per line or comma-separated" }),
    pruneThreshold: h("input", { id: "new-threshold", type: "number", min: 0, max: 100, placeholder: "prescribed" }),
    minNumIdentitiesInPotentialRole: h("input", { id: "new-min", type: "number", min: 1, value: "20" }),
    type: h("select", { id: "new-type" }, h("option", { value: "SPECIALIZED" }, "Specialized"), h("option", { value: "COMMON" }, "Common access")),
    method: h("select", { id: "new-method" }, h("option", { value: "PEER_GROUPS" }, "Peer groups (overlapping)"), h("option", { value: "MINIMAL_COVER" }, "Minimal exact cover")),
  };
  const chipName = h("input", { id: "chip-name", placeholder: "department" });
  const chipOperator = h("select", { id: "chip-operator" }, h("option", { value: "EQUALS" }, "equals"), h("option", { value: "NOT_EQUALS" }, "does not equal"));
  const chipValues = h("input", { id: "chip-values", placeholder: "Finance, Sales" });
  const chipList = h("div", { class: "chips", id: "chip-list", "aria-live": "polite" });
  const chipError = h("div", { class: "field-error", id: "chips-error", role: "status" });
  const drawChips = () =>
    fill(
      chipList,
      chips.map((chip, i) =>
        h(
          "span",
          { class: "chip" },
          `${chip.data.name} ${chip.data.operator === "EQUALS" ? "=" : "≠"} ${chip.data.values.join(" or ")}`,
          h("button", { type: "button", class: "link", "aria-label": `Remove ${chip.data.name}`, onclick: () => {
            chips.splice(i, 1);
            drawChips();
          } }, "×"),
        ),
      ),
    );
  const addChip = () => {
    const values = chipValues.value.split(",").map((v) => v.trim()).filter(Boolean);
    if (!chipName.value.trim() || values.length === 0) {
      chipError.textContent = "give an attribute name and at least one value";
      return;
    }
    chipError.textContent = "";
    const label = `${chipName.value.trim()}: ${values.join(", ")}`;
    chips.push({ displayName: { untranslated: label }, ariaLabel: { untranslated: label }, data: { name: chipName.value.trim(), operator: chipOperator.value, values } });
    chipName.value = "";
    chipValues.value = "";
    drawChips();
  };
  const submit = h("button", { type: "submit", id: "create-session" }, "Create and mine");
  const form = h(
    "form",
    {
      id: "new-session",
      onsubmit: async (event) => {
        event.preventDefault();
        for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
        const ids = controls.identityIds.value.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean);
        const body = {
          name: controls.name.value.trim(),
          scope: {
            identityIds: ids,
            criteria: controls.criteria.value.trim() ? controls.criteria.value : null,
            attributeFilterCriteria: chips,
          },
          pruneThreshold: controls.pruneThreshold.value === "" ? null : Number(controls.pruneThreshold.value),
          minNumIdentitiesInPotentialRole: controls.minNumIdentitiesInPotentialRole.value === "" ? null : Number(controls.minNumIdentitiesInPotentialRole.value),
          type: controls.type.value,
          method: controls.method.value,
        };
        submit.disabled = true;
        try {
          const created = await call("POST", "/role-mining-sessions", { json: body });
          location.hash = `#/sessions/${created.id}`;
        } catch (err) {
          if (!placeError(err, controls, chipError)) showError(err, "Creating the session");
        } finally {
          submit.disabled = false;
        }
      },
    },
    field("Name", controls.name),
    h("fieldset", {}, h("legend", {}, "Scope (all given parts are intersected; none: everyone)"),
      field("Search criteria", controls.criteria, "field:value terms with AND, OR, NOT, parentheses, quotes and * wildcards"),
      h("div", { class: "field" },
        h("span", { class: "label", id: "chips-label" }, h("strong", {}, "Attribute chips")),
        h("div", { class: "toolbar", role: "group", "aria-labelledby": "chips-label" },
          field("Attribute", chipName), field("Operator", chipOperator), field("Values", chipValues),
          h("button", { type: "button", class: "secondary", id: "add-chip", onclick: addChip }, "Add chip")),
        chipList, chipError),
      field("Identity ids", controls.identityIds)),
    h("div", { class: "toolbar" },
      field("Prune threshold (0–100)", controls.pruneThreshold),
      field("Minimum identities per role", controls.minNumIdentitiesInPotentialRole),
      field("Type", controls.type),
      field("Method", controls.method)),
    submit,
  );
  return h("details", { class: "panel", id: "new-session-panel" }, h("summary", {}, h("strong", {}, "New session")), form);
}

/**
 * Shows a 400 under the field its message names ("scope.criteria: … at position 7" gets a
 * caret under the bad token). Returns whether it found a place.
 */
export function placeError(err, controls, chipError) {
  if (!err || err.status !== 400) return false;
  const match = /^(?:\[\d+\]\.value for \/)?([A-Za-z.]+)(?:\[\d+\])?[:\s]/.exec(err.message);
  if (!match) return false;
  const name = match[1].replace(/^scope\./, "");
  if (name.startsWith("attributeFilterCriteria")) {
    chipError.textContent = err.message;
    return true;
  }
  const control = controls[name];
  if (!control) return false;
  const slot = document.getElementById(`${control.id}-error`);
  slot.replaceChildren(h("span", { class: "parse-error" }, err.message), err.trackingId ? h("span", { class: "tracking" }, ` (tracking id ${err.trackingId})`) : "");
  const position = /at position (\d+)/.exec(err.message);
  if (position && control.value !== undefined) {
    const at = Number(position[1]);
    slot.append(h("span", { class: "caret", "aria-hidden": "true" }, `${control.value}\n${" ".repeat(at)}^`));
    control.focus();
    control.setSelectionRange(at, Math.min(at + 1, control.value.length));
  } else {
    control.focus();
  }
  control.setAttribute("aria-invalid", "true");
  return true;
}
