//! Migrations by name. Each service keeps `migrations/NNNN_name.sql`; D1 applies the
//! folder itself (`migrations_dir`) and records names in `d1_migrations`, and the local
//! store applies the same files and records names in [`APPLIED_TABLE`]. A migration is
//! never edited once released: a change is a new file.

/// One migration file of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub service: &'static str,
    /// The file name without `.sql`, e.g. `0001_init`: the order is the name's order.
    pub name: &'static str,
    pub sql: &'static str,
}

/// The local store's record of applied migrations (D1 keeps its own).
pub const APPLIED_TABLE: &str = "CREATE TABLE IF NOT EXISTS agency_migrations (
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    applied_ms INTEGER NOT NULL,
    PRIMARY KEY (service, name)
)";

/// The migrations of `all` not in `applied` (pairs of service and name), in order:
/// by service as listed, then by name.
pub fn pending<'a>(all: &'a [Migration], applied: &[(String, String)]) -> Vec<&'a Migration> {
    let mut out: Vec<&Migration> = all
        .iter()
        .filter(|m| !applied.iter().any(|(s, n)| s == m.service && n == m.name))
        .collect();
    let service_rank = |s: &str| {
        all.iter()
            .position(|m| m.service == s)
            .unwrap_or(usize::MAX)
    };
    out.sort_by(|a, b| (service_rank(a.service), a.name).cmp(&(service_rank(b.service), b.name)));
    out
}

/// A migration list for `service` from `(name, sql)` pairs.
#[macro_export]
macro_rules! migrations {
    ($service:literal: $($name:literal),* $(,)?) => {
        &[$($crate::migrate::Migration {
            service: $service,
            name: $name,
            sql: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/", $name, ".sql")),
        }),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_goes_by_name_not_position() {
        let all = [
            Migration {
                service: "graph",
                name: "0001_init",
                sql: "",
            },
            Migration {
                service: "graph",
                name: "0002_more",
                sql: "",
            },
            Migration {
                service: "router",
                name: "0001_init",
                sql: "",
            },
        ];
        let applied = vec![("graph".to_owned(), "0002_more".to_owned())];
        let names: Vec<_> = pending(&all, &applied)
            .iter()
            .map(|m| (m.service, m.name))
            .collect();
        assert_eq!(names, vec![("graph", "0001_init"), ("router", "0001_init")]);
    }
}
