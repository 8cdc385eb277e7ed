DROP TABLE policies;
DROP TABLE user_groups;
DROP TABLE groups;
DELETE FROM revisions WHERE name = 'policies';
