-- Secrets every API replica must share, generated once by whichever process starts first:
-- `jwt_signing_key` signs and verifies the bearer tokens of `POST /oauth/token`.
CREATE TABLE server_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
