-- Token state (SQLite). Mirrors ../../postgres/2026-11-29-000401_tokens/up.sql.
-- Every secret is stored as the hex SHA-256 of the token: the tokens carry 256 random bits, so a
-- fast hash is enough and a leaked table reveals nothing usable.

INSERT INTO revisions (name, value) VALUES ('revocations', 0), ('api_tokens', 0);

-- One row per login session / OAuth grant: the `sid` claim of every access token issued under it.
-- Revoking a family (revoked_at set) refuses its access tokens at once on every instance: the
-- running gateways poll revisions('revocations') and reload their snapshot of revoked families.
CREATE TABLE token_families (
    sid        TEXT PRIMARY KEY NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL for login tokens (POST /auth/login), else the OAuth client's id.
    client_id  TEXT,
    created_at BIGINT NOT NULL,
    -- When the last token of the family stops being usable (pruned after that).
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX token_families_user ON token_families (user_id);

CREATE TRIGGER token_families_revision_revoke AFTER UPDATE OF revoked_at ON token_families
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'revocations';
END;

-- Opaque refresh tokens, rotated on every use: `replaced_by` links a used token to its successor.
CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    family_id   TEXT NOT NULL REFERENCES token_families (sid) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT,
    scope       TEXT,
    resource    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT,
    replaced_by BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Long-lived tokens for machine clients, each tied to a user and carrying only their permissions.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    -- The first characters of the token, shown in lists so an operator can tell tokens apart.
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- last_used_at changes often and matters to nobody's snapshot, so only these bump the revision.
CREATE TRIGGER api_tokens_revision_insert AFTER INSERT ON api_tokens
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'api_tokens';
END;
CREATE TRIGGER api_tokens_revision_revoke AFTER UPDATE OF revoked_at, expires_at ON api_tokens
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'api_tokens';
END;
CREATE TRIGGER api_tokens_revision_delete AFTER DELETE ON api_tokens
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'api_tokens';
END;
