-- Security events: unauthorized calls, bad tokens, refusals, rate limiting, refresh-token reuse,
-- brute force, rejected Origins, failed reloads, changed tool definitions. Written in batches by
-- the security events writer (actors::security), the only writer; read by the admin API.
-- `id` is assigned by the writer (max + 1 on start). `details` is a JSON object.
CREATE TABLE security_events (
    id          BIGINT PRIMARY KEY NOT NULL,
    at_ms       BIGINT NOT NULL,
    event_type  TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    user_id     BIGINT,
    username    TEXT,
    ip          TEXT,
    endpoint    TEXT,
    details     TEXT
);
CREATE INDEX security_events_by_time ON security_events (at_ms);
CREATE INDEX security_events_by_type ON security_events (event_type, at_ms);

-- The last known hash of each backend tool's definition (name, description, inputSchema,
-- outputSchema, annotations), so a changed definition is noticed across restarts too.
CREATE TABLE tool_definition_hashes (
    backend        TEXT NOT NULL,
    tool           TEXT NOT NULL,
    hash           TEXT NOT NULL,
    updated_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (backend, tool)
);
