-- Mirrors ../../sqlite/2026-12-02-000701_runtime_settings/up.sql (see the comments there).
INSERT INTO revisions (name, value) VALUES ('runtime_settings', 0);

CREATE TABLE runtime_settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value_json TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);

CREATE TRIGGER runtime_settings_revision AFTER INSERT OR UPDATE OR DELETE ON runtime_settings
    FOR EACH ROW EXECUTE FUNCTION bump_revision('runtime_settings');
