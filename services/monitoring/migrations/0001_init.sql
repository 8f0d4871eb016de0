-- Health probes: every result (for the SLA), each target's current status, and every
-- change of status (the incidents).
CREATE TABLE monitor_probes (
    target TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    up INTEGER NOT NULL,
    ms REAL NOT NULL
);
CREATE INDEX monitor_probes_by_target ON monitor_probes (target, at_ms);
CREATE INDEX monitor_probes_by_time ON monitor_probes (at_ms);

CREATE TABLE monitor_status (
    target TEXT PRIMARY KEY,
    -- up | down
    status TEXT NOT NULL,
    -- failures in a row
    failures INTEGER NOT NULL,
    since_ms INTEGER NOT NULL
);

CREATE TABLE monitor_incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    previous TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX monitor_incidents_by_time ON monitor_incidents (at_ms);

-- Spent per day (US dollars), for the cost trend.
CREATE TABLE monitor_costs (
    day TEXT PRIMARY KEY,
    usd REAL NOT NULL
);
