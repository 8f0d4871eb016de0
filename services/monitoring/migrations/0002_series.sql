-- What the dashboard charts: a few figures noted once a minute (the last note of the
-- minute wins). Counters are cumulative; the series endpoint turns them into rates.
CREATE TABLE monitor_series (
    name TEXT NOT NULL,
    minute INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (name, minute)
);
