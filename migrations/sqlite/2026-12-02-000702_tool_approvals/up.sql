-- Each backend tool's approved definition, pinned when the tool is first seen, and a changed
-- definition awaiting an administrator's approval (pending_*; NULL when none). Definitions are
-- the tool objects as the backend sent them (JSON text), shown side by side on the console.
CREATE TABLE tool_approvals (
    backend              TEXT NOT NULL,
    tool                 TEXT NOT NULL,
    approved_hash        TEXT NOT NULL,
    approved_definition  TEXT NOT NULL,
    -- NULL: pinned when first seen; else the administrator who approved it.
    approved_by          TEXT,
    approved_at_ms       BIGINT NOT NULL,
    pending_hash         TEXT,
    pending_definition   TEXT,
    changed_at_ms        BIGINT,
    PRIMARY KEY (backend, tool)
);
