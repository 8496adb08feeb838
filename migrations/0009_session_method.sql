-- How a session finds its roles (the extension field `method`, contract/semantics.md):
-- overlapping peer groups (the default) or the minimal exact cover.
ALTER TABLE role_mining_sessions
    ADD COLUMN method text NOT NULL DEFAULT 'PEER_GROUPS'
        CHECK (method IN ('PEER_GROUPS', 'MINIMAL_COVER'));
