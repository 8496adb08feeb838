-- Rolemine core data model.
--
-- Access data uses integer surrogate keys (`id`) next to the caller's string ids (`ext_id`):
-- the assignment table is the one that reaches tens of millions of rows, and two int4 columns
-- keep it at the smallest tuple PostgreSQL can store, which is what keeps bulk loads, the
-- covering indexes and the mining scan fast. API-visible objects (sessions, potential roles,
-- exports, provisioned roles) use UUIDs, as the contract's ids are opaque strings.

-- ---------------------------------------------------------------------------------------------
-- Access data (loaded by `rolemine import`)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE sources (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ext_id      text NOT NULL UNIQUE,
    name        text NOT NULL
);

CREATE TABLE identities (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ext_id      text NOT NULL UNIQUE,
    name        text NOT NULL,
    email       text,
    -- Every other identities.csv column (department, location, jobTitle, ...): string values.
    attributes  jsonb NOT NULL DEFAULT '{}'::jsonb
);
-- Scope criteria such as `department:Finance` run as jsonb containment.
CREATE INDEX identities_attributes_idx ON identities USING gin (attributes jsonb_path_ops);
CREATE INDEX identities_name_idx ON identities (name);

CREATE TABLE entitlements (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ext_id      text NOT NULL UNIQUE,
    source_id   integer NOT NULL REFERENCES sources (id),
    name        text NOT NULL,
    attribute   text NOT NULL DEFAULT 'groups',
    description text
);
CREATE INDEX entitlements_source_idx ON entitlements (source_id);

-- The identity × entitlement matrix. The primary key doubles as the by-identity access path;
-- the second index serves "who holds entitlement E" (access.id criteria, popularity counts).
CREATE TABLE assignments (
    identity_id    integer NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    entitlement_id integer NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    PRIMARY KEY (identity_id, entitlement_id)
);
CREATE INDEX assignments_entitlement_idx ON assignments (entitlement_id, identity_id);

-- Days with activity on a source in the last 90 days (usage.csv).
CREATE TABLE source_usage (
    identity_id integer NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    source_id   integer NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    usage_days  smallint NOT NULL CHECK (usage_days BETWEEN 0 AND 90),
    PRIMARY KEY (source_id, identity_id)
);

-- ---------------------------------------------------------------------------------------------
-- Existing roles: imported from roles.csv or provisioned from potential roles. Both feed the
-- freshness metric of later sessions.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE roles (
    id          uuid PRIMARY KEY,
    ext_id      text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text,
    origin      text NOT NULL CHECK (origin IN ('IMPORTED', 'PROVISIONED')),
    owner_id    text,
    potential_role_id uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Entitlements a role grants directly.
CREATE TABLE role_entitlements (
    role_id        uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    entitlement_id integer NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, entitlement_id)
);

-- Access profiles created when a potential role is provisioned "one access profile per source".
CREATE TABLE access_profiles (
    id          uuid PRIMARY KEY,
    role_id     uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    source_id   integer NOT NULL REFERENCES sources (id),
    name        text NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (role_id, source_id)
);

CREATE TABLE access_profile_entitlements (
    access_profile_id uuid NOT NULL REFERENCES access_profiles (id) ON DELETE CASCADE,
    entitlement_id    integer NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    PRIMARY KEY (access_profile_id, entitlement_id)
);

-- One request per member when a role is provisioned with includeIdentities.
CREATE TABLE role_assignment_requests (
    role_id     uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    identity_id integer NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    state       text NOT NULL DEFAULT 'REQUESTED',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_id, identity_id)
);

-- ---------------------------------------------------------------------------------------------
-- Role mining
-- ---------------------------------------------------------------------------------------------

CREATE TABLE role_mining_sessions (
    id                           uuid PRIMARY KEY,
    name                         text,
    type                         text NOT NULL DEFAULT 'SPECIALIZED'
                                 CHECK (type IN ('SPECIALIZED', 'COMMON')),
    -- The request's scope as given (identityIds, criteria, attributeFilterCriteria).
    scope                        jsonb NOT NULL DEFAULT '{}'::jsonb,
    scoping_method               text NOT NULL DEFAULT 'MANUAL'
                                 CHECK (scoping_method IN ('MANUAL', 'AUTO_RM')),
    prune_threshold              smallint CHECK (prune_threshold BETWEEN 0 AND 100),
    prescribed_prune_threshold   smallint CHECK (prescribed_prune_threshold BETWEEN 0 AND 100),
    min_num_identities           integer CHECK (min_num_identities >= 0),
    identity_count               integer,
    potential_role_count         integer NOT NULL DEFAULT 0,
    potential_roles_ready_count  integer NOT NULL DEFAULT 0,
    state                        text NOT NULL DEFAULT 'CREATED'
                                 CHECK (state IN ('CREATED', 'UPDATED', 'IDENTITIES_OBTAINED',
                                                  'PRUNE_THRESHOLD_OBTAINED',
                                                  'POTENTIAL_ROLES_PROCESSING',
                                                  'POTENTIAL_ROLES_CREATED', 'FAILED')),
    failure_message              text,
    saved                        boolean NOT NULL DEFAULT false,
    email_recipient_id           text,
    data_file_path               text,
    created_by_id                text,
    created_by_name              text,
    -- Incremented by every re-mine, so a superseded job can tell its results are stale.
    generation                   integer NOT NULL DEFAULT 0,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    modified_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX role_mining_sessions_created_idx ON role_mining_sessions (created_at, id);

-- The resolved population of a session, kept so that re-mines and endpoints see the same set.
CREATE TABLE session_identities (
    session_id  uuid NOT NULL REFERENCES role_mining_sessions (id) ON DELETE CASCADE,
    identity_id integer NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    PRIMARY KEY (session_id, identity_id)
);

CREATE TABLE potential_roles (
    id                   uuid PRIMARY KEY,
    session_id           uuid NOT NULL REFERENCES role_mining_sessions (id) ON DELETE CASCADE,
    generation           integer NOT NULL,
    -- Position in the engine's deterministic output order.
    ordinal              integer NOT NULL,
    name                 text NOT NULL,
    description          text,
    type                 text NOT NULL CHECK (type IN ('SPECIALIZED', 'COMMON')),
    identity_count       integer NOT NULL,
    entitlement_count    integer NOT NULL,
    density              smallint NOT NULL CHECK (density BETWEEN 0 AND 100),
    freshness            smallint NOT NULL CHECK (freshness BETWEEN 0 AND 100),
    quality              smallint NOT NULL CHECK (quality BETWEEN 0 AND 100),
    identity_distribution jsonb NOT NULL DEFAULT '[]'::jsonb,
    saved                boolean NOT NULL DEFAULT false,
    provision_state      text NOT NULL DEFAULT 'POTENTIAL'
                         CHECK (provision_state IN ('POTENTIAL', 'PENDING', 'COMPLETE', 'FAILED')),
    provision_failure    text,
    role_id              uuid REFERENCES roles (id) ON DELETE SET NULL,
    created_by_id        text,
    created_by_name      text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    modified_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX potential_roles_session_idx ON potential_roles (session_id, ordinal);
CREATE INDEX potential_roles_saved_idx ON potential_roles (saved) WHERE saved;

CREATE TABLE potential_role_members (
    potential_role_id uuid NOT NULL REFERENCES potential_roles (id) ON DELETE CASCADE,
    identity_id       integer NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    PRIMARY KEY (potential_role_id, identity_id)
);

CREATE TABLE potential_role_entitlements (
    potential_role_id uuid NOT NULL REFERENCES potential_roles (id) ON DELETE CASCADE,
    entitlement_id    integer NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    identity_count    integer NOT NULL,
    popularity        double precision NOT NULL CHECK (popularity BETWEEN 0 AND 100),
    popularity_in_org double precision NOT NULL CHECK (popularity_in_org BETWEEN 0 AND 100),
    common_access     boolean NOT NULL,
    excluded          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (potential_role_id, entitlement_id)
);

CREATE TABLE potential_role_exports (
    id                         uuid PRIMARY KEY,
    potential_role_id          uuid NOT NULL REFERENCES potential_roles (id) ON DELETE CASCADE,
    state                      text NOT NULL DEFAULT 'QUEUED'
                               CHECK (state IN ('QUEUED', 'IN_PROGRESS', 'SUCCESS', 'ERROR')),
    min_entitlement_popularity integer NOT NULL DEFAULT 0,
    include_common_access      boolean NOT NULL DEFAULT true,
    artifact_key               text,
    error_message              text,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    modified_at                timestamptz NOT NULL DEFAULT now(),
    expires_at                 timestamptz
);
CREATE INDEX potential_role_exports_role_idx ON potential_role_exports (potential_role_id);

-- Session-completion notifications, delivered by SMTP when configured, otherwise logged.
CREATE TABLE notification_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id   uuid REFERENCES role_mining_sessions (id) ON DELETE CASCADE,
    recipient_id text NOT NULL,
    subject      text NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);

-- ---------------------------------------------------------------------------------------------
-- Infrastructure: the job queue and API clients
-- ---------------------------------------------------------------------------------------------

-- Jobs are claimed with FOR UPDATE SKIP LOCKED and held under a lease; a worker that dies
-- stops renewing its lease and the job becomes claimable again.
CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    state            text NOT NULL DEFAULT 'QUEUED'
                     CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    run_after        timestamptz NOT NULL DEFAULT now(),
    locked_by        text,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX jobs_claimable_idx ON jobs (run_after) WHERE state = 'QUEUED';
CREATE INDEX jobs_leased_idx ON jobs (lease_expires_at) WHERE state = 'RUNNING';

CREATE TABLE api_clients (
    id          uuid PRIMARY KEY,
    client_id   text NOT NULL UNIQUE,
    name        text NOT NULL,
    secret_hash text NOT NULL,
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
