//! The router component: a thin wit-bindgen shim over `agency-router`. It only converts
//! between WIT and core types; every decision is made in the core crate.
#![allow(unsafe_code)] // generated export glue

use agency_router::{Reason, RouteIds, RouteRequest, RouterIndex};
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
            graph_version: n.graph_version.to_string(),
        }
    }

    fn route(&self, request: wit::RouteRequest) -> wit::RouteIds {
        to_wit(self.inner.route_ids(&from_wit(request)))
    }

    fn route_batch(&self, requests: Vec<wit::RouteRequest>) -> Vec<wit::RouteIds> {
        requests
            .into_iter()
            .map(|r| to_wit(self.inner.route_ids(&from_wit(r))))
            .collect()
    }
}

fn from_wit(r: wit::RouteRequest) -> RouteRequest {
    RouteRequest {
        message: r.message,
        channel: r.channel,
        complexity: r.complexity.map(|c| match c {
            wit::Complexity::Simple => Complexity::Simple,
            wit::Complexity::Moderate => Complexity::Moderate,
            wit::Complexity::Complex => Complexity::Complex,
        }),
        down_agents: r.down_agents,
    }
}

fn to_wit(d: RouteIds) -> wit::RouteIds {
    wit::RouteIds {
        agent: d.agent,
        confidence: d.confidence,
        reason: match d.reason {
            Reason::Match => wit::Reason::Matched,
            Reason::Fallback => wit::Reason::Fallback,
            Reason::Default => wit::Reason::ChannelDefault,
            Reason::NoMatch => wit::Reason::NoMatch,
        },
        skill_files: d.skill_files,
        matched_keywords: d.matched_keywords,
        fallback_from: d.fallback_from,
        alternatives: d
            .alternatives
            .into_iter()
            .map(|(agent, confidence)| wit::Alternative { agent, confidence })
            .collect(),
    }
}

bindings::export!(Component with_types_in bindings);
