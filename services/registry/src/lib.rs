//! Every service of an agency, in one list: the one place a service is registered.
//! The local server (its route tables, migrations and `/health`), the API document and
//! the deployer loop over [`SERVICES`]; each Worker serves its own service's
//! declaration. The test below fails when a part is registered here and not in its
//! Worker's configuration, or the other way round.

use agency_kit::migrate::Migration;
use agency_kit::{Part, Service};

/// Every service, in [`Part::ALL`]'s order (the order migrations apply locally).
pub static SERVICES: [&Service; 5] = [
    &agency_skill_graph_service::SERVICE,
    &agency_router_service::SERVICE,
    &agency_assistant_service::SERVICE,
    &agency_webhooks_service::SERVICE,
    &agency_monitoring_service::SERVICE,
];

/// The service of `part`.
pub fn service(part: Part) -> &'static Service {
    SERVICES
        .iter()
        .find(|s| s.part == part)
        .copied()
        .unwrap_or_else(|| unreachable!("every part is registered (tested)"))
}

/// Every service's migrations, service by service.
pub fn migrations() -> Vec<Migration> {
    SERVICES
        .iter()
        .flat_map(|s| s.migrations.iter().cloned())
        .collect()
}

/// Every (method, path) the services answer (the local server serves them all on one
/// port; `/health` and `/openapi.json` are the kit's own).
pub fn routes() -> Vec<(http::Method, &'static str)> {
    SERVICES.iter().flat_map(|s| (s.routes)()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn every_part_is_registered_once_in_order() {
        let parts: Vec<Part> = SERVICES.iter().map(|s| s.part).collect();
        assert_eq!(parts, Part::ALL);
        for s in SERVICES {
            assert!(
                s.migrations.iter().all(|m| m.service == s.part.name()),
                "{}'s migrations carry its name",
                s.part
            );
            assert!(!s.edge.calls.contains(&s.part), "{} calls itself", s.part);
        }
    }

    #[test]
    fn no_two_services_answer_one_route() {
        let mut seen = HashSet::new();
        for (m, p) in routes() {
            assert!(seen.insert((m.clone(), p)), "{m} {p} is answered twice");
        }
    }

    fn set<'a>(v: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        v.into_iter().map(str::to_owned).collect()
    }

    fn strings(t: &toml::Table, key: &str, field: &str) -> BTreeSet<String> {
        t.get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| e.get(field).and_then(|f| f.as_str()))
            .map(str::to_owned)
            .collect()
    }

    /// Each Worker's `wrangler.toml` declares exactly what its service's declaration
    /// says it needs: a part registered in one place and not the other fails here.
    #[test]
    fn each_workers_configuration_is_its_declaration() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        for s in SERVICES {
            let part = s.part;
            let path = root.join("workers").join(part.name()).join("wrangler.toml");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let t: toml::Table = toml::from_str(&text).unwrap();
            let e = &s.edge;
            assert_eq!(t["name"].as_str(), Some(part.worker().as_str()), "{part}");
            let d1 = t
                .get("d1_databases")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            assert_eq!(d1.len(), usize::from(e.database), "{part}: its D1 database");
            if let Some(db) = d1.first() {
                assert_eq!(db["binding"].as_str(), Some("DB"), "{part}");
                assert_eq!(
                    db["migrations_dir"].as_str(),
                    Some(format!("../../services/{part}/migrations").as_str()),
                    "{part}"
                );
            }
            assert_eq!(
                strings(&t, "kv_namespaces", "binding"),
                set(e.kv.iter().copied()),
                "{part}: KV"
            );
            let objects = t.get("durable_objects").and_then(|d| d.as_table());
            let bound = objects
                .map(|o| strings(o, "bindings", "name"))
                .unwrap_or_default();
            let classes = objects
                .map(|o| strings(o, "bindings", "class_name"))
                .unwrap_or_default();
            assert_eq!(
                bound,
                set(e.objects.iter().map(|o| o.binding)),
                "{part}: objects"
            );
            assert_eq!(
                classes,
                set(e.objects.iter().map(|o| o.class)),
                "{part}: classes"
            );
            let queues = t.get("queues").and_then(|q| q.as_table());
            let producers = queues
                .map(|q| strings(q, "producers", "binding"))
                .unwrap_or_default();
            let consumed = queues
                .map(|q| strings(q, "consumers", "queue"))
                .unwrap_or_default();
            assert_eq!(
                producers,
                set(e.queues.iter().map(|q| q.binding)),
                "{part}: queues"
            );
            let mut want_consumed = set(e.queues.iter().map(|q| q.name));
            want_consumed.extend(
                e.queues
                    .iter()
                    .filter_map(|q| q.dead_letter)
                    .map(str::to_owned),
            );
            assert_eq!(consumed, want_consumed, "{part}: consumers");
            let crons: BTreeSet<String> = t
                .get("triggers")
                .and_then(|tr| tr.get("crons"))
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            assert_eq!(crons, set(e.crons.iter().copied()), "{part}: crons");
            let services: BTreeSet<(String, String)> = t
                .get("services")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .map(|b| {
                    (
                        b["binding"].as_str().unwrap_or("").to_owned(),
                        b["service"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            let want: BTreeSet<(String, String)> = s
                .bindings()
                .into_iter()
                .map(|p| (p.binding().to_owned(), p.worker()))
                .collect();
            assert_eq!(services, want, "{part}: service bindings");
        }
    }
}
