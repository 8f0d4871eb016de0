CREATE TABLE instance_health (
    agent TEXT NOT NULL,
    instance TEXT NOT NULL,
    healthy INTEGER NOT NULL,
    load REAL NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (agent, instance)
);
