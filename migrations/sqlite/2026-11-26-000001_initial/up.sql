-- Foundation schema (SQLite). Mirrors ../../postgres/2026-11-26-000001_initial/up.sql.
-- Times are unix milliseconds (BIGINT), flags are 0/1 integers and JSON is text, because the
-- diesel MultiConnection used by the gateway only maps the types both databases share.

-- Bumped by triggers on every change to a watched table, so a running gateway can notice
-- changes made by another process (the CLI, another instance) by polling one cheap row.
CREATE TABLE revisions (
    name  TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL DEFAULT 0
);
INSERT INTO revisions (name, value) VALUES ('users', 0), ('backends', 0);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TRIGGER users_revision_insert AFTER INSERT ON users
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'users';
END;
CREATE TRIGGER users_revision_update AFTER UPDATE ON users
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'users';
END;
CREATE TRIGGER users_revision_delete AFTER DELETE ON users
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'users';
END;

-- Small key/value state the gateway persists (e.g. generated secrets' fingerprints, setup state).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Backends defined through the admin API (config-file backends are not stored here).
-- tool_prefix NULL means the default "<name>_".
CREATE TABLE backends (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name              TEXT NOT NULL UNIQUE,
    transport         TEXT NOT NULL CHECK (transport IN ('streamable-http', 'sse', 'stdio')),
    url               TEXT,
    command           TEXT,
    args_json         TEXT NOT NULL DEFAULT '[]',
    env_json          TEXT NOT NULL DEFAULT '{}',
    cwd               TEXT,
    tool_prefix       TEXT,
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    timeout_ms        BIGINT NOT NULL,
    health_interval_s BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TRIGGER backends_revision_insert AFTER INSERT ON backends
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
CREATE TRIGGER backends_revision_update AFTER UPDATE ON backends
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
CREATE TRIGGER backends_revision_delete AFTER DELETE ON backends
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'backends';
END;
