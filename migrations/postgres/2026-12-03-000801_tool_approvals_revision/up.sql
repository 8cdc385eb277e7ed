-- Tool approvals follow other instances (PostgreSQL). Mirrors
-- ../../sqlite/2026-12-03-000801_tool_approvals_revision/up.sql.
--
-- Every change to tool_approvals (a pin, a pending change, an approval) bumps
-- revisions('tool_approvals'), so another instance on the same database reloads its approved
-- definitions without a restart.
INSERT INTO revisions (name, value) VALUES ('tool_approvals', 0);

CREATE TRIGGER tool_approvals_revision AFTER INSERT OR UPDATE OR DELETE ON tool_approvals
    FOR EACH ROW EXECUTE FUNCTION bump_revision('tool_approvals');
