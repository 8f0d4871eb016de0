-- Escalation (agency_approval::Escalation): when a pending ask goes to a second group
-- of approvers and which group (from its rule's `escalate`), and when it did.
ALTER TABLE approvals ADD COLUMN escalate_ms INTEGER;
ALTER TABLE approvals ADD COLUMN escalate_to TEXT;
ALTER TABLE approvals ADD COLUMN escalated_ms INTEGER;
CREATE INDEX approvals_escalation_due ON approvals (escalate_ms)
    WHERE escalate_ms IS NOT NULL AND escalated_ms IS NULL;
