-- Mirrors ../../sqlite/2026-11-28-000301_backend_credentials/up.sql (see the comments there).
CREATE TABLE backend_credentials (
    backend_id       BIGINT PRIMARY KEY REFERENCES backends (id) ON DELETE CASCADE,
    auth_type        TEXT NOT NULL CHECK (auth_type IN ('bearer', 'basic', 'header')),
    auth_header      TEXT,
    token_ciphertext TEXT NOT NULL,
    token_nonce      TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TRIGGER backend_credentials_revision AFTER INSERT OR UPDATE OR DELETE ON backend_credentials
    FOR EACH ROW EXECUTE FUNCTION bump_revision('backends');
