DROP TABLE backends;
DROP TABLE settings;
DROP TABLE users;
DROP TABLE revisions;
