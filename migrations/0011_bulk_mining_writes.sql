-- A mining generation writes hundreds of thousands of rows (members, entitlement statistics,
-- unexplained access) that nothing else writes. Their foreign keys cost a row-level trigger
-- and a parent lookup per row, three quarters of the write time of a 100k-identity session on
-- a durable PostgreSQL. Those checks guard nothing in practice:
-- - identities, entitlements and sources are never deleted (imports merge), and a generation's
--   rows are built from ids the same job just read;
-- - a potential role's rows are inserted in the transaction that inserts the role.
-- What the foreign keys did on delete (cascading to a role's rows, and to a session's insight
-- rows) is done by statement-level triggers, once per deleting statement instead of per row.

ALTER TABLE potential_role_members
    DROP CONSTRAINT potential_role_members_potential_role_id_fkey,
    DROP CONSTRAINT potential_role_members_identity_id_fkey;
ALTER TABLE potential_role_entitlements
    DROP CONSTRAINT potential_role_entitlements_potential_role_id_fkey,
    DROP CONSTRAINT potential_role_entitlements_entitlement_id_fkey;
ALTER TABLE potential_role_sources
    DROP CONSTRAINT potential_role_sources_potential_role_id_fkey,
    DROP CONSTRAINT potential_role_sources_source_id_fkey;
ALTER TABLE potential_role_rules
    DROP CONSTRAINT potential_role_rules_potential_role_id_fkey;
ALTER TABLE session_outliers
    DROP CONSTRAINT session_outliers_session_id_fkey,
    DROP CONSTRAINT session_outliers_identity_id_fkey;
ALTER TABLE session_unexplained
    DROP CONSTRAINT session_unexplained_session_id_fkey,
    DROP CONSTRAINT session_unexplained_entitlement_id_fkey;

CREATE FUNCTION delete_potential_role_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM potential_role_members WHERE potential_role_id IN (SELECT id FROM gone);
    DELETE FROM potential_role_entitlements WHERE potential_role_id IN (SELECT id FROM gone);
    DELETE FROM potential_role_sources WHERE potential_role_id IN (SELECT id FROM gone);
    DELETE FROM potential_role_rules WHERE potential_role_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;
CREATE TRIGGER potential_roles_delete_rows
    AFTER DELETE ON potential_roles REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delete_potential_role_rows();

CREATE FUNCTION delete_session_insight_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM session_outliers WHERE session_id IN (SELECT id FROM gone);
    DELETE FROM session_unexplained WHERE session_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;
CREATE TRIGGER role_mining_sessions_delete_insights
    AFTER DELETE ON role_mining_sessions REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delete_session_insight_rows();

-- Rows of roles or sessions deleted before this migration are gone already (the foreign keys
-- cascaded); nothing to clean up.

-- A role's sources count its members with usage of each: a probe per member by identity, not
-- a scan of every usage row per batch of roles (0.75 s a batch at 1M identities).
CREATE INDEX source_usage_identity_idx ON source_usage (identity_id) INCLUDE (source_id, usage_days);

-- The population is now read straight from the scope query while mining, not stored.
DROP TABLE session_identities;
