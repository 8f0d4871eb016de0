-- Who holds each conversation (the agent, and the instance of its pool), as of its
-- last message: conversation affinity and instance stickiness read it.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    instance TEXT,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX conversations_by_age ON conversations(updated_ms);
