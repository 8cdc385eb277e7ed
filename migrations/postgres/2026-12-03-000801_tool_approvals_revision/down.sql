DROP TRIGGER IF EXISTS tool_approvals_revision ON tool_approvals;
DELETE FROM revisions WHERE name = 'tool_approvals';
