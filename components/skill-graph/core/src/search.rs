//! Ranked search over a graph's skills, agents and channels, for operators looking for
//! "which skill handles rollbacks?".

use serde::Serialize;

use crate::{SkillGraph, text};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SearchHit {
    /// "skill", "agent" or "channel".
    #[cfg_attr(feature = "schema", schemars(with = "HitKind"))]
    pub kind: &'static str,
    pub id: String,
    pub score: f64,
    pub snippet: String,
}

/// What a hit is (its schema: `kind` is a static string).
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum HitKind {
    Skill,
    Agent,
    Channel,
}

/// Scores every entry by the query words it contains, weighting ids and keywords above
/// descriptions; returns at most `limit` hits, best first (ties by kind, then id).
pub fn search(graph: &SkillGraph, query: &str, limit: usize) -> Vec<SearchHit> {
    let terms = text::words(query);
    if terms.is_empty() || limit == 0 {
        return Vec::new();
    }
    let mut hits = Vec::new();
    for s in &graph.skills {
        let keywords: Vec<&str> = s.keywords.iter().map(|k| k.phrase.as_str()).collect();
        let fields = [
            (s.id.as_str(), 3.0),
            (&keywords.join(" "), 2.0),
            (s.agent.as_deref().unwrap_or(""), 1.0),
            (s.description.as_str(), 1.0),
        ];
        push(
            &mut hits,
            "skill",
            &s.id,
            &terms,
            &fields,
            if s.description.is_empty() {
                keywords.join(", ")
            } else {
                s.description.clone()
            },
        );
    }
    for a in &graph.agents {
        let fields = [
            (a.id.as_str(), 3.0),
            (a.name.as_str(), 2.0),
            (a.description.as_str(), 1.0),
        ];
        push(&mut hits, "agent", &a.id, &terms, &fields, a.name.clone());
    }
    for c in &graph.channels {
        let fields = [(c.id.as_str(), 3.0), (c.context.as_str(), 1.0)];
        push(
            &mut hits,
            "channel",
            &c.id,
            &terms,
            &fields,
            c.context.clone(),
        );
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.kind.cmp(b.kind))
            .then(a.id.cmp(&b.id))
    });
    hits.truncate(limit);
    hits
}

fn push(
    hits: &mut Vec<SearchHit>,
    kind: &'static str,
    id: &str,
    terms: &[String],
    fields: &[(&str, f64)],
    snippet: String,
) {
    let mut score = 0.0;
    for (field, weight) in fields {
        let words = text::words(field);
        for t in terms {
            if words.iter().any(|w| w == t) {
                score += weight;
            } else if words.iter().any(|w| w.starts_with(t.as_str())) {
                score += weight / 2.0;
            }
        }
    }
    if score > 0.0 {
        let snippet: String = snippet.chars().take(160).collect();
        hits.push(SearchHit {
            kind,
            id: id.to_owned(),
            score,
            snippet,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Agent, Keyword, Skill};

    #[test]
    fn ranks_id_and_keyword_hits_first() {
        let skill = |id: &str, kw: &str, desc: &str| Skill {
            id: id.into(),
            agent: Some("dev".into()),
            keywords: vec![Keyword::new(kw, 1.0)],
            channels: vec![],
            complexity: None,
            links: vec![],
            description: desc.into(),
            file: None,
            learned: false,
        };
        let g = SkillGraph {
            version: None,
            calibration: None,
            threshold: 0.3,
            none_score: 0.0,
            none_per_word: 0.0,
            pooling: crate::Pooling::Sum,
            affinity: None,
            agents: vec![Agent {
                id: "dev".into(),
                name: "Developer".into(),
                fallback: None,
                description: String::new(),
                instances: vec![],
            }],
            channels: vec![],
            skills: vec![
                skill("rollback", "revert", "Undo a deploy"),
                skill("deploy", "ship", "Ship a rollback-safe build"),
            ],
        };
        let hits = search(&g, "rollback", 10);
        assert_eq!(hits[0].id, "rollback");
        assert_eq!(hits.len(), 2);
        assert!(search(&g, "   ", 10).is_empty());
        assert_eq!(search(&g, "developer", 1)[0].kind, "agent");
    }
}
