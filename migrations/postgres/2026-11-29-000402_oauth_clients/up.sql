-- Mirrors ../../sqlite/2026-11-29-000402_oauth_clients/up.sql (see the comments there).
CREATE TABLE oauth_clients (
    client_id                  TEXT PRIMARY KEY,
    client_secret_hash         TEXT,
    client_secret_expires_at   BIGINT,
    registration_token_hash    TEXT,
    client_name                TEXT,
    redirect_uris_json         TEXT NOT NULL,
    grant_types_json           TEXT NOT NULL,
    response_types_json        TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL CHECK (token_endpoint_auth_method IN
                                   ('none', 'client_secret_basic', 'client_secret_post')),
    scope                      TEXT,
    metadata_json              TEXT NOT NULL,
    source                     TEXT NOT NULL CHECK (source IN ('dcr', 'cimd', 'admin')),
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL,
    last_used_at               BIGINT,
    CHECK ((token_endpoint_auth_method = 'none') = (client_secret_hash IS NULL))
);
