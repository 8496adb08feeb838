-- A re-mine writes its roles beside the ones readers see, and they change over in one
-- transaction when the new generation is complete: readers never see an empty or half-written
-- role list while a session is mined again. `published_generation` is the generation whose
-- roles are shown; until a session's first mining completes it is null and the roles of the
-- current generation show as they are written (`potentialRolesReadyCount` counts them up).
ALTER TABLE role_mining_sessions ADD COLUMN published_generation integer;
UPDATE role_mining_sessions SET published_generation = generation
 WHERE state = 'POTENTIAL_ROLES_CREATED';

CREATE OR REPLACE VIEW potential_role_summaries AS
SELECT pr.id, pr.session_id, pr.ordinal, pr.name, pr.description, pr.type, pr.identity_count,
       pr.entitlement_count, pr.density, pr.freshness, pr.quality, pr.identity_distribution,
       pr.saved, pr.provision_state, pr.provision_failure, pr.role_id, pr.created_by_id,
       pr.created_by_name, pr.created_at, pr.modified_at,
       s.name AS session_name, s.type AS session_type, s.scope AS session_scope,
       s.scoping_method AS session_scoping_method, s.prune_threshold AS session_prune_threshold,
       s.min_num_identities AS session_min_num_identities, s.saved AS session_saved,
       s.state AS session_state
  FROM potential_roles pr
  JOIN role_mining_sessions s ON s.id = pr.session_id
 WHERE pr.saved OR pr.generation = coalesce(s.published_generation, s.generation);
