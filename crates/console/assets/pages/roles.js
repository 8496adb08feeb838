// Potential roles across sessions: all of them (sorted and filtered by the server) and the
// saved ones.

import { call, page as fetchPage } from "../api.js";
import { checkboxField, field, fill, h, num, pagedTable, quoted, searchForm, showError, when } from "../dom.js";
import { roleColumns } from "./session.js";

const LIMIT = 25;
const ALL_SORTERS = new Set(["createdDate", "identityCount", "entitlementCount", "freshness", "quality"]);

/** Renders every potential role of every session. */
export async function renderAll(page) {
  const state = { name: "", saved: false, sort: "-quality", offset: 0 };
  const list = h("section", { id: "all-roles" });
  const load = async () => {
    const clauses = [];
    if (state.name) clauses.push(`name co ${quoted(state.name)}`);
    if (state.saved) clauses.push("saved eq true");
    try {
      const found = await fetchPage("/role-mining-potential-roles", {
        limit: LIMIT,
        offset: state.offset,
        sorters: state.sort,
        filters: clauses.join(" and "),
      });
      const name = h("input", { id: "all-name-filter", type: "search", value: state.name });
      const saved = h("input", { id: "all-saved-filter", type: "checkbox", checked: state.saved });
      fill(
        list,
        searchForm([field("Name contains", name), checkboxField(saved, "Saved only")], () => {
          state.name = name.value.trim();
          state.saved = saved.checked;
          state.offset = 0;
          load();
        }),
        pagedTable("Potential roles of all sessions", roleColumns(null, ALL_SORTERS), found, state, LIMIT, load, { label: "roles" }),
      );
    } catch (err) {
      showError(err, "Listing potential roles");
    }
  };
  fill(page, h("h1", {}, "All potential roles"), list);
  await load();
}

/** Renders the saved potential roles, most recently changed first. */
export async function renderSaved(page) {
  const state = { offset: 0, sort: "-modified" };
  const list = h("section", { id: "saved-roles" });
  const load = async () => {
    try {
      const found = await fetchPage("/role-mining-potential-roles/saved", { limit: LIMIT, offset: state.offset, sorters: state.sort });
      fill(
        list,
        pagedTable("Saved potential roles", SAVED_COLUMNS, found, state, LIMIT, load, { empty: "No saved roles: save one from its page.", label: "saved roles" }),
      );
    } catch (err) {
      showError(err, "Listing saved roles");
    }
  };
  fill(page, h("h1", {}, "Saved potential roles"), list);
  await load();
}

const SAVED_COLUMNS = [
  { label: "Name", cell: (r) => h("a", { class: "role-link", href: `#/role/${r.id}` }, r.name || r.id) },
  { label: "Description", cell: (r) => r.description || "" },
  { label: "Identities", cell: (r) => num((r.identityIds || []).length) },
  { label: "Entitlements", cell: (r) => num((r.entitlementIds || []).length) },
  { label: "Type", cell: (r) => r.type || "" },
  { label: "Modified", cell: (r) => when(r.modified || r.modifiedDate) },
];

/** Opens a role known only by its id: its session comes from the role itself. */
export async function renderById(page, roleId) {
  fill(page, h("p", {}, "Opening the role…"));
  const role = await call("GET", `/role-mining-potential-roles/${encodeURIComponent(roleId)}`, { params: { includeIdentityIds: "false" } });
  location.replace(`#/sessions/${role.session.id}/roles/${role.id}`);
}
