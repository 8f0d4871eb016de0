CREATE TABLE graph_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    graph_json TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE agent_health (
    agent TEXT PRIMARY KEY,
    healthy INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
