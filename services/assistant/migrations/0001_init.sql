-- The approval assistant's tables (also the local server's: the host runs this file).
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL,
    action TEXT NOT NULL,
    request_json TEXT NOT NULL,
    status TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    rule TEXT,
    budget_scope TEXT,
    budget_remaining_micros INTEGER,
    estimated_micros INTEGER NOT NULL,
    actual_micros INTEGER,
    reserved_json TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    decided_by TEXT,
    decided_ms INTEGER,
    comment TEXT
);
CREATE INDEX approvals_by_status ON approvals(status, created_ms);
CREATE TABLE ledger (
    key TEXT PRIMARY KEY,
    spent_micros INTEGER NOT NULL DEFAULT 0,
    reserved_micros INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE halts (
    scope TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, target)
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    approval_id TEXT,
    actor TEXT,
    detail_json TEXT NOT NULL
);
CREATE TABLE chat_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX chat_by_session ON chat_messages(session_id, seq);
CREATE TABLE chat_sessions (
    session_id TEXT PRIMARY KEY,
    last_approval TEXT,
    updated_ms INTEGER NOT NULL
);
