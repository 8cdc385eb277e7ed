DROP TRIGGER IF EXISTS tool_approvals_revision_delete;
DROP TRIGGER IF EXISTS tool_approvals_revision_update;
DROP TRIGGER IF EXISTS tool_approvals_revision_insert;
DELETE FROM revisions WHERE name = 'tool_approvals';
