-- The gateway's own credential towards an admin-API backend, one row per backend that has one
-- (no row: auth_type "none"). Kept apart from `backends` so that listing or diffing backends never
-- touches secret material. The token is stored sealed (ChaCha20-Poly1305 under a key kept outside
-- the database, see actors/src/secrets.rs): base64 ciphertext and the base64 nonce it was sealed
-- under, never in clear. auth_header names the header for auth_type 'header' (e.g. X-API-Key);
-- 'basic' sends `Authorization: Basic <token>` as the original gateway did.
CREATE TABLE backend_credentials (
    backend_id       INTEGER PRIMARY KEY NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
    auth_type        TEXT NOT NULL CHECK (auth_type IN ('bearer', 'basic', 'header')),
    auth_header      TEXT,
    token_ciphertext TEXT NOT NULL,
    token_nonce      TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- A credential change is a backend change: running instances re-read their backends.
CREATE TRIGGER backend_credentials_revision_insert AFTER INSERT ON backend_credentials
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
CREATE TRIGGER backend_credentials_revision_update AFTER UPDATE ON backend_credentials
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
CREATE TRIGGER backend_credentials_revision_delete AFTER DELETE ON backend_credentials
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
