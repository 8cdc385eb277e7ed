DROP TRIGGER IF EXISTS runtime_settings_revision_delete;
DROP TRIGGER IF EXISTS runtime_settings_revision_update;
DROP TRIGGER IF EXISTS runtime_settings_revision_insert;
DROP TABLE IF EXISTS runtime_settings;
DELETE FROM revisions WHERE name = 'runtime_settings';
