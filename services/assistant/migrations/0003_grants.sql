-- Grants: a human's "approve this kind of task without asking until then"
-- (agency_approval::grant). `used_micros` is the sum of the estimates the grant has
-- approved, raised before the approval is recorded (a crash in between leaves it
-- counted: a grant errs towards asking).
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    action TEXT NOT NULL,
    environment TEXT,
    channel TEXT,
    max_task_micros INTEGER,
    total_micros INTEGER,
    used_micros INTEGER NOT NULL DEFAULT 0,
    uses INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    reason TEXT,
    from_approval TEXT,
    revoked_ms INTEGER,
    revoked_by TEXT
);
CREATE INDEX grants_by_kind ON grants(agent, action, expires_ms);
-- The grant that approved an approval, if one did.
ALTER TABLE approvals ADD COLUMN grant_id TEXT;
-- How many times approvers extended a pending ask (agency_approval::extended).
ALTER TABLE approvals ADD COLUMN extensions INTEGER NOT NULL DEFAULT 0;
