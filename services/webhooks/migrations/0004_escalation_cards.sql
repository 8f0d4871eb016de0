-- An approval may have two cards: one where it was asked (its replyTo, audience '')
-- and one in the channel of the approver group it escalated to (audience: the group).
-- `chat` is the card's channel or chat (ReplyTo::chat), so a posted message and a click
-- are noted on the right card.
CREATE TABLE webhook_cards_v2 (
    approval_id TEXT NOT NULL,
    audience TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL,
    source TEXT NOT NULL,
    address_json TEXT NOT NULL,
    chat TEXT NOT NULL,
    message_ref TEXT,
    decided INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (approval_id, audience)
);
INSERT INTO webhook_cards_v2
    (approval_id, audience, platform, source, address_json, chat, message_ref, decided, created_ms)
SELECT approval_id, '', platform, source, address_json,
    COALESCE(json_extract(address_json, '$.channel'), json_extract(address_json, '$.chatId'),
        json_extract(address_json, '$.channelId'), ''),
    message_ref, decided, created_ms
FROM webhook_cards;
DROP TABLE webhook_cards;
ALTER TABLE webhook_cards_v2 RENAME TO webhook_cards;
CREATE INDEX webhook_cards_open ON webhook_cards (decided, created_ms);
