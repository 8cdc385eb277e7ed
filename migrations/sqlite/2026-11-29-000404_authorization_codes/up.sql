-- The authorization server's code flow (SQLite). Mirrors ../../postgres/2026-11-29-000404_authorization_codes/up.sql.

-- Authorization codes (RFC 6749 §4.1): 256 random bits, stored only as their hex SHA-256, single
-- use, short-lived. A used row stays until it is pruned (a day after it expired) so that a
-- replayed code is recognised: the tokens issued from it (family_sid) are then revoked
-- (RFC 6749 §4.1.2). Times are unix ms.
CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    -- PKCE S256 challenge (base64url of SHA-256 of the verifier).
    code_challenge TEXT NOT NULL,
    -- OpenID Connect nonce, echoed into the id_token.
    nonce          TEXT,
    -- When the user authenticated (OIDC auth_time), unix seconds.
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    -- Set when a used code is presented again.
    replayed_at    BIGINT,
    -- The token family issued from the code.
    family_sid     TEXT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- Remembered consent: a user approved a client for these scopes on this resource; a later
-- request for the same resource and a subset of the scopes skips the consent page.
CREATE TABLE oauth_consents (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, resource)
);
