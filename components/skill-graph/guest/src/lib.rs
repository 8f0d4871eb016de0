//! The skill-graph component: a thin wit-bindgen shim over `agency-skill-graph`.
#![allow(unsafe_code)] // generated export glue

use agency_skill_graph::{GraphErrors, SkillGraph, search};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "skill-graph-component",
    });
}

use bindings::exports::agency::core::skill_graph::{self as wit};

struct Component;

impl wit::Guest for Component {
    fn validate(graph_json: String) -> Result<wit::GraphSummary, Vec<wit::GraphError>> {
        let s = SkillGraph::from_json(&graph_json)
            .map_err(errors)?
            .summary();
        Ok(wit::GraphSummary {
            version: s.version,
            agents: s.agents,
            channels: s.channels,
            skills: s.skills,
            keywords: s.keywords,
        })
    }

    fn search(
        graph_json: String,
        query: String,
        limit: u32,
    ) -> Result<Vec<wit::SearchHit>, Vec<wit::GraphError>> {
        let graph = SkillGraph::from_json(&graph_json).map_err(errors)?;
        Ok(search::search(&graph, &query, limit as usize)
            .into_iter()
            .map(|h| wit::SearchHit {
                kind: h.kind.to_owned(),
                id: h.id,
                score: h.score,
                snippet: h.snippet,
            })
            .collect())
    }
}

fn errors(e: GraphErrors) -> Vec<wit::GraphError> {
    e.0.into_iter()
        .map(|e| wit::GraphError {
            file: e.file,
            line: e.line,
            message: e.message,
        })
        .collect()
}

bindings::export!(Component with_types_in bindings);
