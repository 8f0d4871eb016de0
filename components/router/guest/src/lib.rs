//! The router component: a thin wit-bindgen shim over `agency-router`. It only converts
//! between WIT and core types; every decision is made in the core crate.
#![allow(unsafe_code)] // generated export glue

use agency_router::RouterIndex;
use agency_skill_graph::{Complexity, SkillGraph};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "router-component",
    });
}

use bindings::exports::agency::core::router::{self as wit, GuestKeywordIndex, KeywordIndex};

struct Component;

struct Index {
    inner: RouterIndex,
}

impl wit::Guest for Component {
    type KeywordIndex = Index;
}

impl GuestKeywordIndex for Index {
    fn build(graph_json: String) -> Result<KeywordIndex, String> {
        let graph = SkillGraph::from_json(&graph_json).map_err(|e| e.to_string())?;
        let inner = RouterIndex::build(&graph).map_err(|e| e.to_string())?;
        Ok(KeywordIndex::new(Index { inner }))
    }

    fn names(&self) -> wit::Names {
        let n = self.inner.names();
        let strings = |v: &[std::sync::Arc<str>]| v.iter().map(|s| s.to_string()).collect();
        wit::Names {
            agents: strings(&n.agents),
            keywords: strings(&n.keywords),
            files: strings(&n.files),
            channels: strings(&n.channels),
            graph_version: n.graph_version.to_string(),
        }
    }

    fn route(
        &self,
        message: String,
        channel: Option<u32>,
        complexity: Option<wit::Complexity>,
        down_agents: Vec<u32>,
    ) -> Vec<u32> {
        // Room for a decision with a few keywords and alternatives.
        let mut out = Vec::with_capacity(32);
        self.inner.route_packed(
            &message,
            channel,
            complexity.map(from_wit),
            &down_agents,
            &mut out,
        );
        out
    }

    fn route_batch(&self, r: wit::PackedRequests) -> Result<Vec<u32>, String> {
        let n = r.ends.len();
        if r.channels.len() != n || r.complexities.len() != n {
            return Err(format!(
                "{n} messages but {} channels and {} complexities",
                r.channels.len(),
                r.complexities.len()
            ));
        }
        // About 16 words per decision.
        let mut out = Vec::with_capacity(n * 16);
        let mut start = 0usize;
        for (i, &end) in r.ends.iter().enumerate() {
            let Some(message) = r.text.get(start..end as usize) else {
                return Err(format!("message {i}: bad end offset {end}"));
            };
            self.inner.route_packed(
                message,
                r.channels[i],
                r.complexities[i].map(from_wit),
                &r.down_agents,
                &mut out,
            );
            start = end as usize;
        }
        Ok(out)
    }
}

fn from_wit(c: wit::Complexity) -> Complexity {
    match c {
        wit::Complexity::Simple => Complexity::Simple,
        wit::Complexity::Moderate => Complexity::Moderate,
        wit::Complexity::Complex => Complexity::Complex,
    }
}

bindings::export!(Component with_types_in bindings);
