-- Samples shipped by other processes (each Worker's requests and decisions), merged
-- into the totals by minute. A shipment is a row until a fold merges it into
-- monitor_total (everything ever counted) and monitor_minutes (each minute's own
-- counts, kept a day); the total names the last row folded, so a reader adds only the
-- rows after it. AUTOINCREMENT: a row id is never reused, so a deleted row's id can't
-- come back below the total's mark.
CREATE TABLE monitor_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    minute INTEGER NOT NULL,
    data TEXT NOT NULL
);

CREATE TABLE monitor_minutes (
    minute INTEGER PRIMARY KEY,
    data TEXT NOT NULL
);

CREATE TABLE monitor_total (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    -- the last monitor_samples row merged in
    through_id INTEGER NOT NULL,
    -- the fold that wrote it (its statements run only if it won)
    fold TEXT NOT NULL,
    data TEXT NOT NULL
);
