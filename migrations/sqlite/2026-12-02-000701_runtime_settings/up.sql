-- Runtime settings (SQLite): administrator overrides for a fixed allow-list of configuration keys
-- (rate limits, registration, dynamic client registration), set through the admin API or the
-- console. They win over the file and the environment, at start and on every reload (SIGHUP
-- re-reads the file but keeps them). Mirrors ../../postgres/2026-12-02-000701_runtime_settings/up.sql.
--
-- value_json holds the JSON value (a number or a boolean); the gateway validates it with the same
-- rules as the file before storing it. Every change bumps revisions('runtime_settings'), so
-- another instance on the same database reloads its configuration.
INSERT INTO revisions (name, value) VALUES ('runtime_settings', 0);

CREATE TABLE runtime_settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value_json TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);

CREATE TRIGGER runtime_settings_revision_insert AFTER INSERT ON runtime_settings
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'runtime_settings';
END;
CREATE TRIGGER runtime_settings_revision_update AFTER UPDATE ON runtime_settings
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'runtime_settings';
END;
CREATE TRIGGER runtime_settings_revision_delete AFTER DELETE ON runtime_settings
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'runtime_settings';
END;
