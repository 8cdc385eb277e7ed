-- Authorization: groups of users and the policies that grant or deny backends, tools, prompts and
-- resources (SQLite). Mirrors ../../postgres/2026-11-29-000403_policies/up.sql.
--
-- Every change to these three tables bumps revisions('policies'), so a running gateway (or another
-- instance on the same database) rebuilds its policy snapshot without a restart.
INSERT INTO revisions (name, value) VALUES ('policies', 0);

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE user_groups (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_by_group ON user_groups (group_id);

-- subject: 'role:<admin|user>', 'group:<name>' or 'user:<username>'. The lists are JSON arrays of
-- names or glob patterns ('*' any run of characters, '?' one character); for tools, prompts and
-- resources NULL means every item of that kind on the matching backends, '[]' none.
CREATE TABLE policies (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    subject        TEXT NOT NULL,
    effect         TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    backends_json  TEXT NOT NULL DEFAULT '["*"]',
    tools_json     TEXT,
    prompts_json   TEXT,
    resources_json TEXT,
    description    TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TRIGGER groups_revision_insert AFTER INSERT ON groups
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER groups_revision_update AFTER UPDATE ON groups
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER groups_revision_delete AFTER DELETE ON groups
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER user_groups_revision_insert AFTER INSERT ON user_groups
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER user_groups_revision_update AFTER UPDATE ON user_groups
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER user_groups_revision_delete AFTER DELETE ON user_groups
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER policies_revision_insert AFTER INSERT ON policies
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER policies_revision_update AFTER UPDATE ON policies
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
CREATE TRIGGER policies_revision_delete AFTER DELETE ON policies
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'policies';
END;
