DROP TRIGGER IF EXISTS runtime_settings_revision ON runtime_settings;
DROP TABLE IF EXISTS runtime_settings;
DELETE FROM revisions WHERE name = 'runtime_settings';
