-- What a replay needs: the complexity the caller gave (null: estimated), and the
-- feedback of a decision found without a scan.
ALTER TABLE decisions ADD COLUMN complexity TEXT;
CREATE INDEX feedback_by_decision ON feedback(decision_id, id);
