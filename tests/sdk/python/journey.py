"""A client journey over all 25 IAI Role Mining operations with an official SailPoint Python
SDK, run by tests/sdk.rs.

usage: journey.py BASE_URL CLIENT_ID CLIENT_SECRET MODULE

MODULE is the SDK package of one API generation: `sailpoint.beta`, `sailpoint.v2024`,
`sailpoint.v2025` (SDK 1.x) or `sailpoint.iai_role_mining` (SDK 2.x, `/role-mining-*/v1`
paths). Generations name their methods differently (`patch_role_mining_potential_role`,
`patch_potential_role`, `*_v1`), so each operation is found by the HTTP method and path the
SDK itself sends it to. Every response is deserialised by the SDK's own models. Prints one
JSON object with what it saw, on its last line.
"""

import importlib
import inspect
import io
import json
import re
import sys
import time
import typing
import zipfile

base_url, client_id, client_secret, module = sys.argv[1:5]
from sailpoint.configuration import Configuration, ConfigurationParams

params = ConfigurationParams()
params.base_url, params.client_id, params.client_secret = base_url, client_id, client_secret
config = Configuration(params)  # gets its token from BASE_URL/oauth/token
config.experimental = True
config.suppress_experimental_warnings = True

sdk = importlib.import_module(module)
client = sdk.ApiClient(config)
api = sdk.IAIRoleMiningApi(client)
out = {"module": module}

# (HTTP method, contract path) -> the SDK method that calls it.
OPS = {}
for name, member in inspect.getmembers(api):
    if not (name.startswith("_") and name.endswith("_serialize")):
        continue
    found = re.search(r"method='(\w+)',\s*resource_path='([^']+)'", inspect.getsource(member), re.S)
    path = re.sub(r"^(/[^/]+)/v1(?=/|$)", r"\1", found.group(2))
    OPS[(found.group(1), path)] = getattr(api, name[1:-len("_serialize")])
called = set()

SIMPLE = {"session_id", "potential_role_id", "export_id", "source_id", "filters", "sorters",
          "offset", "limit", "count", "include_common_access", "min_entitlement_popularity",
          "x_sail_point_experimental"}


def build(annotation, body):
    """`body` as the SDK model an argument is annotated with (a list of them, or optional)."""
    while typing.get_origin(annotation) in (typing.Union, typing.Annotated):
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        else:
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is list:
        item = typing.get_args(annotation)[0]
        return [item.from_dict(b) for b in body]
    return annotation.from_dict(body)


def call(method, path, body=None, raw=False, **arguments):
    """Calls the operation at (method, path): arguments by name where the SDK method takes
    them, the body built with the model its signature names. `raw`: the undecoded response."""
    function = OPS[(method, path)]
    called.add((method, path))
    if raw:
        function = getattr(api, function.__name__ + "_without_preload_content")
    signature = inspect.signature(function).parameters
    given = {k: v for k, v in arguments.items() if k in signature}
    if body is not None:
        name = next(p for p in signature if p not in SIMPLE and not p.startswith("_"))
        given[name] = build(signature[name].annotation, body)
    return function(**given)


def wait(check, what):
    deadline = time.time() + 90
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.2)


def text(value):
    """An enum field as its wire string (SDK models hold enums or, in some versions, strings)."""
    return str(getattr(value, "value", value))


S = "/role-mining-sessions"
R = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}"
SUM = "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}"
P = "/role-mining-potential-roles"

created = call("POST", S, {"scope": {"criteria": "department:Finance OR department:Sales OR department:Engineering", "identityIds": []},
                           "minNumIdentitiesInPotentialRole": 5, "name": "Journey " + module, "saved": True})
sid = created.id
out["created_identity_count"] = created.identity_count
state = lambda: call("GET", S + "/{sessionId}/status", session_id=sid).state
wait(lambda: state() == "POTENTIAL_ROLES_CREATED", "mining did not finish")
session = call("GET", S + "/{sessionId}", session_id=sid)
out["session"] = [session.name, session.identity_count > 0, session.potential_role_count > 0]
listed = call("GET", S, filters='name sw "Journey"', sorters="-createdDate", limit=10, count=True)
out["listed"] = [s.name for s in listed]
call("PATCH", S + "/{sessionId}", [{"op": "replace", "path": "/pruneThreshold", "value": "60"}], session_id=sid)
wait(lambda: call("GET", S + "/{sessionId}", session_id=sid).prune_threshold == 60 and state() == "POTENTIAL_ROLES_CREATED",
     "re-mining did not finish")

summaries = call("GET", S + "/{sessionId}/potential-role-summaries", session_id=sid, sorters="createdDate", filters="quality ge 0", limit=50, count=True)
out["summaries"] = len(summaries)
# The largest specialised role: a session's birthright role (type COMMON, its common access
# only) would provision nothing without common access, so it would finish before the request
# returns.
specialised = [s for s in summaries if text(s.type) == "SPECIALIZED"]
role = max(specialised or summaries, key=lambda s: s.identity_count)
rid = role.id
out["never_provisioned_state"] = None if role.provision_state is None else str(role.provision_state)
detail = call("GET", SUM, session_id=sid, potential_role_id=rid)
out["members"] = len(detail.identity_ids)
apps = call("GET", SUM + "/applications", session_id=sid, potential_role_id=rid, limit=10)
refs = call("GET", SUM + "/entitlements", session_id=sid, potential_role_id=rid, limit=10)
pops = call("GET", R + "/entitlement-popularities", session_id=sid, potential_role_id=rid, include_common_access=False, sorters="-popularity")
dist = call("GET", R + "/entitlement-popularity-distribution", session_id=sid, potential_role_id=rid, include_common_access=True)
out["distribution_total"] = sum(dist.values())
edited = call("POST", R + "/edit-entitlements", {"ids": [pops[0].entitlement_ref.id], "exclude": True}, session_id=sid, potential_role_id=rid)
out["excluded_id"] = pops[0].entitlement_ref.id
out["edited"] = list(edited.excluded_entitlements or [])
excluded = call("GET", R + "/excluded-entitlements", session_id=sid, potential_role_id=rid)
out["excluded"] = [e.entitlement_ref.id for e in excluded]
people = call("GET", R + "/identities", session_id=sid, potential_role_id=rid, sorters="name", limit=5)
call("PATCH", SUM, [{"op": "replace", "path": "/name", "value": "Journeyed"}], session_id=sid, potential_role_id=rid)
everyone = call("GET", P, sorters="-quality", filters='sessionState eq "POTENTIAL_ROLES_CREATED"', count=True)
call("PATCH", P + "/{potentialRoleId}", [{"op": "replace", "path": "/saved", "value": True}], session_id=sid, potential_role_id=rid)
fetched = call("GET", P + "/{potentialRoleId}", potential_role_id=rid)
out["patched"] = [fetched.name, fetched.saved]
saved = call("GET", P + "/saved", sorters="-modified")
out["saved"] = [s.name for s in saved]
usage = call("GET", P + "/{potentialRoleId}/sources/{sourceId}/identityUsage", potential_role_id=rid, source_id=pops[0].source_id, sorters="-usageCount", limit=5)
out["usage"] = len(usage)
out["types"] = sorted({type(x).__name__ for x in [detail, apps[0], refs[0], pops[0], edited, people[0], everyone[0], fetched, saved[0], usage[0]]})

# Exports. The SDK saves a binary response under its Content-Disposition name and returns the path.
direct = open(call("GET", R + "/export", session_id=sid, potential_role_id=rid), "rb").read()
names = sorted(zipfile.ZipFile(io.BytesIO(direct)).namelist())
out["export_files"] = names
queued = call("POST", R + "/export-async", {"minEntitlementPopularity": 0, "includeCommonAccess": True}, session_id=sid, potential_role_id=rid)
wait(lambda: call("GET", R + "/export-async/{exportId}", session_id=sid, potential_role_id=rid, export_id=queued.export_id).status == "SUCCESS",
     "the export did not finish")
downloaded = open(call("GET", R + "/export-async/{exportId}/download", session_id=sid, potential_role_id=rid, export_id=queued.export_id), "rb").read()
out["download_matches"] = all(zipfile.ZipFile(io.BytesIO(direct)).read(n) == zipfile.ZipFile(io.BytesIO(downloaded)).read(n) for n in names)

# Provisioning: the last operation, on this role only. SDK 2.x cannot read a non-null
# provisionState (RoleMiningPotentialRoleProvisionState.from_dict raises NameError: the model
# module does not import it), so from here on 2.x reads the raw response (documented workaround).
body = {"roleName": "Journey role " + module, "includeIdentities": True, "directlyAssignedEntitlements": True}
raw_state = lambda: json.loads(call("GET", P + "/{potentialRoleId}", raw=True, potential_role_id=rid).data)["provisionState"]
two_x = module == "sailpoint.iai_role_mining"
requested = call("POST", R + "/provision", body, raw=two_x, session_id=sid, potential_role_id=rid,
                 min_entitlement_popularity=10, include_common_access=False)
if two_x:
    out["provision_requested"] = json.loads(requested.data)["provisionState"]
else:
    out["provision_requested"] = text(requested.provision_state)
wait(lambda: raw_state() == "COMPLETE", "provisioning did not finish")
out["provisioned"] = raw_state()
out["operations"] = len(called)
out["missing"] = sorted(f"{m} {p}" for (m, p) in OPS if (m, p) not in called)
print(json.dumps(out))
