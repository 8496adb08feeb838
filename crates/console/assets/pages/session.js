// A session: its live state and counts, re-mining with new parameters, and its potential roles
// (filtered, sorted and paged by the server).

import { call, page as fetchPage } from "../api.js";
import { checkboxField, field, fill, h, metrics, num, pagedTable, poll, quoted, searchForm, showError, table, when, writable } from "../dom.js";
import { placeError } from "./sessions.js";

const SETTLED = new Set(["POTENTIAL_ROLES_CREATED", "FAILED"]);
const LIMIT = 25;

/** Renders the session page. */
export async function render(page, sessionId) {
  const summary = h("section", { id: "session-summary", "aria-labelledby": "session-title" });
  const roles = h("section", { id: "session-roles", "aria-labelledby": "roles-title" });
  const settings = h("div", { id: "session-settings" });
  const insights = h("section", { id: "session-insights", "aria-labelledby": "insights-title" });
  fill(page, summary, settings, roles, insights);
  let session = await call("GET", `/role-mining-sessions/${encodeURIComponent(sessionId)}`);
  let lastState = null;
  const draw = () => {
    fill(
      summary,
      h("p", {}, h("a", { href: "#/sessions" }, "Sessions"), " / "),
      h("h1", { id: "session-title" }, session.name || session.id),
      h("p", {}, "State ", h("span", { class: `state state-${session.status.state}`, id: "session-state", "aria-live": "polite" }, session.status.state),
        session.stalledSince ? h("span", { class: "badge" }, `worker silent since ${when(session.stalledSince)}`) : null),
      session.failureMessage ? h("p", { class: "field-error", id: "session-failure" }, session.failureMessage) : null,
      metrics([
        ["Identities", num(session.identityCount), "identityCount"],
        ["Potential roles", num(session.potentialRoleCount), "potentialRoleCount"],
        ["Ready", num(session.potentialRolesReadyCount), "potentialRolesReadyCount"],
        ["Threshold", `${num(session.pruneThreshold)} (prescribed ${num(session.prescribedPruneThreshold)})`, "pruneThreshold"],
        ["Min identities", num(session.minNumIdentitiesInPotentialRole), "minNumIdentitiesInPotentialRole"],
        ["Assignments explained", session.assignmentsExplainedPercent == null ? "–" : `${num(session.assignmentsExplainedPercent, 1)} %`, "assignmentsExplainedPercent"],
        ["Over-grants", num(session.overGrants), "overGrants"],
        ["Identities in roles", session.identitiesInRolesPercent == null ? "–" : `${num(session.identitiesInRolesPercent, 1)} %`, "identitiesInRolesPercent"],
        ["Method", session.method, "method"],
        ["Type", session.type, "type"],
        ["Created", when(session.createdDate), "createdDate"],
      ]),
    );
  };
  const refresh = async () => {
    session = await call("GET", `/role-mining-sessions/${encodeURIComponent(sessionId)}`);
    draw();
    if (session.status.state !== lastState && SETTLED.has(session.status.state)) {
      loadRoles();
      loadInsights(sessionId, insights, session);
    }
    lastState = session.status.state;
    return !SETTLED.has(session.status.state);
  };
  const watch = () => poll(summary, 1000, refresh);

  const filters = { name: "", quality: "", saved: false, sort: "-createdDate", offset: 0 };
  const loadRoles = async () => {
    const clauses = [];
    if (filters.name) clauses.push(`name co ${quoted(filters.name)}`);
    if (filters.quality !== "") clauses.push(`quality ge ${Number(filters.quality)}`);
    if (filters.saved) clauses.push("saved eq true");
    try {
      const found = await fetchPage(`/role-mining-sessions/${encodeURIComponent(sessionId)}/potential-role-summaries`, {
        limit: LIMIT,
        offset: filters.offset,
        sorters: filters.sort,
        filters: clauses.join(" and "),
      });
      fill(
        roles,
        h("h2", { id: "roles-title" }, "Potential roles"),
        roleFilters(filters, loadRoles),
        pagedTable("Potential roles of this session", roleColumns(sessionId, new Set(["createdDate"])), found, filters, LIMIT, loadRoles, {
          empty: SETTLED.has(session.status.state) ? "No potential roles." : "Mining…",
          label: "roles",
        }),
      );
    } catch (err) {
      showError(err, "Listing potential roles");
    }
  };

  draw();
  fill(settings, writable(() => settingsForm(() => session, async (patch) => {
    session = await call("PATCH", `/role-mining-sessions/${encodeURIComponent(sessionId)}`, { patch });
    lastState = null;
    draw();
    loadRoles();
    watch();
  })));
  lastState = session.status.state;
  await Promise.all([loadRoles(), loadInsights(sessionId, insights, session)]);
  if (!SETTLED.has(session.status.state)) watch();
}

const TOP = 10;

/** The session's top outliers and its largest unexplained access, once it is mined. */
async function loadInsights(sessionId, section, session) {
  if (session.assignmentsExplainedPercent == null) {
    fill(section);
    return;
  }
  const base = `/rolemine/v1/role-mining-sessions/${encodeURIComponent(sessionId)}`;
  try {
    const [outliers, unexplained] = await Promise.all([
      fetchPage(`${base}/outliers`, { limit: TOP }),
      fetchPage(`${base}/unexplained-access`, { limit: TOP }),
    ]);
    const names = (list) => list.map((e) => e.name).join(", ");
    fill(
      section,
      h("h2", { id: "insights-title" }, "Insights"),
      h("div", { class: "grid" },
        h("div", {},
          h("h3", {}, `Outliers (top ${Math.min(TOP, outliers.items.length)} of ${num(outliers.total)})`),
          table("Identities whose access departs from their peers', highest score first", [
            { label: "Identity", cell: (o) => o.identityName },
            { label: "Score", cell: (o) => num(o.score, 2) },
            { label: "In a role", cell: (o) => (o.inRole ? "yes" : "no") },
            { label: "Unusual access", cell: (o) => names(o.unusualEntitlements) },
            { label: "Missing role access", cell: (o) => names(o.missingEntitlements) },
          ], outliers.items, { empty: "No outliers." })),
        h("div", {},
          h("h3", {}, `Unexplained access (top ${Math.min(TOP, unexplained.items.length)} of ${num(unexplained.total)} entitlements)`),
          table("Access no potential role explains, by entitlement", [
            { label: "Entitlement", cell: (u) => u.entitlement.name },
            { label: "Application", cell: (u) => u.source.name },
            { label: "Holders", cell: (u) => num(u.identityCount) },
            { label: "Unused", cell: (u) => num(u.unusedIdentityCount) },
          ], unexplained.items, { empty: "The roles explain all access." }))),
    );
  } catch (err) {
    showError(err, "Reading the session's insights");
  }
}

function roleFilters(filters, reload) {
  const name = h("input", { id: "role-name-filter", type: "search", value: filters.name });
  const quality = h("input", { id: "role-quality-filter", type: "number", min: 0, max: 100, value: filters.quality });
  const saved = h("input", { id: "role-saved-filter", type: "checkbox", checked: filters.saved });
  return searchForm([field("Name contains", name), field("Quality at least", quality), checkboxField(saved, "Saved only")], () => {
    filters.name = name.value.trim();
    filters.quality = quality.value;
    filters.saved = saved.checked;
    filters.offset = 0;
    reload();
  });
}

/**
 * Columns of a potential-role table; `sessionId` null reads it from each row, `sortable` names
 * the sorters the endpoint takes.
 */
export function roleColumns(sessionId, sortable) {
  const columns = [
    {
      label: "Name",
      cell: (r) => h("a", { class: "role-link", href: `#/sessions/${sessionId || (r.session && r.session.id)}/roles/${r.id}` }, r.name || r.id),
    },
    { label: "Identities", cell: (r) => num(r.identityCount), sort: "identityCount" },
    { label: "Entitlements", cell: (r) => num(r.entitlementCount), sort: "entitlementCount" },
    { label: "Density", cell: (r) => num(r.density) },
    { label: "Freshness", cell: (r) => num(r.freshness), sort: "freshness" },
    { label: "Quality", cell: (r) => num(r.quality), sort: "quality" },
    { label: "Explains", cell: (r) => (r.accessExplainedPercent == null ? "–" : `${num(r.accessExplainedPercent, 1)} %`) },
    { label: "Saved", cell: (r) => (r.saved ? "yes" : "") },
    { label: "Provisioned", cell: (r) => r.provisionState || "" },
    { label: "Created", cell: (r) => when(r.createdDate), sort: "createdDate" },
  ];
  return columns.map((column) => (sortable.has(column.sort) ? column : { ...column, sort: undefined }));
}

function settingsForm(current, apply) {
  const session = current();
  const name = h("input", { id: "session-name", value: session.name || "" });
  const threshold = h("input", { id: "session-threshold", type: "number", min: 0, max: 100, value: session.pruneThreshold ?? "" });
  const min = h("input", { id: "session-min", type: "number", min: 1, value: session.minNumIdentitiesInPotentialRole ?? "" });
  const method = h("select", { id: "session-method" },
    ["PEER_GROUPS", "MINIMAL_COVER"].map((m) => h("option", { value: m, selected: session.method === m }, m)));
  const saved = h("input", { id: "session-saved", type: "checkbox", checked: session.saved });
  const controls = { name, pruneThreshold: threshold, minNumIdentitiesInPotentialRole: min, method, saved };
  const submit = h("button", { type: "submit", id: "session-apply" }, "Apply");
  const form = h(
    "form",
    {
      class: "toolbar",
      onsubmit: async (event) => {
        event.preventDefault();
        for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
        const before = current();
        const patch = [];
        if (name.value.trim() !== (before.name || "")) patch.push({ op: "replace", path: "/name", value: name.value.trim() });
        if (threshold.value !== "" && Number(threshold.value) !== before.pruneThreshold) patch.push({ op: "replace", path: "/pruneThreshold", value: Number(threshold.value) });
        if (min.value !== "" && Number(min.value) !== before.minNumIdentitiesInPotentialRole) patch.push({ op: "replace", path: "/minNumIdentitiesInPotentialRole", value: Number(min.value) });
        if (method.value !== before.method) patch.push({ op: "replace", path: "/method", value: method.value });
        if (saved.checked !== before.saved) patch.push({ op: "replace", path: "/saved", value: saved.checked });
        if (patch.length === 0) return;
        submit.disabled = true;
        try {
          await apply(patch);
        } catch (err) {
          if (!placeError(err, controls, document.createElement("div"))) showError(err, "Changing the session");
        } finally {
          submit.disabled = false;
        }
      },
    },
    field("Name", name),
    field("Prune threshold", threshold),
    field("Min identities", min),
    field("Method", method),
    checkboxField(saved, "Saved"),
    submit,
  );
  return h("details", { class: "panel" }, h("summary", {}, h("strong", {}, "Parameters"), " — changing the threshold, minimum or method mines again"), form);
}
