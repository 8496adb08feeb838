-- Role insights (contract/semantics.md, "Insights"), written with the roles they describe.

-- Each potential role's attribute rules, best first: the conjunction as search criteria and
-- as conditions, with what it matches in the session's population.
CREATE TABLE potential_role_rules (
    potential_role_id uuid NOT NULL REFERENCES potential_roles (id) ON DELETE CASCADE,
    rank              smallint NOT NULL CHECK (rank >= 1),
    criteria          text NOT NULL,
    conditions        jsonb NOT NULL,
    matched           integer NOT NULL CHECK (matched >= 0),
    members_matched   integer NOT NULL CHECK (members_matched BETWEEN 0 AND matched),
    members           integer NOT NULL CHECK (members >= members_matched),
    PRIMARY KEY (potential_role_id, rank)
);

-- A mining generation's outliers, highest score first. `role_ids` are the identity's roles of
-- that generation, or its nearest role when it is in none.
CREATE TABLE session_outliers (
    session_id           uuid NOT NULL REFERENCES role_mining_sessions (id) ON DELETE CASCADE,
    generation           integer NOT NULL,
    rank                 integer NOT NULL,
    identity_id          integer NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    score                double precision NOT NULL CHECK (score > 0),
    in_role              boolean NOT NULL,
    role_ids             uuid[] NOT NULL,
    unusual_count        integer NOT NULL,
    unusual_entitlements integer[] NOT NULL,
    missing_count        integer NOT NULL,
    missing_entitlements integer[] NOT NULL,
    PRIMARY KEY (session_id, generation, rank)
);
CREATE INDEX session_outliers_score_idx ON session_outliers (session_id, generation, score DESC, rank);
CREATE INDEX session_outliers_roles_idx ON session_outliers USING gin (role_ids);

-- A mining generation's assignments no role explains, by entitlement.
CREATE TABLE session_unexplained (
    session_id     uuid NOT NULL REFERENCES role_mining_sessions (id) ON DELETE CASCADE,
    generation     integer NOT NULL,
    entitlement_id integer NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    identity_count integer NOT NULL CHECK (identity_count > 0),
    identity_ids   integer[] NOT NULL,
    PRIMARY KEY (session_id, generation, entitlement_id)
);

-- The membership rule a provisioned role was given (its potential role's best attribute rule),
-- as search criteria; null when it was provisioned without one.
ALTER TABLE roles ADD COLUMN membership_criteria text;
