-- Inbound webhook events: the durable queue (locally; at the edge the Queue carries
-- them and this table records their statuses), with every dispatch attempt.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    source TEXT NOT NULL,
    platform_event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    event_json TEXT NOT NULL,
    -- queued | processing | done | failed | dead | ignored
    status TEXT NOT NULL,
    -- attempts in the current round (a replay starts a new round)
    tries INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL,
    lease_until_ms INTEGER,
    received_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    decision_json TEXT,
    result_json TEXT,
    error TEXT
);
CREATE INDEX webhook_events_due ON webhook_events (status, next_at_ms);
CREATE INDEX webhook_events_by_time ON webhook_events (received_ms, id);
CREATE INDEX webhook_events_by_source ON webhook_events (source, received_ms);

CREATE TABLE webhook_attempts (
    event_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    ms INTEGER NOT NULL,
    status INTEGER,
    error TEXT,
    PRIMARY KEY (event_id, n)
);

-- The gate: dedup keys and each source's token bucket (at the edge, the same tables
-- live in each source's Durable Object).
CREATE TABLE IF NOT EXISTS webhook_dedup (
    key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_dedup_expiry ON webhook_dedup (expires_ms);
CREATE TABLE IF NOT EXISTS webhook_buckets (
    source TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at_ms INTEGER NOT NULL
);

-- The outbox: calls to the chat platforms' APIs (cards, card edits, replies, answers
-- to clicks), delivered with retries that honour the platforms' Retry-After.
CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    event_id TEXT,
    platform TEXT NOT NULL,
    source TEXT NOT NULL,
    call_json TEXT NOT NULL,
    -- queued | processing | done | dead
    status TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL,
    lease_until_ms INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    last_status INTEGER,
    error TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_at_ms);

-- Approval cards posted in chat, so the card can show the outcome once decided.
CREATE TABLE webhook_cards (
    approval_id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    source TEXT NOT NULL,
    -- the approval's replyTo (an outbound::Address)
    address_json TEXT NOT NULL,
    -- the posted message (Slack ts, Telegram message_id, Discord message id), once known
    message_ref TEXT,
    -- 0 until the card shows the outcome
    decided INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX webhook_cards_open ON webhook_cards (decided, created_ms);
