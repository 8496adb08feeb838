-- Access as one row per identity, and HTTP imports.
--
-- Every reader of the identity × entitlement matrix reads it per identity: mining loads a
-- population's access, exports walk a role's members, popularities count over members. One row
-- per identity holding its sorted entitlement ids is about a quarter of the size of one row per
-- assignment (a 24-byte tuple header per pair dominated), loads 30x fewer rows, and needs one
-- small key instead of two indexes over tens of millions of pairs. That is what lets an import
-- of 30M assignments stay within a minute.
--
-- The element ids cannot carry a foreign key; the import is their only writer, maps every id
-- through the entitlements table in the same transaction, and entitlements are never deleted.

CREATE TABLE identity_access (
    identity_id     integer PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    -- Sorted, without duplicates.
    entitlement_ids integer[] NOT NULL CHECK (cardinality(entitlement_ids) > 0)
);

INSERT INTO identity_access (identity_id, entitlement_ids)
SELECT identity_id, array_agg(entitlement_id ORDER BY entitlement_id)
  FROM assignments
 GROUP BY identity_id;

DROP TABLE assignments;

-- Identities are listed per potential role (at most its members, sorted in memory), never by
-- name over the whole table; the index only slowed imports.
DROP INDEX identities_name_idx;

-- `POST /rolemine/v1/imports`: an uploaded zip waiting for, or loaded by, an import job.
CREATE TABLE imports (
    id            uuid PRIMARY KEY,
    state         text NOT NULL DEFAULT 'QUEUED'
                  CHECK (state IN ('QUEUED', 'IN_PROGRESS', 'SUCCESS', 'ERROR')),
    -- Where the upload waits for the worker; removed once the import is finished.
    file_path     text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    created_by    text,
    -- Totals in the database after a successful import (AccessCounts).
    counts        jsonb,
    -- On ERROR: the listed messages (at most 100) and how many there were in all.
    errors        text[] NOT NULL DEFAULT '{}',
    error_total   integer NOT NULL DEFAULT 0,
    warnings      text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX imports_created_idx ON imports (created_at, id);
