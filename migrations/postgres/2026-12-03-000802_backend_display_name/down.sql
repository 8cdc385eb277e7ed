ALTER TABLE backends DROP COLUMN display_name;
