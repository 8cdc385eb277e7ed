DROP TABLE tool_approvals;
