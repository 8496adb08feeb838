-- How much of the population's access a session's roles explain, recorded when they are
-- published (definitions in contract/semantics.md, "Coverage metrics"), and per role the share
-- of its members' access it explains, as mined. Null for sessions mined before this migration.
ALTER TABLE role_mining_sessions
    ADD COLUMN assignments_explained_percent double precision,
    ADD COLUMN over_grants bigint,
    ADD COLUMN identities_in_roles_percent double precision;

ALTER TABLE potential_roles ADD COLUMN access_explained_percent double precision;

-- A view's columns can only be appended.
CREATE OR REPLACE VIEW potential_role_summaries AS
SELECT pr.id, pr.session_id, pr.ordinal, pr.name, pr.description, pr.type, pr.identity_count,
       pr.entitlement_count, pr.density, pr.freshness, pr.quality, pr.identity_distribution,
       pr.saved, pr.provision_state, pr.provision_failure, pr.role_id, pr.created_by_id,
       pr.created_by_name, pr.created_at, pr.modified_at,
       s.name AS session_name, s.type AS session_type, s.scope AS session_scope,
       s.scoping_method AS session_scoping_method, s.prune_threshold AS session_prune_threshold,
       s.min_num_identities AS session_min_num_identities, s.saved AS session_saved,
       s.state AS session_state, pr.access_explained_percent
  FROM potential_roles pr
  JOIN role_mining_sessions s ON s.id = pr.session_id
 WHERE pr.saved OR pr.generation = coalesce(s.published_generation, s.generation);
