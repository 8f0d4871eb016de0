-- Retention finds the oldest feedback by time (agency_kit::retention); a decision's
-- feedback is found by feedback_by_decision.
CREATE INDEX feedback_by_time ON feedback (created_ms, id);
