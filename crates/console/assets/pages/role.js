// A potential role: its metrics, charts of its entitlements, members and applications, the
// member and usage tables, entitlement exclusion, editing, export and provisioning.

import { call, download, page as fetchPage, query } from "../api.js";
import { barChart } from "../charts.js";
import { checkboxField, field, fill, h, metrics, num, pagedTable, pager, poll, quoted, saveBlob, searchForm, showError, table, writable } from "../dom.js";

const ENTITLEMENT_PAGE = 250;
const MAX_ENTITLEMENTS = 1000;
const TOP_BARS = 25;
const MEMBER_PAGE = 20;
const ENTITLEMENT_ROWS = 15;
// Member ids are paged by the members table; the role itself comes without them.
const LEAN = { params: { includeIdentityIds: "false" } };

/** Renders the role page. */
export async function render(page, sessionId, roleId) {
  const base = `/role-mining-sessions/${encodeURIComponent(sessionId)}/potential-roles/${encodeURIComponent(roleId)}`;
  const summaryPath = `/role-mining-sessions/${encodeURIComponent(sessionId)}/potential-role-summaries/${encodeURIComponent(roleId)}`;
  const globalPath = `/role-mining-potential-roles/${encodeURIComponent(roleId)}`;
  const parts = {
    header: h("section", { id: "role-summary", "aria-labelledby": "role-title" }),
    edit: h("div", { id: "role-edit" }),
    rules: h("section", { id: "role-rules", "aria-labelledby": "rules-title" }),
    charts: h("section", { id: "role-charts", "aria-labelledby": "charts-title" }),
    entitlements: h("section", { id: "role-entitlements", "aria-labelledby": "entitlements-title" }),
    excluded: h("section", { id: "role-excluded", "aria-labelledby": "excluded-title" }),
    members: h("section", { id: "role-members", "aria-labelledby": "members-title" }),
    usage: h("section", { id: "role-usage", "aria-labelledby": "usage-title" }),
    actions: h("section", { id: "role-actions", "aria-labelledby": "actions-title" }),
  };
  fill(page, Object.values(parts));

  const context = { sessionId, roleId, base, summaryPath, globalPath, parts, role: null, applications: [] };
  context.reload = async () => {
    context.role = await call("GET", summaryPath, LEAN);
    drawHeader(context);
    await Promise.all([drawEntitlements(context), drawExcluded(context)]);
  };
  context.role = await call("GET", summaryPath, LEAN);
  drawHeader(context);
  fill(parts.edit, writable(() => editForm(context)));
  const applications = await fetchAll(`${base.replace("/potential-roles/", "/potential-role-summaries/")}/applications`, {});
  context.applications = applications;
  await Promise.all([drawRules(context), drawEntitlements(context), drawExcluded(context), drawMembers(context), drawUsage(context)]);
  drawActions(context);
}

/** Every item of a collection, a page at a time, up to `MAX_ENTITLEMENTS`. */
async function fetchAll(path, params) {
  const items = [];
  let total = 0;
  for (let offset = 0; offset < MAX_ENTITLEMENTS; offset += ENTITLEMENT_PAGE) {
    const chunk = await fetchPage(path, { ...params, limit: ENTITLEMENT_PAGE, offset });
    items.push(...chunk.items);
    total = chunk.total;
    if (items.length >= total || chunk.items.length === 0) break;
  }
  items.total = total;
  return items;
}

function drawHeader({ role, parts }) {
  fill(
    parts.header,
    h("p", {}, h("a", { href: "#/sessions" }, "Sessions"), " / ", h("a", { href: `#/sessions/${role.session ? role.session.id : ""}` }, role.session ? role.session.name || "session" : "session"), " /"),
    h("h1", { id: "role-title" }, role.name || role.id, role.saved ? h("span", { class: "badge", id: "role-saved-badge" }, "saved") : null),
    role.description ? h("p", { id: "role-description" }, role.description) : null,
    metrics([
      ["Identities", num(role.identityCount), "identityCount"],
      ["Entitlements", num(role.entitlementCount), "entitlementCount"],
      ["Density", num(role.density), "density"],
      ["Freshness", num(role.freshness), "freshness"],
      ["Quality", num(role.quality), "quality"],
      ["Explains of members' access", role.accessExplainedPercent == null ? "–" : `${num(role.accessExplainedPercent, 1)} %`, "accessExplainedPercent"],
      ["Type", role.type, "type"],
      ["Provisioning", role.provisionState || "not provisioned", "provisionState"],
    ]),
  );
}

function editForm(context) {
  const name = h("input", { id: "role-name", value: context.role.name || "", maxlength: 128 });
  const description = h("textarea", { id: "role-description-input" }, context.role.description || "");
  const saved = h("input", { id: "role-saved", type: "checkbox", checked: context.role.saved });
  const submit = h("button", { type: "submit", id: "role-save" }, "Save changes");
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        const role = context.role;
        const patch = [];
        if (name.value.trim() !== (role.name || "")) patch.push({ op: "replace", path: "/name", value: name.value.trim() });
        if (description.value !== (role.description || "")) patch.push({ op: "replace", path: "/description", value: description.value });
        if (saved.checked !== Boolean(role.saved)) patch.push({ op: "replace", path: "/saved", value: saved.checked });
        if (patch.length === 0) return;
        submit.disabled = true;
        try {
          await call("PATCH", context.globalPath, { patch });
          context.role = await call("GET", context.summaryPath, LEAN);
          drawHeader(context);
        } catch (err) {
          showError(err, "Saving the role");
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div", { class: "toolbar" }, field("Name", name), checkboxField(saved, "Saved")),
    field("Description", description),
    submit,
  );
  return h("details", { class: "panel" }, h("summary", {}, h("strong", {}, "Rename, describe, save")), form);
}

async function drawEntitlements(context) {
  const { base, parts, role } = context;
  try {
    const [entitlements, distribution] = await Promise.all([
      fetchAll(`${base}/entitlement-popularities`, { includeCommonAccess: "true", sorters: "-popularity" }),
      call("GET", `${base}/entitlement-popularity-distribution`, { params: { includeCommonAccess: "true" } }),
    ]);
    const top = entitlements.slice(0, TOP_BARS);
    const perApplication = new Map();
    for (const e of entitlements) perApplication.set(e.applicationName, (perApplication.get(e.applicationName) || 0) + 1);
    const buckets = Object.entries(distribution || {})
      .map(([bucket, count]) => ({ label: `${bucket} %`, value: count, at: Number(bucket) }))
      .sort((a, b) => a.at - b.at);
    const attributes = Array.isArray(role.identityDistribution) ? role.identityDistribution : [];
    fill(
      parts.charts,
      h("h2", { id: "charts-title" }, "Charts"),
      h(
        "div",
        { class: "grid" },
        barChart(
          "chart-popularity",
          `Entitlement popularity among members (top ${top.length} of ${num(entitlements.total)})`,
          top.map((e) => ({ label: `${e.name} (${e.applicationName})`, value: e.popularity, marked: e.commonAccess })),
          { horizontal: true, valueLabel: "% of members", legend: [["plain", "role entitlement"], ["marked", "common access"]] },
        ),
        barChart("chart-distribution", "Popularity distribution (entitlements per popularity %)", buckets, { valueLabel: "entitlements" }),
        barChart(
          "chart-applications",
          "Applications (entitlements per application)",
          [...perApplication.entries()].sort((a, b) => b[1] - a[1]).map(([label, value]) => ({ label, value })),
          { horizontal: true, valueLabel: "entitlements" },
        ),
        attributes.map((attribute, i) =>
          barChart(
            `chart-attribute-${i}`,
            `Members by ${attribute.attributeName}`,
            [...(attribute.distribution || [])]
              .sort((a, b) => b.count - a.count)
              .slice(0, 25)
              .map((d) => ({ label: d.attributeValue == null ? "(none)" : d.attributeValue, value: d.count })),
            { horizontal: true, valueLabel: "members" },
          ),
        ),
      ),
    );
    drawEntitlementTable(context, entitlements);
  } catch (err) {
    showError(err, "Reading the role's entitlements");
  }
}

/** The attribute rules that best select the role's members, best first. */
async function drawRules(context) {
  try {
    const rules = await call("GET", `/rolemine/v1/potential-roles/${encodeURIComponent(context.roleId)}/rules`);
    const percent = (x) => `${num(100 * x, 1)} %`;
    fill(
      context.parts.rules,
      h("h2", { id: "rules-title" }, "Who is in it: attribute rules"),
      h("p", { class: "muted" }, "Identity attribute conditions that select the members from the session's population. Precision: members among the identities a rule selects; recall: members it selects."),
      table("Attribute rules, best first", [
        { label: "Rule", cell: (r) => h("code", { class: "rule" }, r.criteria) },
        { label: "Precision", cell: (r) => percent(r.precision) },
        { label: "Recall", cell: (r) => percent(r.recall) },
        { label: "Would add", cell: (r) => num(r.wouldAdd) },
        { label: "Would miss", cell: (r) => num(r.wouldMiss) },
      ], rules || [], { empty: "The members share no identity attribute value." }),
    );
  } catch (err) {
    showError(err, "Reading the attribute rules");
  }
}

/** The members' entitlements, a page at a time, with exclusion for managers. */
function drawEntitlementTable(context, entitlements) {
  const state = { prefix: "", offset: 0 };
  const filter = h("input", { id: "entitlement-filter", type: "search", placeholder: "name starts with…" });
  const results = h("div", {});
  const columns = [
    { label: "Entitlement", cell: (e) => [e.name, e.commonAccess ? h("span", { class: "badge" }, "common access") : null] },
    { label: "Application", cell: (e) => e.applicationName },
    { label: "Popularity", cell: (e) => `${num(e.popularity, 1)} %` },
    { label: "In organisation", cell: (e) => `${num(e.popularityInOrg, 1)} %` },
    { label: "Members", cell: (e) => num(e.identityCount) },
    ...(writable(() => true)
      ? [{ label: "Action", cell: (e) => h("button", { type: "button", class: e.commonAccess ? "danger exclude common" : "danger exclude", dataset: { entitlement: e.entitlementRef.id }, "aria-label": `Exclude ${e.name}`, onclick: () => edit(context, e.entitlementRef.id, true) }, "Exclude") }]
      : []),
  ];
  const draw = () => {
    const prefix = state.prefix.toLowerCase();
    const shown = prefix ? entitlements.filter((e) => String(e.name).toLowerCase().startsWith(prefix)) : entitlements;
    fill(
      results,
      table("Entitlements of the role's members, most popular first", columns, shown.slice(state.offset, state.offset + ENTITLEMENT_ROWS), { empty: "No entitlement matches." }),
      pager(shown.length, state.offset, ENTITLEMENT_ROWS, (offset) => {
        state.offset = offset;
        draw();
      }, "entitlements"),
    );
  };
  fill(
    context.parts.entitlements,
    h("h2", { id: "entitlements-title" }, "Entitlements"),
    entitlements.total > entitlements.length ? h("p", { class: "muted" }, `The ${num(entitlements.length)} most popular of ${num(entitlements.total)}.`) : null,
    searchForm(field("Filter entitlements", filter), () => {
      state.prefix = filter.value.trim();
      state.offset = 0;
      draw();
    }),
    results,
  );
  draw();
}

async function drawExcluded(context) {
  const { base, parts } = context;
  try {
    const excluded = await fetchAll(`${base}/excluded-entitlements`, { sorters: "-popularity" });
    fill(
      parts.excluded,
      h("h2", { id: "excluded-title" }, "Excluded entitlements"),
      table("Entitlements excluded from the role", [
        { label: "Entitlement", cell: (e) => e.name },
        { label: "Application", cell: (e) => e.applicationName },
        { label: "Popularity", cell: (e) => `${num(e.popularity, 1)} %` },
        ...(writable(() => true)
          ? [{ label: "Action", cell: (e) => h("button", { type: "button", class: "secondary restore", dataset: { entitlement: e.entitlementRef.id }, onclick: () => edit(context, e.entitlementRef.id, false) }, "Restore") }]
          : []),
      ], excluded, { empty: "None excluded." }),
    );
  } catch (err) {
    showError(err, "Reading the excluded entitlements");
  }
}

async function edit(context, entitlementId, exclude) {
  try {
    await call("POST", `${context.base}/edit-entitlements`, { json: { ids: [entitlementId], exclude } });
    await context.reload();
  } catch (err) {
    showError(err, exclude ? "Excluding the entitlement" : "Restoring the entitlement");
  }
}

async function drawMembers(context) {
  const state = { name: "", offset: 0, sort: "name" };
  const search = h("input", { id: "member-search", type: "search", placeholder: "name starts with…" });
  const results = h("div", {});
  const load = async () => {
    try {
      const found = await fetchPage(`${context.base}/identities`, {
        limit: MEMBER_PAGE,
        offset: state.offset,
        sorters: state.sort,
        filters: state.name ? `name sw ${quoted(state.name)}` : "",
      });
      const keys = [...new Set(found.items.flatMap((identity) => Object.keys(identity.attributes || {})))].slice(0, 4);
      fill(
        results,
        pagedTable("Members", [
          { label: "Name", cell: (i) => i.name, sort: "name" },
          { label: "Id", cell: (i) => h("code", {}, i.id) },
          ...keys.map((key) => ({ label: key, cell: (i) => String((i.attributes || {})[key] ?? "") })),
        ], found, state, MEMBER_PAGE, load, { empty: "No member matches.", label: "members" }),
      );
    } catch (err) {
      showError(err, "Listing members");
    }
  };
  fill(
    context.parts.members,
    h("h2", { id: "members-title" }, "Members"),
    searchForm(field("Search members", search), () => {
      state.name = search.value.trim();
      state.offset = 0;
      load();
    }, { button: "Search", buttonId: "member-search-go" }),
    results,
  );
  await load();
}

async function drawUsage(context) {
  const { applications, parts, roleId } = context;
  const select = h("select", { id: "usage-source" }, applications.map((a) => h("option", { value: a.id }, a.name)));
  const results = h("div", { "aria-live": "polite" });
  const state = { offset: 0, sort: "-usageCount" };
  const load = async () => {
    if (!select.value) return;
    try {
      const found = await fetchPage(`/role-mining-potential-roles/${encodeURIComponent(roleId)}/sources/${encodeURIComponent(select.value)}/identityUsage`, {
        limit: MEMBER_PAGE,
        offset: state.offset,
        sorters: state.sort,
      });
      fill(
        results,
        pagedTable(`Members' usage of ${select.selectedOptions[0] ? select.selectedOptions[0].textContent : "the source"}`, [
          { label: "Member", cell: (u) => u.displayName || u.id, sort: "displayName" },
          { label: "Email", cell: (u) => u.email || "", sort: "email" },
          { label: "Uses", cell: (u) => num(u.usageCount), sort: "usageCount" },
        ], found, state, MEMBER_PAGE, load, { empty: "No usage recorded.", label: "members" }),
      );
    } catch (err) {
      showError(err, "Reading usage");
    }
  };
  select.addEventListener("change", () => {
    state.offset = 0;
    load();
  });
  fill(
    parts.usage,
    h("h2", { id: "usage-title" }, "Usage per application"),
    applications.length ? [field("Application", select), results] : h("p", { class: "muted" }, "The role has no applications."),
  );
  await load();
}

function drawActions(context) {
  const { base, parts, role } = context;
  const exportState = h("div", { id: "export-state", "aria-live": "polite" });
  const provisionState = h("div", { id: "provision-state", "aria-live": "polite" });
  const fileName = `potential-role-${context.roleId}.zip`;
  const syncExport = h("button", { type: "button", id: "export-sync", onclick: async () => {
    syncExport.disabled = true;
    try {
      saveBlob(await download(`${base}/export`), fileName);
      fill(exportState, h("p", { id: "export-sync-done" }, `Downloaded ${fileName}.`));
    } catch (err) {
      showError(err, "Exporting");
    } finally {
      syncExport.disabled = false;
    }
  } }, "Download zip");
  const asyncExport = h("button", { type: "button", class: "secondary", id: "export-async", onclick: async () => {
    asyncExport.disabled = true;
    try {
      const started = await call("POST", `${base}/export-async`, { json: { minEntitlementPopularity: 0, includeCommonAccess: true } });
      const show = (status) => {
        fill(
          exportState,
          h("p", {}, "Export ", h("code", {}, status.exportId), ": ", h("span", { class: `state state-${status.status}`, id: "export-async-state" }, status.status)),
          status.errorMessage ? h("p", { class: "field-error" }, status.errorMessage) : null,
          status.status === "SUCCESS"
            ? h("button", { type: "button", id: "export-async-download", onclick: async () => {
                try {
                  saveBlob(await download(`${base}/export-async/${status.exportId}/download`), `potential-role-${context.roleId}-${status.exportId}.zip`);
                } catch (err) {
                  showError(err, "Downloading the export");
                }
              } }, "Download the export")
            : null,
        );
      };
      show(started);
      poll(exportState, 700, async () => {
        const status = await call("GET", `${base}/export-async/${started.exportId}`);
        show(status);
        const done = status.status === "SUCCESS" || status.status === "ERROR";
        if (done) asyncExport.disabled = false;
        return !done;
      });
    } catch (err) {
      asyncExport.disabled = false;
      showError(err, "Starting the export");
    }
  } }, "Export in the background");

  fill(
    parts.actions,
    h("h2", { id: "actions-title" }, "Export and provision"),
    h("div", { class: "toolbar" }, syncExport, asyncExport),
    exportState,
    writable(() => provisionForm(context, provisionState)),
    provisionState,
  );
  if (role.provisionState) watchProvisioning(context, provisionState);
}

function provisionForm(context, provisionState) {
  const roleName = h("input", { id: "provision-name", value: context.role.name || "", required: true });
  const description = h("input", { id: "provision-description", value: context.role.description || "" });
  const minPopularity = h("input", { id: "provision-min-popularity", type: "number", min: 0, max: 100, value: "0" });
  const includeCommon = h("input", { id: "provision-common", type: "checkbox", checked: true });
  const includeIdentities = h("input", { id: "provision-identities", type: "checkbox", checked: true });
  const direct = h("input", { id: "provision-direct", type: "checkbox", checked: false });
  const fromRule = h("input", { id: "provision-rule", type: "checkbox", checked: false });
  const submit = h("button", { type: "submit", id: "provision" }, "Provision role");
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          const path = `${context.base}/provision${query({ "min-entitlement-popularity": minPopularity.value, "include-common-access": String(includeCommon.checked) })}`;
          await call("POST", path, {
            json: {
              roleName: roleName.value.trim(),
              roleDescription: description.value,
              includeIdentities: includeIdentities.checked,
              directlyAssignedEntitlements: direct.checked,
              membershipFromRule: fromRule.checked,
            },
          });
          watchProvisioning(context, provisionState);
        } catch (err) {
          showError(err, "Provisioning");
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div", { class: "toolbar" },
      field("Role name", roleName),
      field("Description", description),
      field("Minimum entitlement popularity (%)", minPopularity),
      checkboxField(includeCommon, "Include common access"),
      checkboxField(includeIdentities, "Request the role for every member"),
      checkboxField(direct, "Entitlements directly (not through access profiles)"),
      checkboxField(fromRule, "Membership by the best attribute rule")),
    submit,
  );
  return h("details", { class: "panel", id: "provision-panel" }, h("summary", {}, h("strong", {}, "Provision as a role")), form);
}

function watchProvisioning(context, provisionState) {
  const show = async (role) => {
    const state = role.provisionState;
    const parts = [h("p", {}, "Provisioning: ", h("span", { class: `state state-${state}`, id: "provision-result-state" }, state))];
    if (state === "COMPLETE" && role.roleId) {
      const made = await call("GET", `/rolemine/v1/roles/${encodeURIComponent(role.roleId)}`);
      parts.push(
        h("div", { id: "provisioned-role" },
          h("p", {}, "Role ", h("strong", {}, made.name), " (", h("code", { id: "provisioned-role-id" }, made.id), ")"),
          made.membershipCriteria ? h("p", {}, "Membership: ", h("code", { id: "provisioned-criteria" }, made.membershipCriteria)) : null,
          metrics([
            ["Entitlements", num(made.entitlementCount), "provisionedEntitlements"],
            ["Access profiles", num(made.accessProfileCount), "provisionedAccessProfiles"],
            ["Assignment requests", num(made.assignmentRequestCount), "provisionedAssignments"],
          ])),
      );
    }
    fill(provisionState, parts);
  };
  poll(provisionState, 700, async () => {
    const role = await call("GET", context.summaryPath, LEAN);
    context.role = role;
    drawHeader(context);
    await show(role);
    return role.provisionState === "PENDING";
  });
}
