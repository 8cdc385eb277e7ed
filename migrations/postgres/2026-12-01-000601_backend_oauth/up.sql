-- Mirrors ../../sqlite/2026-12-01-000601_backend_oauth/up.sql (see the comments there).
CREATE TABLE backend_oauth (
    backend_id                 BIGINT PRIMARY KEY REFERENCES backends (id) ON DELETE CASCADE,
    grant_type                 TEXT NOT NULL CHECK (grant_type IN ('client_credentials', 'refresh_token')),
    token_url                  TEXT,
    client_id                  TEXT NOT NULL,
    client_secret_ciphertext   TEXT,
    client_secret_nonce        TEXT,
    scope                      TEXT,
    resource                   TEXT,
    refresh_token_ciphertext   TEXT,
    refresh_token_nonce        TEXT,
    updated_at                 BIGINT NOT NULL,
    CHECK ((client_secret_ciphertext IS NULL) = (client_secret_nonce IS NULL)),
    CHECK ((refresh_token_ciphertext IS NULL) = (refresh_token_nonce IS NULL)),
    CHECK (grant_type <> 'refresh_token' OR refresh_token_ciphertext IS NOT NULL)
);

CREATE TRIGGER backend_oauth_revision AFTER INSERT OR UPDATE OR DELETE ON backend_oauth
    FOR EACH ROW EXECUTE FUNCTION bump_revision('backends');

CREATE TABLE backend_token_state (
    backend_name               TEXT PRIMARY KEY,
    configured_fingerprint     TEXT NOT NULL,
    refresh_token_ciphertext   TEXT NOT NULL,
    refresh_token_nonce        TEXT NOT NULL,
    updated_at                 BIGINT NOT NULL
);
