-- OAuth credentials of admin-API backends (auth_type oauth_client_credentials or
-- oauth_refresh_token), one row per such backend; such a backend has no backend_credentials row.
-- Kept apart from `backends` like backend_credentials, so listing backends never reads secrets.
-- The client secret and the configured refresh token are sealed (ChaCha20-Poly1305, see
-- actors/src/secrets.rs): base64 ciphertext + nonce, both NULL when not set. token_url NULL: the
-- token endpoint is discovered from the backend's RFC 9728 metadata.
CREATE TABLE backend_oauth (
    backend_id                 INTEGER PRIMARY KEY NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
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

-- A credential change is a backend change: running instances re-read their backends.
CREATE TRIGGER backend_oauth_revision_insert AFTER INSERT ON backend_oauth
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
CREATE TRIGGER backend_oauth_revision_update AFTER UPDATE ON backend_oauth
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
CREATE TRIGGER backend_oauth_revision_delete AFTER DELETE ON backend_oauth
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;

-- The latest refresh token a backend's token endpoint issued (refresh tokens rotate), for file
-- and database backends alike, keyed by backend name, so a restart continues from it instead of
-- the configured one, which the authorization server may have invalidated. Used only while the
-- configured token is still the one it grew from: configured_fingerprint is a SHA-256 of that
-- configured token (see actors/src/backend/credential/persisted.rs). A database backend renamed
-- or deleted through the admin API takes its row along. The
-- token itself is sealed like every other credential. No revision trigger: a rotation is not a
-- backend change and must not restart the backend.
CREATE TABLE backend_token_state (
    backend_name               TEXT PRIMARY KEY NOT NULL,
    configured_fingerprint     TEXT NOT NULL,
    refresh_token_ciphertext   TEXT NOT NULL,
    refresh_token_nonce        TEXT NOT NULL,
    updated_at                 BIGINT NOT NULL
);
