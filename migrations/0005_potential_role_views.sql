-- What the potential-role endpoints read beyond the mining result itself.

-- A SPECIALIZED session mines only the entitlements that are not common access, but its
-- `includeCommonAccess` views add the common-access entitlements the members hold. Those rows
-- are stored with `mined = false`: they never count in entitlementCount or the metrics.
ALTER TABLE potential_role_entitlements ADD COLUMN mined boolean NOT NULL DEFAULT true;

-- Per role and source of its entitlements: how many members have usage of the source
-- (`sourceUsagePercent`). Counted once when the role is written, so entitlement pages of a
-- 100k-member role do not join its members with the usage table on every request.
CREATE TABLE potential_role_sources (
    potential_role_id  uuid NOT NULL REFERENCES potential_roles (id) ON DELETE CASCADE,
    source_id          integer NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    members_with_usage integer NOT NULL CHECK (members_with_usage >= 0),
    PRIMARY KEY (potential_role_id, source_id)
);

-- Members carry the identity's name as mined, so a role's members page sorted or filtered by
-- name is an index range of that role, not a sort of its 100k identities.
ALTER TABLE potential_role_members ADD COLUMN name text;
UPDATE potential_role_members m SET name = i.name FROM identities i WHERE i.id = m.identity_id;
ALTER TABLE potential_role_members ALTER COLUMN name SET NOT NULL;
CREATE INDEX potential_role_members_name_idx
    ON potential_role_members (potential_role_id, name, identity_id);
-- `name sw "x"` is translated to `lower(name) LIKE lower('x%')`, a range of this index.
CREATE INDEX potential_role_members_lower_name_idx
    ON potential_role_members (potential_role_id, lower(name) text_pattern_ops);

-- Listing potential roles across sessions (newest first) and the saved ones (draft roles).
CREATE INDEX potential_roles_created_idx ON potential_roles (created_at DESC, id);
DROP INDEX potential_roles_saved_idx;
CREATE INDEX potential_roles_saved_idx ON potential_roles (modified_at DESC, id) WHERE saved;

-- A potential role with the parameters of the session that mined it: what every summary and
-- detail response shows, and what the cross-session filters (sessionState, scopingMethod) read.
CREATE VIEW potential_role_summaries AS
SELECT pr.id, pr.session_id, pr.ordinal, pr.name, pr.description, pr.type, pr.identity_count,
       pr.entitlement_count, pr.density, pr.freshness, pr.quality, pr.identity_distribution,
       pr.saved, pr.provision_state, pr.provision_failure, pr.role_id, pr.created_by_id,
       pr.created_by_name, pr.created_at, pr.modified_at,
       s.name AS session_name, s.type AS session_type, s.scope AS session_scope,
       s.scoping_method AS session_scoping_method, s.prune_threshold AS session_prune_threshold,
       s.min_num_identities AS session_min_num_identities, s.saved AS session_saved,
       s.state AS session_state
  FROM potential_roles pr
  JOIN role_mining_sessions s ON s.id = pr.session_id;
