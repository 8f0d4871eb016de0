-- Retention finds the oldest audit entries and chat messages by time (agency_kit::retention).
CREATE INDEX audit_by_time ON audit (created_ms, seq);
CREATE INDEX chat_by_time ON chat_messages (created_ms, seq);
