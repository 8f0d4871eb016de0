-- Idempotency-Key on POST /api/replies: a key seen within 24 hours answers the reply
-- it queued first (the same request) and posts nothing again.
CREATE TABLE reply_keys (
    key TEXT PRIMARY KEY,
    reply_id TEXT NOT NULL,
    call_json TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX reply_keys_by_age ON reply_keys(created_ms);
