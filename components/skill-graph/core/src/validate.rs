//! Graph validation: everything that would make routing ambiguous or silently wrong.

use std::collections::{HashMap, HashSet};

use crate::{GraphError, SkillGraph, text};

/// Most keywords a graph may have (every skill's, together). Building the index takes
/// time that grows faster than linearly for some keyword sets (many keywords that
/// extend one another, like numbered ids), and a graph is indexed on every change.
pub const MAX_KEYWORDS: usize = 50_000;
/// Most words in one keyword: routing walks at most this many words from each word of
/// a message, so its cost stays linear in the message.
pub const MAX_KEYWORD_WORDS: usize = 8;
/// Most bytes in one keyword, in canonical form.
pub const MAX_KEYWORD_BYTES: usize = 128;
/// Largest keyword weight. Weights are relative; the bound keeps every score, and so
/// every confidence, a finite number.
pub const MAX_WEIGHT: f64 = 1000.0;

/// Where each part of a graph came from, so errors can name a file and line. Graphs
/// from JSON have no map; errors then name the offending id.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    /// skill index -> (file, line of the front matter start)
    pub skills: HashMap<usize, (String, u32)>,
    /// "agent:<id>" / "channel:<id>" -> (file, line)
    pub entries: HashMap<String, (String, u32)>,
    /// (skill index, field) -> line inside the skill's file
    pub fields: HashMap<(usize, &'static str), u32>,
}

impl SourceMap {
    fn skill(&self, index: usize, field: &'static str, msg: String) -> GraphError {
        match self.skills.get(&index) {
            Some((file, line)) => {
                let line = self.fields.get(&(index, field)).copied().unwrap_or(*line);
                GraphError::at(file.clone(), Some(line), msg)
            }
            None => GraphError::new(msg),
        }
    }

    fn entry(&self, key: &str, msg: String) -> GraphError {
        match self.entries.get(key) {
            Some((file, line)) => GraphError::at(file.clone(), Some(*line), msg),
            None => GraphError::new(msg),
        }
    }
}

/// Returns every problem in `graph`; empty means valid.
pub fn validate(graph: &SkillGraph, sources: &SourceMap) -> Vec<GraphError> {
    let mut errors = Vec::new();
    numbers(graph, &mut errors);
    let agents = agents(graph, sources, &mut errors);
    let channels = channels(graph, sources, &agents, &mut errors);
    skills(graph, sources, &agents, &channels, &mut errors);
    errors
}

/// The graph's numbers: threshold, "nobody" scores, calibration, sizes.
fn numbers(graph: &SkillGraph, errors: &mut Vec<GraphError>) {
    if !(0.0..=1.0).contains(&graph.threshold) || graph.threshold.is_nan() {
        errors.push(GraphError::new(format!(
            "threshold must be within 0..1, got {}",
            graph.threshold
        )));
    }

    if !graph.none_score.is_finite() {
        errors.push(GraphError::new("noneScore must be a finite number"));
    }
    if !(0.0..=10.0).contains(&graph.none_per_word) {
        errors.push(GraphError::new(format!(
            "nonePerWord must be within 0..10, got {}",
            graph.none_per_word
        )));
    }
    if let Some(c) = &graph.calibration {
        let shares = [
            ("targetRecall", Some(c.target_recall)),
            ("threshold", Some(c.threshold)),
            ("inScopeAccuracy", Some(c.in_scope_accuracy)),
            ("outOfScopeRecall", Some(c.out_of_scope_recall)),
            ("unseenRecall", c.unseen_recall),
            ("labelledRecall", c.labelled_recall),
        ];
        for (name, v) in shares {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                errors.push(GraphError::new(format!(
                    "calibration.{name} must be within 0..1, got {v}"
                )));
            }
        }
        if !(0.0..=10.0).contains(&c.none_per_word) {
            errors.push(GraphError::new(format!(
                "calibration.nonePerWord must be within 0..10, got {}",
                c.none_per_word
            )));
        }
        if c.folds > 1000 || c.examples > 1_000_000_000 {
            errors.push(GraphError::new(
                "calibration.folds must be at most 1000 and calibration.examples at most 1000000000",
            ));
        }
    }
    if let Some(a) = &graph.affinity {
        if !(1..=crate::MAX_AFFINITY_TTL_SECONDS).contains(&a.ttl_seconds) {
            errors.push(GraphError::new(format!(
                "affinity.ttlSeconds must be within 1..{}, got {}",
                crate::MAX_AFFINITY_TTL_SECONDS,
                a.ttl_seconds
            )));
        }
        if !(0.0..=1.0).contains(&a.switch_margin) {
            errors.push(GraphError::new(format!(
                "affinity.switchMargin must be within 0..1, got {}",
                a.switch_margin
            )));
        }
    }
    if graph.agents.is_empty() {
        errors.push(GraphError::new(
            "the graph has no agents: routing would have nobody to pick",
        ));
    }
    let keywords: usize = graph.skills.iter().map(|s| s.keywords.len()).sum();
    if keywords > MAX_KEYWORDS {
        errors.push(GraphError::new(format!(
            "the graph has {keywords} keywords; at most {MAX_KEYWORDS} are allowed"
        )));
    }
}

/// Agent ids (valid, unique) and fallbacks (known, not themselves); the ids.
fn agents<'g>(
    graph: &'g SkillGraph,
    sources: &SourceMap,
    errors: &mut Vec<GraphError>,
) -> HashSet<&'g str> {
    let mut agents = HashSet::new();
    for a in &graph.agents {
        let key = format!("agent:{}", a.id);
        if !valid_id(&a.id) {
            errors.push(sources.entry(
                &key,
                format!(
                    "agent id {:?} must be non-empty and use letters, digits, '-', '_' or '.'",
                    a.id
                ),
            ));
        }
        if !agents.insert(a.id.as_str()) {
            errors.push(sources.entry(&key, format!("duplicate agent id {:?}", a.id)));
        }
        instances(a, &key, sources, errors);
    }
    for a in &graph.agents {
        if let Some(fb) = &a.fallback {
            let key = format!("agent:{}", a.id);
            if !agents.contains(fb.as_str()) {
                errors.push(sources.entry(
                    &key,
                    format!("agent {:?} falls back to unknown agent {:?}", a.id, fb),
                ));
            } else if fb == &a.id {
                errors.push(sources.entry(&key, format!("agent {:?} falls back to itself", a.id)));
            }
        }
    }

    agents
}

/// An agent's instances: at most [`crate::MAX_INSTANCES`], ids valid and unique,
/// weights within 0.001..1000.
fn instances(a: &crate::Agent, key: &str, sources: &SourceMap, errors: &mut Vec<GraphError>) {
    if a.instances.len() > crate::MAX_INSTANCES {
        errors.push(sources.entry(
            key,
            format!(
                "agent {:?} lists {} instances; at most {} are allowed",
                a.id,
                a.instances.len(),
                crate::MAX_INSTANCES
            ),
        ));
    }
    let mut seen = HashSet::new();
    for i in &a.instances {
        if !valid_id(&i.id) {
            errors.push(sources.entry(
                key,
                format!(
                    "agent {:?}: instance id {:?} must be non-empty and use letters, digits, '-', '_' or '.'",
                    a.id, i.id
                ),
            ));
        }
        if !seen.insert(i.id.as_str()) {
            errors.push(sources.entry(
                key,
                format!("agent {:?}: duplicate instance id {:?}", a.id, i.id),
            ));
        }
        if !(0.001..=1000.0).contains(&i.weight) {
            errors.push(sources.entry(
                key,
                format!(
                    "agent {:?}: instance {:?} has weight {}; weights are within 0.001..1000",
                    a.id, i.id, i.weight
                ),
            ));
        }
    }
}

/// Channel ids (valid, unique) and default agents (known); the ids.
fn channels<'g>(
    graph: &'g SkillGraph,
    sources: &SourceMap,
    agents: &HashSet<&str>,
    errors: &mut Vec<GraphError>,
) -> HashSet<&'g str> {
    let mut channels = HashSet::new();
    for c in &graph.channels {
        let key = format!("channel:{}", c.id);
        if !valid_id(&c.id) {
            errors.push(sources.entry(
                &key,
                format!(
                    "channel id {:?} must be non-empty and use letters, digits, '-', '_' or '.'",
                    c.id
                ),
            ));
        }
        if !channels.insert(c.id.as_str()) {
            errors.push(sources.entry(&key, format!("duplicate channel id {:?}", c.id)));
        }
        if let Some(d) = &c.default_agent
            && !agents.contains(d.as_str())
        {
            errors.push(sources.entry(
                &key,
                format!("channel {:?} has unknown default agent {:?}", c.id, d),
            ));
        }
    }

    channels
}

/// Skill ids (valid, unique), their agents, keywords, channels and links.
fn skills(
    graph: &SkillGraph,
    sources: &SourceMap,
    agents: &HashSet<&str>,
    channels: &HashSet<&str>,
    errors: &mut Vec<GraphError>,
) {
    let mut skills = HashSet::new();
    for (i, s) in graph.skills.iter().enumerate() {
        if !valid_id(&s.id) {
            errors.push(sources.skill(
                i,
                "id",
                format!(
                    "skill id {:?} must be non-empty and use letters, digits, '-', '_' or '.'",
                    s.id
                ),
            ));
        }
        if !skills.insert(s.id.as_str()) {
            errors.push(sources.skill(i, "id", format!("duplicate skill id {:?}", s.id)));
        }
    }
    for (i, s) in graph.skills.iter().enumerate() {
        if let Some(a) = &s.agent
            && !agents.contains(a.as_str())
        {
            errors.push(sources.skill(
                i,
                "agent",
                format!("skill {:?} belongs to unknown agent {:?}", s.id, a),
            ));
        }
        for (n, k) in s.keywords.iter().enumerate() {
            let canonical = text::canonicalize(&k.phrase);
            // Canonical form: words joined by single spaces.
            let words = canonical.split(' ').count();
            let problem = if canonical.is_empty() {
                Some(format!(
                    "skill {:?} has an empty keyword (#{})",
                    s.id,
                    n + 1
                ))
            } else if words > MAX_KEYWORD_WORDS || canonical.len() > MAX_KEYWORD_BYTES {
                Some(format!(
                    "skill {:?} keyword #{} is too long ({words} words, {} bytes); a keyword \
                     has at most {MAX_KEYWORD_WORDS} words and {MAX_KEYWORD_BYTES} bytes",
                    s.id,
                    n + 1,
                    canonical.len()
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                errors.push(sources.skill(i, "keywords", message));
            }
            if !k.weight.is_finite() || k.weight <= 0.0 || k.weight > MAX_WEIGHT {
                errors.push(sources.skill(
                    i,
                    "keywords",
                    format!(
                        "skill {:?} keyword {:?} needs a weight above 0 and at most {MAX_WEIGHT}, got {}",
                        s.id, k.phrase, k.weight
                    ),
                ));
            }
        }
        for c in &s.channels {
            if !channels.contains(c.as_str()) {
                errors.push(sources.skill(
                    i,
                    "channels",
                    format!("skill {:?} names unknown channel {:?}", s.id, c),
                ));
            }
        }
        for l in &s.links {
            if !skills.contains(l.as_str()) {
                errors.push(sources.skill(
                    i,
                    "links",
                    format!("skill {:?} links to unknown skill {:?}", s.id, l),
                ));
            }
        }
    }
}

/// Longest id in a graph, in bytes.
pub const MAX_ID_BYTES: usize = 128;

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Agent, Channel, Keyword, Skill};

    fn graph() -> SkillGraph {
        SkillGraph {
            version: None,
            calibration: None,
            threshold: 0.3,
            none_score: 0.0,
            none_per_word: 0.0,
            pooling: crate::Pooling::Sum,
            affinity: None,
            agents: vec![
                Agent {
                    id: "pm".into(),
                    name: "PM".into(),
                    fallback: None,
                    description: String::new(),
                    instances: vec![],
                },
                Agent {
                    id: "dev".into(),
                    name: "Dev".into(),
                    fallback: Some("pm".into()),
                    description: String::new(),
                    instances: vec![],
                },
            ],
            channels: vec![Channel {
                id: "slack".into(),
                context: String::new(),
                default_agent: Some("pm".into()),
            }],
            skills: vec![Skill {
                id: "plan".into(),
                agent: Some("pm".into()),
                keywords: vec![Keyword::new("roadmap", 1.0)],
                channels: vec!["slack".into()],
                complexity: None,
                links: vec![],
                description: String::new(),
                file: None,
                learned: false,
            }],
        }
    }

    macro_rules! invalid {
        ($($name:ident: |$g:ident| $mutate:block => $needle:expr;)*) => {$(
            #[test]
            fn $name() {
                let mut $g = graph();
                $mutate
                let errors = validate(&$g, &SourceMap::default());
                assert!(errors.iter().any(|e| e.message.contains($needle)), "{errors:?}");
            }
        )*};
    }

    #[test]
    fn valid_graph_has_no_errors() {
        assert_eq!(validate(&graph(), &SourceMap::default()), vec![]);
        // The limits themselves are allowed.
        let mut g = graph();
        g.skills[0].keywords = vec![
            Keyword::new("a b c d e f g h", MAX_WEIGHT),
            Keyword::new("y".repeat(MAX_KEYWORD_BYTES), 1.0),
        ];
        assert_eq!(validate(&g, &SourceMap::default()), vec![]);
    }

    invalid! {
        unknown_agent: |g| { g.skills[0].agent = Some("ghost".into()); } => "unknown agent \"ghost\"";
        dangling_link: |g| { g.skills[0].links.push("nowhere".into()); } => "links to unknown skill";
        duplicate_skill: |g| { let s = g.skills[0].clone(); g.skills.push(s); } => "duplicate skill id";
        duplicate_agent: |g| { let a = g.agents[0].clone(); g.agents.push(a); } => "duplicate agent id";
        empty_keyword: |g| { g.skills[0].keywords.push(Keyword::new(" ?! ", 1.0)); } => "empty keyword";
        zero_weight: |g| { g.skills[0].keywords[0].weight = 0.0; } => "weight above 0";
        huge_weight: |g| { g.skills[0].keywords[0].weight = 1.7e308; } => "at most 1000";
        no_agents: |g| { g.agents.clear(); g.channels.clear(); g.skills.clear(); } => "no agents";
        long_keyword: |g| { g.skills[0].keywords.push(Keyword::new("a b c d e f g h i", 1.0)); } => "9 words";
        wide_keyword: |g| { g.skills[0].keywords.push(Keyword::new("x".repeat(129), 1.0)); } => "129 bytes";
        too_many_keywords: |g| {
            g.skills[0].keywords = (0..=MAX_KEYWORDS).map(|i| Keyword::new(format!("k{i}"), 1.0)).collect();
        } => "at most 50000 are allowed";
        unknown_fallback: |g| { g.agents[1].fallback = Some("x".into()); } => "falls back to unknown";
        self_fallback: |g| { g.agents[1].fallback = Some("dev".into()); } => "falls back to itself";
        unknown_channel: |g| { g.skills[0].channels.push("irc".into()); } => "unknown channel";
        unknown_default: |g| { g.channels[0].default_agent = Some("x".into()); } => "unknown default agent";
        bad_threshold: |g| { g.threshold = 1.5; } => "threshold";
        bad_calibration: |g| {
            g.calibration = Some(crate::Calibration {
                abstain: "medium".into(),
                target_recall: 0.58,
                threshold: 0.47,
                none_per_word: 0.0,
                in_scope_accuracy: 0.95,
                out_of_scope_recall: 0.6,
                unseen_recall: Some(-1.0),
                labelled_recall: None,
                folds: 10,
                examples: 100,
            });
        } => "calibration.unseenRecall";
        bad_id: |g| { g.skills[0].id = "has space".into(); } => "skill id";
    }
}
