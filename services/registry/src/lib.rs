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

/// Every service's kinds of records with a retention period.
pub fn retained() -> Vec<agency_kit::retention::Retained> {
    SERVICES
        .iter()
        .flat_map(|s| s.retained.iter().copied())
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

    /// The text of every Rust file under `dir`.
    fn sources(dir: &std::path::Path) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.push_str(&sources(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        out
    }

    fn found(text: &str, pattern: &str) -> BTreeSet<String> {
        regex::Regex::new(pattern)
            .unwrap()
            .captures_iter(text)
            .map(|c| c[1].to_owned())
            .collect()
    }

    /// Each Worker's code binds exactly what its service's declaration says it needs
    /// (the deployer generates each Worker's configuration from the declaration): a
    /// binding used in one place and not declared in the other fails here. No Worker
    /// keeps a hand-written Wrangler configuration.
    #[test]
    fn each_workers_code_binds_what_its_declaration_says() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        for s in SERVICES {
            let part = s.part;
            let dir = root.join("workers").join(part.name());
            assert!(
                !dir.join("wrangler.toml").exists(),
                "{part}: its configuration is generated (agency deploy build), not kept by hand"
            );
            let code = sources(&dir.join("src"));
            let e = &s.edge;
            assert_eq!(
                found(&code, r#"\.kv\("([A-Z_]+)"\)"#),
                set(e.kv.iter().copied()),
                "{part}: KV namespaces"
            );
            assert_eq!(
                found(&code, r#"object::call\(\s*self\.env,\s*"([A-Z_]+)""#),
                set(e.objects.iter().map(|o| o.binding)),
                "{part}: Durable Objects"
            );
            for o in e.objects {
                assert!(
                    code.contains(&format!("pub struct {} ", o.class))
                        || code.contains(&format!("pub struct {} {{", o.class)),
                    "{part}: its Durable Object class {}",
                    o.class
                );
            }
            assert_eq!(
                found(&code, r#"\.queue\("([A-Z_]+)"\)"#),
                set(e.queues.iter().map(|q| q.binding)),
                "{part}: queues"
            );
            assert_eq!(
                code.contains("#[event(queue)]"),
                !e.queues.is_empty(),
                "{part}: a queue consumer"
            );
            assert_eq!(
                code.contains("#[event(scheduled)]"),
                !e.crons.is_empty(),
                "{part}: a cron handler"
            );
            let read = found(&code, r#"\.(?:var|secret)\("([A-Z_]+)"\)"#);
            let declared = set(e.vars.iter().chain(e.secrets.iter()).copied());
            assert!(
                read.is_subset(&declared),
                "{part} reads {:?} without declaring them",
                read.difference(&declared).collect::<Vec<_>>()
            );
            let called = found(&code, r#"Part::([A-Za-z]+)"#);
            for name in &called {
                let p = Part::ALL
                    .into_iter()
                    .find(|p| format!("{p:?}") == *name)
                    .unwrap_or_else(|| panic!("{part}: no part {name}"));
                assert!(
                    p == part || s.bindings().contains(&p),
                    "{part} calls {p} without declaring it"
                );
            }
        }
    }
}
