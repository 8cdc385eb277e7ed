DROP TABLE backends;
DROP TABLE settings;
DROP TABLE users;
DROP FUNCTION bump_revision();
DROP TABLE revisions;
