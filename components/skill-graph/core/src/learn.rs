//! Learning a skill graph from labelled routing history: `{"text", "agent"}` lines,
//! with `agent: null` for messages nobody should take. One skill per (agent, intent)
//! when an `intent` label is present, else one per agent. Keyword weights are smoothed
//! log-ratios of document frequencies (a Bernoulli naive-Bayes view): how much more
//! often an n-gram appears in this skill's messages than in everyone else's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use crate::{Agent, Keyword, Skill, SkillGraph, text};

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledMessage {
    pub text: String,
    pub agent: Option<String>,
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LearnOptions {
    /// Longest n-gram considered.
    pub max_ngram: usize,
    /// Additive smoothing of document frequencies.
    pub alpha: f64,
    /// An n-gram must appear in at least this many of a skill's messages.
    pub min_count: usize,
    /// Keep at most this many keywords per skill (best first).
    pub max_keywords: usize,
    /// Shrinks weights of rare n-grams: `w * c / (c + beta)`.
    pub beta: f64,
    /// Confidence threshold written into the graph.
    pub threshold: f64,
    /// Use `intent` labels to split an agent's messages into skills.
    pub split_by_intent: bool,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions { max_ngram: 3, alpha: 0.5, min_count: 1, max_keywords: 400, beta: 0.0, threshold: 0.35, split_by_intent: true }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("no labelled in-scope messages to learn from")]
    NoExamples,
    #[error("agent id {0:?} is not a valid id")]
    BadAgent(String),
}

fn ngrams(text: &str, max_n: usize) -> BTreeSet<String> {
    let words = text::words(text);
    let mut out = BTreeSet::new();
    for n in 1..=max_n {
        for w in words.windows(n) {
            out.insert(w.join(" "));
        }
    }
    out
}

/// Learns a graph whose agents are the labels seen in `examples`.
pub fn learn(examples: &[LabelledMessage], options: &LearnOptions) -> Result<SkillGraph, LearnError> {
    // skill key -> document-frequency table
    let mut skills: BTreeMap<(String, String), (HashMap<String, usize>, usize)> = BTreeMap::new();
    let mut total: HashMap<String, usize> = HashMap::new();
    let mut n_total = 0usize;
    for ex in examples {
        let grams = ngrams(&ex.text, options.max_ngram);
        for g in &grams {
            *total.entry(g.clone()).or_default() += 1;
        }
        n_total += 1;
        if let Some(agent) = &ex.agent {
            let skill = match (&ex.intent, options.split_by_intent) {
                (Some(i), true) => i.clone(),
                _ => agent.clone(),
            };
            let entry = skills.entry((agent.clone(), skill)).or_default();
            entry.1 += 1;
            for g in grams {
                *entry.0.entry(g).or_default() += 1;
            }
        }
    }
    if skills.is_empty() {
        return Err(LearnError::NoExamples);
    }

    let a = options.alpha;
    let mut graph = SkillGraph { version: None, threshold: options.threshold, agents: vec![], channels: vec![], skills: vec![] };
    let mut agents = BTreeSet::new();
    for ((agent, skill), (df, n_skill)) in &skills {
        if !valid(agent) {
            return Err(LearnError::BadAgent(agent.clone()));
        }
        agents.insert(agent.clone());
        let n_rest = (n_total - n_skill) as f64;
        let n_skill = *n_skill as f64;
        let mut scored: Vec<(f64, &String)> = df
            .iter()
            .filter(|(_, c)| **c >= options.min_count)
            .filter_map(|(g, &c)| {
                let rest = (total[g] - c) as f64;
                let c = c as f64;
                let lr = ((c + a) / (n_skill + 2.0 * a)).ln() - ((rest + a) / (n_rest + 2.0 * a)).ln();
                let w = lr * c / (c + options.beta);
                (w > 0.0).then_some((w, g))
            })
            .collect();
        scored.sort_by(|x, y| y.0.total_cmp(&x.0).then_with(|| x.1.cmp(y.1)));
        scored.truncate(options.max_keywords);
        let mut keywords: Vec<Keyword> = scored.into_iter().map(|(w, g)| Keyword::new(g.clone(), (w * 1000.0).round() / 1000.0)).filter(|k| k.weight > 0.0).collect();
        keywords.sort_by(|x, y| x.phrase.cmp(&y.phrase));
        let id = if skill == agent { agent.clone() } else { format!("{agent}.{}", slug(skill)) };
        graph.skills.push(Skill {
            id,
            agent: Some(agent.clone()),
            keywords,
            channels: vec![],
            complexity: None,
            links: vec![],
            description: format!("Learned from {} labelled messages.", n_skill as usize),
            file: None,
        });
    }
    graph.agents = agents.into_iter().map(|id| Agent { name: id.replace(['_', '-'], " "), id, fallback: None, description: String::new() }).collect();
    Ok(graph)
}

fn valid(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str, agent: Option<&str>) -> LabelledMessage {
        LabelledMessage { text: text.into(), agent: agent.map(str::to_owned), intent: None, channel: None }
    }

    #[test]
    fn learns_distinctive_words_per_agent() {
        let ex = vec![
            m("deploy the api to production", Some("devops")),
            m("rollback the production deploy", Some("devops")),
            m("plan the next sprint", Some("pm")),
            m("write the sprint report", Some("pm")),
            m("what is the weather", None),
        ];
        let g = learn(&ex, &LearnOptions::default()).unwrap();
        assert_eq!(g.agents.len(), 2);
        let devops = g.skills.iter().find(|s| s.id == "devops").unwrap();
        assert!(devops.keywords.iter().any(|k| k.phrase == "production"));
        assert!(!devops.keywords.iter().any(|k| k.phrase == "the"), "shared words carry no weight");
        assert!(g.clone().finish(&crate::SourceMap::default()).is_ok());
    }

    #[test]
    fn no_examples_is_an_error() {
        assert!(matches!(learn(&[m("hi", None)], &LearnOptions::default()), Err(LearnError::NoExamples)));
    }
}
