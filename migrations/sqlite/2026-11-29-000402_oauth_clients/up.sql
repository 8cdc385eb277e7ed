-- OAuth clients of the gateway's authorization server: registered dynamically (RFC 7591),
-- resolved from a Client ID Metadata Document (the client_id is then its https URL), or created
-- by an operator. Secrets never appear here in clear: client_secret_hash and
-- registration_token_hash are hex SHA-256 digests of high-entropy random values (returned once,
-- at registration). List columns hold JSON arrays of strings; metadata_json is the document as the
-- client sent it (for RFC 7592 reads), minus the fields the server sets. Times are unix ms.
CREATE TABLE oauth_clients (
    client_id                  TEXT PRIMARY KEY NOT NULL,
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
    -- A public client has no secret; a confidential one always has one.
    CHECK ((token_endpoint_auth_method = 'none') = (client_secret_hash IS NULL))
);
