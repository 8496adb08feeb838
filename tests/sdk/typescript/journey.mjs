// The official SailPoint TypeScript SDK (`sailpoint-api-client`) walking all 25 IAI Role Mining
// operations against a Rolemine server, under one API generation.
//
//   node journey.mjs <base URL> <client id> <client secret> <beta|v2024>
//
// Run by tests/sdk_typescript.rs, which installs the SDK (package.json / package-lock.json of
// this folder) and asserts on the JSON object printed as the last line of standard output.
//
// The TypeScript SDK does not validate responses at run time (its models are TypeScript
// interfaces, erased when compiled), so every response is checked here against the type the
// SDK declares for it: the method's return type and the models it names, read from the SDK's
// own declaration file (dist/<generation>/api.d.ts). A value of the wrong JSON type, an enum
// value the SDK does not list or a missing required property is reported in `violations`, as
// "Model.property: why (at where)". Reported apart, for the test to compare with what Rolemine
// documents: properties the SDK does not declare (`extras`: Rolemine's extension fields, or
// fields of a newer contract) and `null` where the SDK's type does not admit it (`nulls`), each
// as Model.property. Model names are given without the generation's suffix (Beta, V2024).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { inflateRawSync } from "node:zlib";

import sdk from "sailpoint-api-client";

const [baseUrl, clientId, clientSecret, generation] = process.argv.slice(2);
const GENERATIONS = {
  beta: { api: "IAIRoleMiningBetaApi", suffix: "Beta" },
  v2024: { api: "IAIRoleMiningV2024Api", suffix: "V2024" },
};
const gen = GENERATIONS[generation];
if (!gen || !clientSecret) {
  throw new Error(`usage: node journey.mjs <base URL> <client id> <secret> <${Object.keys(GENERATIONS).join("|")}>`);
}
const out = { generation };

// ---------------------------------------------------------------------------------------------
// The SDK configured for the server: it posts the client-credentials grant to tokenUrl itself,
// as multipart/form-data, from the constructor (`accessToken` is then a promise of the token).
const config = new sdk.Configuration({
  baseurl: baseUrl,
  clientId,
  clientSecret,
  tokenUrl: `${baseUrl}/oauth/token`,
});
// The experimental switch. v2024 sends `X-SailPoint-Experimental: true` on every IAI Role Mining
// call (the header parameter `xSailPointExperimental` defaults to 'true' in each request
// builder) and its request function throws "You are using Experimental APIs. Set
// configuration.experimental = True ..." unless this is set; beta sends no such header.
config.experimental = true;
// Without this, axios-retry (which the SDK installs on every call) retries idempotent requests
// that failed with a 5xx three times, hiding a server error behind a later success.
config.retriesConfig = { retries: 0 };
const token = await config.accessToken;
out.token = typeof token === "string" && token.length > 0;

const api = new sdk[gen.api](config);
const S = gen.suffix;
// The request-parameter names of bodies carry the generation: roleMiningSessionDtoBeta, ...
const body = (name) => `${name}${S}`;

// The SDK logs "Warning: You are using Experimental APIs" on every experimental call; keep
// standard output for the result line.
const log = console.log;
console.log = (...args) => {
  if (!(args.length === 1 && String(args[0]).startsWith("Warning: You are using Experimental APIs"))) {
    console.error(...args);
  }
};

// ---------------------------------------------------------------------------------------------
// The SDK's declared types, from its declaration file.

const require = createRequire(import.meta.url);
const declarations = readFileSync(
  require.resolve(`sailpoint-api-client/dist/${generation}/api.d.ts`),
  "utf8",
).replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");

/** Splits `text` at `separator` where no bracket is open. */
function splitTop(text, separator) {
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ("<{([".includes(c)) depth++;
    else if (">})]".includes(c)) depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** The body between the brace at `open` and its match. */
function braced(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error(`unbalanced braces at ${open}`);
}

const named = new Map(); // name -> { kind: "interface", props } | { kind: "enum", values } | { kind: "alias", type }
for (const m of declarations.matchAll(/^export interface (\w+)(?: extends ([\w, ]+))? \{/gm)) {
  if (m[2]) throw new Error(`interface ${m[1]} extends ${m[2]}: not understood`);
  const props = new Map();
  let index = null; // the type of an index signature, `[key: string]: T`
  const unknown = [];
  for (const member of splitTop(braced(declarations, m.index + m[0].length - 1), ";")) {
    const p = member.match(/^'?([\w$-]+)'?(\?)?\s*:\s*([\s\S]+)$/);
    const i = member.match(/^\[key: string\]:\s*([\s\S]+)$/);
    if (p) props.set(p[1], { optional: p[2] === "?", type: p[3].trim() });
    else if (i) index = i[1].trim();
    else unknown.push(member);
  }
  named.set(m[1], { kind: "interface", props, index, unknown });
}
for (const m of declarations.matchAll(/^export declare const (\w+): \{/gm)) {
  const values = [...braced(declarations, m.index + m[0].length - 1).matchAll(/readonly \w+: (".*?"|[\d.-]+);/g)]
    .map((v) => JSON.parse(v[1]));
  named.set(m[1], { kind: "enum", values });
}
for (const m of declarations.matchAll(/^export type (\w+) = ([^;]+);/gm)) {
  if (m[2].startsWith("typeof ")) continue; // the type of an enum's values, declared above
  named.set(m[1], { kind: "alias", type: m[2].trim() });
}

/** The declared response type of the API class's method `name`. */
function returnType(name) {
  const cls = declarations.indexOf(`export declare class ${gen.api} extends BaseAPI {`);
  const members = braced(declarations, declarations.indexOf("{", cls));
  const at = members.search(new RegExp(`\\n\\s*${name}\\(requestParameters`));
  if (at < 0) throw new Error(`${gen.api}.${name} is not declared`);
  const m = members.slice(at).match(/AxiosResponse<([\s\S]*?), any>>;/);
  return m[1].replace(/\s+/g, " ").trim();
}

const violations = [];
const nulls = new Set();
const extras = new Set();
const model = (type) => type.replace(new RegExp(`${gen.suffix}$`), "");

/** Checks `value` (at `path`) against the TypeScript type expression `type`. */
function check(value, type, path) {
  const failures = [];
  if (!conforms(value, type, path, failures, path)) violations.push(...failures);
}

/**
 * Whether `value` (at `path`, in the property known as `where`: Model.property) is of the
 * TypeScript type `type`; why not is pushed to `failures` as "where: why (at path)".
 */
function conforms(value, type, path, failures, where) {
  type = type.trim();
  const fail = (why) => {
    const shown = why.length > 300 ? `${why.slice(0, 300)}...` : why;
    failures.push(`${where}: ${shown} (at ${path})`);
    return false;
  };
  const alternatives = splitTop(type, "|");
  if (alternatives.length > 1) {
    if (value === null) {
      if (!alternatives.includes("null")) nulls.add(where);
      return true;
    }
    const others = alternatives.filter((alt) => alt !== "null");
    // One type besides null: say why the value is not of it.
    if (others.length === 1) return conforms(value, others[0], path, failures, where);
    const rejected = [];
    if (others.some((alt) => conforms(value, alt, path, rejected, where))) return true;
    return fail(`${JSON.stringify(value)} is none of ${type}`);
  }
  if (value === null && type !== "null" && type !== "any") {
    nulls.add(where);
    return true;
  }
  // The generator renders a nullable `allOf: [enum]` as `Enum & object` (v2024's provisionState),
  // a type no JSON string has: its `object` part is not checked.
  const all = splitTop(type, "&").filter((part, _, parts) => !(part === "object" && parts.length > 1));
  if (all.length > 1) return all.every((part) => conforms(value, part, path, failures, where));
  if (all[0] !== type) return conforms(value, all[0], path, failures, where);
  let m;
  if (type.startsWith("(") && type.endsWith(")")) return conforms(value, type.slice(1, -1), path, failures, where);
  if ((m = type.match(/^Array<([\s\S]+)>$/)) || (m = type.match(/^([\w]+)\[\]$/))) {
    if (!Array.isArray(value)) return fail(`${JSON.stringify(value)} is not an array (${type})`);
    return value.every((item, i) => conforms(item, m[1], `${path}[${i}]`, failures, where));
  }
  if ((m = type.match(/^\{\s*\[key: string\]: ([\s\S]+?);?\s*\}$/))) {
    if (typeof value !== "object" || Array.isArray(value)) return fail(`${JSON.stringify(value)} is not a map (${type})`);
    return Object.entries(value).every(([k, v]) => conforms(v, m[1], `${path}.${k}`, failures, where));
  }
  if (/^".*"$/.test(type)) return value === JSON.parse(type) || fail(`${JSON.stringify(value)} is not ${type}`);
  switch (type) {
    case "any":
      return true;
    case "null":
      return value === null || fail(`${JSON.stringify(value)} is not null`);
    case "string":
    case "number":
    case "boolean":
      return typeof value === type || fail(`${JSON.stringify(value)} is not a ${type}`);
    case "object":
      return (typeof value === "object" && value !== null) || fail(`${JSON.stringify(value)} is not an object`);
    case "File":
      // A download: the SDK declares `File`, the data is what axios made of the body.
      return true;
  }
  const decl = named.get(type);
  if (!decl) return fail(`the SDK type ${type} is not understood`);
  if (decl.kind === "alias") return conforms(value, decl.type, path, failures, where);
  if (decl.kind === "enum") {
    return decl.values.includes(value) || fail(`${JSON.stringify(value)} is not one of ${type} ${JSON.stringify(decl.values)}`);
  }
  if (typeof value !== "object" || Array.isArray(value)) return fail(`${JSON.stringify(value)} is not a ${type}`);
  if (decl.unknown.length > 0) return fail(`the SDK type ${type} is not understood: ${decl.unknown[0]}`);
  let ok = true;
  for (const [key, prop] of decl.props) {
    if (!prop.optional && !(key in value)) ok = fail(`required ${type}.${key} is missing`);
  }
  for (const [key, v] of Object.entries(value)) {
    const prop = decl.props.get(key);
    if (!prop && decl.index) {
      if (!conforms(v, decl.index, `${path}.${key}`, failures, `${model(type)}.${key}`)) ok = false;
    } else if (!prop) extras.add(`${model(type)}.${key}`);
    else if (!conforms(v, prop.type, `${path}.${key}`, failures, `${model(type)}.${key}`)) ok = false;
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Calls: each through the SDK's API class, recorded and checked against its declared type.

const calls = []; // [method, HTTP method, path, status, X-SailPoint-Experimental]

async function call(method, parameters, axiosOptions) {
  let response;
  try {
    response = await api[method](parameters, axiosOptions);
  } catch (error) {
    const r = error.response;
    throw new Error(
      `${generation} ${method}(${JSON.stringify(parameters)}) failed: ${error.message}` +
        (r ? `\n${r.config.method.toUpperCase()} ${r.config.url} -> ${r.status} ${JSON.stringify(r.data)}` : ""),
    );
  }
  const url = new URL(response.config.url);
  calls.push([
    method,
    response.config.method.toUpperCase(),
    url.pathname,
    response.status,
    response.config.headers["X-SailPoint-Experimental"] ?? null,
  ]);
  check(response.data, returnType(method), method);
  return response;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, probe, limitMs = 60000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${limitMs} ms`);
    await sleep(200);
  }
}

/** The files of a zip archive (a Buffer), by name, inflated. */
function unzip(buffer) {
  const eocd = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`not a zip: ${buffer.subarray(0, 40).toString("hex")}`);
  const count = buffer.readUInt16LE(eocd + 10);
  let at = buffer.readUInt32LE(eocd + 16);
  const files = {};
  for (let i = 0; i < count; i++) {
    if (buffer.readUInt32LE(at) !== 0x02014b50) throw new Error("bad zip central directory");
    const method = buffer.readUInt16LE(at + 10);
    const size = buffer.readUInt32LE(at + 20);
    const nameLength = buffer.readUInt16LE(at + 28);
    const extraLength = buffer.readUInt16LE(at + 30);
    const commentLength = buffer.readUInt16LE(at + 32);
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.toString("utf8", at + 46, at + 46 + nameLength);
    const start = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const data = buffer.subarray(start, start + size);
    if (method === 0) files[name] = Buffer.from(data);
    else if (method === 8) files[name] = inflateRawSync(data);
    else throw new Error(`zip entry ${name}: compression method ${method}`);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// The journey.

// createRoleMiningSessions, then getRoleMiningSessionStatus until mined.
const created = (
  await call("createRoleMiningSessions", {
    [body("roleMiningSessionDto")]: {
      scope: { criteria: "department:Finance OR department:Sales OR department:Engineering" },
      minNumIdentitiesInPotentialRole: 10,
      name: `Walk ${generation}`,
    },
  })
).data;
const sessionId = created.id;
out.created = [created.name, created.scope?.criteria ?? null];
await until("mining", async () =>
  (await call("getRoleMiningSessionStatus", { sessionId })).data.state === "POTENTIAL_ROLES_CREATED");

// getRoleMiningSession, getRoleMiningSessions.
const session = (await call("getRoleMiningSession", { sessionId })).data;
out.session = {
  name: session.name,
  identityCount: session.identityCount,
  potentialRoleCount: session.potentialRoleCount,
  state: session.status?.state,
  scopingMethod: session.scopingMethod,
};
const listed = await call("getRoleMiningSessions", { sorters: "-createdDate", limit: 10, count: true });
out.sessions = listed.data.map((s) => s.id === sessionId ? s.name : "?");
out.sessions_total = listed.headers["x-total-count"] ?? null;

// getPotentialRoleSummaries, getPotentialRole.
const summariesResponse = await call("getPotentialRoleSummaries", {
  sessionId,
  sorters: "createdDate",
  filters: "quality ge 0",
  limit: 50,
  count: true,
});
const summaries = summariesResponse.data;
out.summaries = summaries.length;
out.summaries_total = summariesResponse.headers["x-total-count"] ?? null;
// A specialised role: a session's birthright role (type COMMON) holds only common access, which
// the provisioning below leaves out.
const potentialRoleId = (summaries.find((s) => s.type === "SPECIALIZED") ?? summaries[0]).id;
const role = { sessionId, potentialRoleId };
const detail = (await call("getPotentialRole", role)).data;
out.role = { identityIds: detail.identityIds.length, identityCount: detail.identityCount, entitlementCount: detail.entitlementCount };

// getPotentialRoleApplications, getPotentialRoleEntitlements.
const applications = (await call("getPotentialRoleApplications", { ...role, limit: 50 })).data;
out.applications = applications.length;
const application = applications[applications.length - 1].name;
const filtered = (await call("getPotentialRoleApplications", { ...role, filters: `applicationName sw "${application}"` })).data;
out.applications_filtered = filtered.some((a) => a.name === application) && filtered.every((a) => a.name.startsWith(application));
const entitlementRefs = (await call("getPotentialRoleEntitlements", { ...role, limit: 10 })).data;
out.entitlements = entitlementRefs.length;

// getEntitlementsPotentialRole (popularities), getEntitlementDistributionPotentialRole.
const popularities = (await call("getEntitlementsPotentialRole", {
  ...role,
  includeCommonAccess: false,
  sorters: "-popularity",
  limit: 250,
})).data;
out.popularities = popularities.slice(0, 3).map((p) => [p.entitlementRef.id, p.identityCount, p.activitySourceState]);
out.popularities_sorted = popularities.every((p, i) => i === 0 || popularities[i - 1].popularity >= p.popularity);
const distribution = (await call("getEntitlementDistributionPotentialRole", { ...role, includeCommonAccess: true })).data;
out.distribution_total = Object.values(distribution).reduce((a, b) => a + b, 0);

// updateEntitlementsPotentialRole (exclude one), getExcludedEntitlementsPotentialRole.
const excludedId = popularities[0].entitlementRef.id;
const edited = (await call("updateEntitlementsPotentialRole", {
  ...role,
  [body("roleMiningPotentialRoleEditEntitlements")]: { ids: [excludedId], exclude: true },
})).data;
out.excluded_id = excludedId;
out.edited = [edited.entitlementCount, edited.excludedEntitlements];
const excluded = (await call("getExcludedEntitlementsPotentialRole", { ...role, sorters: "popularity" })).data;
out.excluded = excluded.map((e) => e.entitlementRef.id);

// getIdentitiesPotentialRole, sorted and filtered.
const people = (await call("getIdentitiesPotentialRole", { ...role, sorters: "name", limit: 5 })).data;
out.identities = people.length;
out.identities_sorted = people.every((p, i) => i === 0 || people[i - 1].name <= p.name);
const prefix = people[0].name.slice(0, 2);
const namesakes = (await call("getIdentitiesPotentialRole", { ...role, filters: `name sw "${prefix}"` })).data;
out.identities_filtered = namesakes.length > 0 && namesakes.every((p) => p.name.startsWith(prefix));

// getAllPotentialRoleSummaries.
const everyone = await call("getAllPotentialRoleSummaries", {
  sorters: "-quality",
  filters: 'sessionState eq "POTENTIAL_ROLES_CREATED" and identityAttribute co "department"',
  count: true,
});
out.all = everyone.data.length;
out.all_total = everyone.headers["x-total-count"] ?? null;

// patchPotentialRole (in the session, beta: patchPotentialRole; v2024: patchPotentialRole), then
// across sessions (beta: patchRoleMiningPotentialRole; v2024: patchPotentialRole_1, the name the
// v2024 generator gave the second operation with operationId patchPotentialRole), then
// getRoleMiningPotentialRole and getSavedPotentialRoles.
const patches = body("patchPotentialRoleRequestInner");
await call("patchPotentialRole", { ...role, [patches]: [{ op: "replace", path: "/name", value: `Walked ${generation}` }] });
const acrossSessions = generation === "v2024" ? "patchPotentialRole_1" : "patchRoleMiningPotentialRole";
await call(acrossSessions, {
  // v2024's patchPotentialRole_1 takes (and ignores, for its path) a sessionId.
  ...(generation === "v2024" ? { sessionId } : {}),
  potentialRoleId,
  [patches]: [
    { op: "replace", path: "/saved", value: true },
    { op: "replace", path: "/description", value: "Walked by the TypeScript SDK" },
  ],
});
const fetched = (await call("getRoleMiningPotentialRole", { potentialRoleId })).data;
out.patched = [fetched.name, fetched.saved, fetched.description];
const saved = (await call("getSavedPotentialRoles", { sorters: "-modified" })).data;
out.saved = saved.map((s) => s.name);

// getPotentialRoleSourceIdentityUsage.
const usage = (await call("getPotentialRoleSourceIdentityUsage", {
  potentialRoleId,
  sourceId: popularities[0].sourceId,
  sorters: "-usageCount",
  limit: 5,
})).data;
out.usage = usage.map((u) => u.usageCount);

// exportRoleMiningPotentialRole (synchronous), exportRoleMiningPotentialRoleAsync,
// exportRoleMiningPotentialRoleStatus until done, downloadRoleMiningPotentialRoleZip.
//
// WORKAROUND: the SDK declares these zips as `File` but sets no responseType, so axios decodes
// the body as UTF-8 text and the archive is corrupted. Passing `{ responseType: 'arraybuffer' }`
// as the call's axios options (the SDK's documented per-call override) gets the bytes (a Buffer
// under node).
const binary = { responseType: "arraybuffer" };
const direct = await call("exportRoleMiningPotentialRole", role, binary);
out.export_type = direct.headers["content-type"] ?? null;
const directFiles = unzip(Buffer.from(direct.data));
out.export_files = Object.keys(directFiles).sort();
out.export_headers = Object.fromEntries(
  Object.entries(directFiles).map(([name, data]) => [name, data.toString("utf8").split(/\r?\n/)[0]]),
);
out.export_identities = directFiles["identities.csv"].toString("utf8").trim().split(/\r?\n/).length - 1;
const queued = (await call("exportRoleMiningPotentialRoleAsync", {
  ...role,
  [body("roleMiningPotentialRoleExportRequest")]: { minEntitlementPopularity: 0, includeCommonAccess: true },
})).data;
out.export_queued = [queued.status, queued.minEntitlementPopularity, queued.includeCommonAccess];
const exportId = queued.exportId;
await until("the export", async () =>
  (await call("exportRoleMiningPotentialRoleStatus", { ...role, exportId })).data.status === "SUCCESS");
const downloaded = await call("downloadRoleMiningPotentialRoleZip", { ...role, exportId }, binary);
const downloadedFiles = unzip(Buffer.from(downloaded.data));
out.download_files = Object.keys(downloadedFiles).sort();
out.download_matches = out.export_files.every((name) => directFiles[name].equals(downloadedFiles[name] ?? Buffer.alloc(0)));

// createPotentialRoleProvisionRequest, then getRoleMiningPotentialRole until provisioned.
const provision = (await call("createPotentialRoleProvisionRequest", {
  ...role,
  minEntitlementPopularity: 10,
  includeCommonAccess: false,
  [body("roleMiningPotentialRoleProvisionRequest")]: {
    roleName: `From the TypeScript SDK (${generation})`,
    includeIdentities: true,
    directlyAssignedEntitlements: true,
  },
})).data;
out.provision_requested = provision.provisionState;
const final = await until("provisioning", async () => {
  const r = (await call("getRoleMiningPotentialRole", { potentialRoleId })).data;
  return ["PENDING", "POTENTIAL"].includes(r.provisionState) ? null : r;
});
out.provisioned = [final.provisionState, typeof final.roleId === "string" && final.roleId.length > 0];

// patchRoleMiningSession: rename, save and re-mine with another prune threshold.
await call("patchRoleMiningSession", {
  sessionId,
  [body("jsonPatchOperation")]: [
    { op: "replace", path: "/name", value: `Walked session ${generation}` },
    { op: "replace", path: "/saved", value: true },
    { op: "replace", path: "/pruneThreshold", value: 70 },
  ],
});
await until("re-mining", async () =>
  (await call("getRoleMiningSessionStatus", { sessionId })).data.state === "POTENTIAL_ROLES_CREATED");
const patchedSession = (await call("getRoleMiningSession", { sessionId })).data;
out.patched_session = [patchedSession.name, patchedSession.saved, patchedSession.pruneThreshold];
const savedSessions = (await call("getRoleMiningSessions", { filters: 'saved eq "true"', count: true })).data;
out.saved_sessions = savedSessions.map((s) => s.name);

// ---------------------------------------------------------------------------------------------

out.operations = [...new Set(calls.map((c) => c[0]))].sort();
// Each operation as "METHOD path-template status", the path as the SDK requested it.
const template = (path) =>
  path
    .replace(sessionId, "{sessionId}")
    .replace(potentialRoleId, "{potentialRoleId}")
    .replace(exportId, "{exportId}")
    .replace(`/sources/${encodeURIComponent(popularities[0].sourceId)}/`, "/sources/{sourceId}/");
out.requests = [...new Set(calls.map((c) => `${c[1]} ${template(c[2])} ${c[3]}`))].sort();
out.experimental_headers = [...new Set(calls.map((c) => c[4]))];
out.calls = calls.length;
out.violations = [...new Set(violations)];
out.nulls = [...nulls].sort();
out.extras = [...extras].sort();
log(JSON.stringify(out));
