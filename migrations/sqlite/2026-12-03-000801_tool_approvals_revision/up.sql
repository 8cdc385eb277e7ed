-- Tool approvals follow other instances (SQLite). Mirrors
-- ../../postgres/2026-12-03-000801_tool_approvals_revision/up.sql.
--
-- Every change to tool_approvals (a pin, a pending change, an approval) bumps
-- revisions('tool_approvals'), so another instance on the same database reloads its approved
-- definitions without a restart.
INSERT INTO revisions (name, value) VALUES ('tool_approvals', 0);

CREATE TRIGGER tool_approvals_revision_insert AFTER INSERT ON tool_approvals
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'tool_approvals';
END;
CREATE TRIGGER tool_approvals_revision_update AFTER UPDATE ON tool_approvals
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'tool_approvals';
END;
CREATE TRIGGER tool_approvals_revision_delete AFTER DELETE ON tool_approvals
BEGIN
    UPDATE revisions SET value = value + 1 WHERE name = 'tool_approvals';
END;
