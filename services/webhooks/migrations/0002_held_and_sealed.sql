-- Events held while a halt covers them (status 'held'), with the halt that holds them
-- ('all', 'agent:<id>', 'channel:<id>', 'task:<id>'); resume releases them in order.
-- An operator may drop one (status 'dropped').
ALTER TABLE webhook_events ADD COLUMN held_by TEXT;
CREATE INDEX webhook_events_held ON webhook_events (status, held_by, received_ms);

-- Capabilities taken out of inbound events (a Slack response_url, a Discord interaction
-- token): the event keeps the reference, only the consumer reads the value.
CREATE TABLE webhook_capabilities (
    ref TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX webhook_capabilities_expiry ON webhook_capabilities (expires_ms);

-- Where a follower of another service's trail got to (the assistant's audit, for the
-- gateway's halt events).
CREATE TABLE webhook_cursors (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
