//! The API document, generated: every service's route table through the kit's builder
//! ([`agency_kit::openapi`]). The runtimes serve the committed copy
//! (`services/kit/openapi.json`); the test below fails when it is not what this crate
//! generates, and `AGENCY_BLESS=1 cargo test -p agency-openapi` writes it anew.

use agency_kit::openapi::Doc;
use serde_json::{Value, json};

/// The whole document.
pub fn document() -> Value {
    let mut doc = Doc::new();
    doc.routes(agency_router_service::ROUTES);
    doc.routes(agency_skill_graph_service::ROUTES);
    doc.routes(agency_assistant_service::ROUTES);
    doc.routes(agency_webhooks_service::ROUTES);
    doc.routes(agency_monitoring_service::ROUTES);
    agency_webhooks_service::outgoing(&mut doc);
    doc.finish(json!({
        "title": "Agency API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Routes chat messages to the agents of an AI agency and guards their work. The same contract is served by the local server (`agency serve`, all APIs on one port) and by the Cloudflare Workers (one API each). Errors always have the body `{\"error\": {\"code\", \"message\"}}`."
    }))
}

/// The document as committed: pretty JSON, keys sorted (the same text whichever of
/// serde_json's map orders a build resolves), with a final newline.
pub fn text() -> String {
    let mut s = serde_json::to_string_pretty(&sorted(document())).expect("a JSON value serializes");
    s.push('\n');
    s
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../kit/openapi.json");
        let generated = super::text();
        if std::env::var_os("AGENCY_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == generated,
            "services/kit/openapi.json is not the generated document: run `AGENCY_BLESS=1 cargo test -p agency-openapi` and commit it"
        );
    }
}
