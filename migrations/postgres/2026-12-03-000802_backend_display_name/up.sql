-- A database backend's display name (PostgreSQL). Mirrors ../../sqlite/2026-12-03-000802_backend_display_name/up.sql.
--
-- `name` stays the identifier (`/mcp/<name>`, the default tool prefix, policies); the admin
-- API derives it from a name such as "GitHub MCP" (→ github-mcp) and keeps what was written here,
-- for people to read. NULL: the backend has none and is shown by its name.
ALTER TABLE backends ADD COLUMN display_name TEXT;
