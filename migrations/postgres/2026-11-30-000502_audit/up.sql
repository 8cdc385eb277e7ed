-- The audit trail (PostgreSQL): one row per MCP request and per auth event, written in batches by the
-- AuditActor, the only writer. Mirrors ../../sqlite/2026-11-30-000502_audit/up.sql.
--
-- `id` is assigned by the actor (1, 2, 3, … with no gaps) and covered by `hash`, so a deleted
-- row shows as a gap and a renumbered one as an altered row. `hash` = SHA-256 over `prev_hash`
-- and a canonical encoding of every other column (actors::audit::chain). Pruning keeps the chain
-- verifiable: the last pruned row's id and hash are kept in settings('audit_anchor').
--
-- `details` is a JSON object with what is shown but never filtered on: client_id, session_id,
-- user_agent, request_bytes, response_bytes, the captured (redacted) payloads and free-form notes.
-- (diesel's default build maps tables of at most 16 columns.)
CREATE TABLE audit_records (
    id               BIGINT PRIMARY KEY NOT NULL,
    at_ms            BIGINT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('mcp', 'auth')),
    event            TEXT,
    user_id          BIGINT,
    username         TEXT,
    method           TEXT,
    backend          TEXT,
    item             TEXT,
    outcome          TEXT NOT NULL,
    error_code       BIGINT,
    latency_us       BIGINT,
    ip               TEXT,
    details          TEXT,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);
CREATE INDEX audit_records_by_time ON audit_records (at_ms);
