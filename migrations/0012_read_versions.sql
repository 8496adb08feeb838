-- A number that moves whenever anything a session's potential-role pages show may have
-- changed, so API servers can keep those pages in memory and check one row per read. The
-- pages read the session row and its roles (view `potential_role_summaries`):
-- - any update of the session row moves it (parameters, state, publishing a generation);
-- - any update of its potential roles (name, description, saved, exclusions, provisioning);
-- - any deletion of its potential roles (a session never published shows the generation being
--   written, and a retried job deletes what its earlier attempt wrote).
-- Inserting roles needs no trigger: each batch of them ends by updating the session row.
ALTER TABLE role_mining_sessions ADD COLUMN read_version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION move_session_read_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.read_version := OLD.read_version + 1;
    RETURN NEW;
END
$$;
CREATE TRIGGER role_mining_sessions_read_version
    BEFORE UPDATE ON role_mining_sessions
    FOR EACH ROW EXECUTE FUNCTION move_session_read_version();

CREATE FUNCTION move_role_sessions_read_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE role_mining_sessions SET read_version = read_version + 1
     WHERE id IN (SELECT DISTINCT session_id FROM changed);
    RETURN NULL;
END
$$;
CREATE TRIGGER potential_roles_read_version
    AFTER UPDATE ON potential_roles REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION move_role_sessions_read_version();

CREATE TRIGGER potential_roles_delete_read_version
    AFTER DELETE ON potential_roles REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION move_role_sessions_read_version();
