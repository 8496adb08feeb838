-- Jobs name their subject; exports and provisioning share one definition of what a role exports.

-- Each job names the object it works on (a session, import, export or potential role), so
-- "is anything queued or running for this?" is an indexed column rather than a look inside
-- the JSON payload.
ALTER TABLE jobs ADD COLUMN subject_id uuid;

UPDATE jobs
   SET subject_id = (payload ->> CASE kind
                                   WHEN 'mine-session' THEN 'sessionId'
                                   WHEN 'import' THEN 'importId'
                                   WHEN 'export-potential-role' THEN 'exportId'
                                   WHEN 'provision-potential-role' THEN 'potentialRoleId'
                                 END)::uuid;

CREATE INDEX jobs_open_subject_idx ON jobs (subject_id) WHERE state IN ('QUEUED', 'RUNNING');

-- The import job's kind gets a name that says what it imports.
UPDATE jobs SET kind = 'import-access-data' WHERE kind = 'import';

-- The entitlements an export of a potential role holds, and a role provisioned from it with
-- the same filter grants: not excluded, at or above the popularity floor (percent), common
-- access only when asked for. One definition for both, so they cannot drift apart.
CREATE FUNCTION exported_entitlements(role uuid, floor double precision, common boolean)
RETURNS TABLE (entitlement_id integer)
LANGUAGE sql STABLE AS $$
    SELECT pre.entitlement_id FROM potential_role_entitlements pre
     WHERE pre.potential_role_id = role AND NOT pre.excluded
       AND pre.popularity >= floor AND (common OR NOT pre.common_access)
$$;

-- Since when a session's mining has been silent: the oldest expired lease of its running
-- mining job (null while none has expired, or none runs). One definition for every read.
CREATE FUNCTION session_stalled_since(session uuid) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT min(j.lease_expires_at) FROM jobs j
     WHERE j.subject_id = session AND j.kind = 'mine-session'
       AND j.state = 'RUNNING' AND j.lease_expires_at < now()
$$;
