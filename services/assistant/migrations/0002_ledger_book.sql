-- The budget ledger as the ledger book keeps it (services/assistant/src/ledger.rs),
-- the tables a budget scope's Durable Object holds at the edge: amounts per key, and
-- the reservations each task holds, so a retried or racing approval never reserves
-- twice and a release gives back exactly what its task holds.
ALTER TABLE ledger RENAME COLUMN spent_micros TO spent;
ALTER TABLE ledger RENAME COLUMN reserved_micros TO reserved;
CREATE TABLE reservations (
    task TEXT NOT NULL,
    key TEXT NOT NULL,
    micros INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    settled INTEGER,
    PRIMARY KEY (task, key)
);
CREATE INDEX reservations_by_age ON reservations (created_ms);
-- What approved, unspent approvals hold (kept until now only on the approval row).
INSERT INTO reservations (task, key, micros, created_ms)
SELECT a.task_id, json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'), a.created_ms
FROM approvals a, json_each(a.reserved_json) r
WHERE a.status = 'approved' AND a.actual_micros IS NULL
  AND json_valid(a.reserved_json) AND json_type(a.reserved_json) = 'array'
  AND r.type = 'array' AND json_type(r.value, '$[0]') = 'text' AND json_type(r.value, '$[1]') = 'integer';
