CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    message TEXT NOT NULL,
    channel TEXT,
    agent TEXT,
    reason TEXT NOT NULL,
    graph_version TEXT NOT NULL,
    decision_json TEXT NOT NULL
);
CREATE INDEX decisions_by_time ON decisions(created_ms);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL REFERENCES decisions(id),
    correct_agent TEXT,
    created_ms INTEGER NOT NULL
);
