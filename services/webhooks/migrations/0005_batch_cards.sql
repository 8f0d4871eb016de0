-- Batch cards: one card for several asks of one conversation, with "Approve all" and
-- "Deny all". The id is made from the conversation and the approvals it lists, so a
-- sweep posts each set once; `decided` once the card shows an outcome.
CREATE TABLE webhook_batches (
    id TEXT PRIMARY KEY,
    -- JSON array of approval ids
    approval_ids TEXT NOT NULL,
    platform TEXT NOT NULL,
    source TEXT NOT NULL,
    address_json TEXT NOT NULL,
    chat TEXT NOT NULL,
    -- platform|source|chat|thread: a newer batch card there supersedes this one
    conversation TEXT NOT NULL,
    message_ref TEXT,
    decided INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX webhook_batches_open ON webhook_batches (decided, created_ms);
CREATE INDEX webhook_batches_by_conversation ON webhook_batches (conversation, decided);
