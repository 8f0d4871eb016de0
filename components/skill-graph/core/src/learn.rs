//! Learning a skill graph from labelled routing history: `{"text", "agent"}` lines,
//! with `agent: null` for messages nobody should take.
//!
//! The learner fits the router's own model: an agent's score is the sum of the weights
//! of its keywords found in the message (1- and 2-word phrases), and confidence is a
//! softmax over the agents with evidence plus a constant "nobody" score. Weights are
//! trained by stochastic gradient descent on that softmax's log-loss, kept
//! non-negative with an L1 shrink so that only useful phrases survive. Training and
//! routing therefore optimise the same quantity, which is what makes a threshold on
//! confidence separate out-of-scope messages.
//!
//! Deterministic: a fixed example order, f64 arithmetic and `libm::exp`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use crate::{Agent, Keyword, MAX_KEYWORD_BYTES, MAX_KEYWORDS, MAX_WEIGHT, Skill, SkillGraph, text};

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledMessage {
    pub text: String,
    pub agent: Option<String>,
    /// Finer label, used only to interleave the training order.
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

impl LabelledMessage {
    /// `text` labelled with `agent` (`None`: out of scope).
    pub fn new(text: &str, agent: Option<&str>) -> LabelledMessage {
        LabelledMessage {
            text: text.into(),
            agent: agent.map(str::to_owned),
            intent: None,
            channel: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LearnOptions {
    /// Longest phrase, in words.
    pub max_ngram: usize,
    pub epochs: usize,
    /// Learning rate of the first epoch; epoch `e` uses `rate / (1 + e)`.
    pub rate: f64,
    /// L1 shrink per update: drives useless weights to zero.
    pub l1: f64,
    /// Weights below this are dropped from the graph.
    pub min_weight: f64,
    /// Confidence threshold written into the graph.
    pub threshold: f64,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions {
            max_ngram: 2,
            epochs: 5,
            rate: 0.5,
            l1: 0.003,
            min_weight: 0.1,
            threshold: 0.4,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("no labelled in-scope messages to learn from")]
    NoExamples,
    #[error("agent id {0:?} is not a valid id (letters, digits, '-', '_', '.')")]
    BadAgent(String),
}

/// The distinct phrases of up to `max_n` words in `text`, in canonical form.
pub fn phrases(text: &str, max_n: usize) -> BTreeSet<String> {
    let words = text::words(text);
    let mut out = BTreeSet::new();
    for n in 1..=max_n {
        for w in words.windows(n) {
            out.insert(w.join(" "));
        }
    }
    out
}

/// Learns a graph with one skill per agent seen in `examples`.
pub fn learn(
    examples: &[LabelledMessage],
    options: &LearnOptions,
) -> Result<SkillGraph, LearnError> {
    learn_from(examples, options, None)
}

/// Learns a graph with one learned skill per agent seen in `examples` or in `start`'s
/// learned skills. Training starts from `start`'s learned keyword weights and "nobody"
/// score (a warm start: a few corrections move the weights they touch and leave the
/// rest), or from zero without it. Hand-written skills of `start` are not part of the
/// result: [`merge`] puts the learned skills back among them.
pub fn learn_from(
    examples: &[LabelledMessage],
    options: &LearnOptions,
    start: Option<&SkillGraph>,
) -> Result<SkillGraph, LearnError> {
    let started: Vec<&Skill> = start
        .map(|g| {
            g.skills
                .iter()
                .filter(|s| s.learned && s.agent.is_some())
                .collect()
        })
        .unwrap_or_default();
    let agents: Vec<String> = examples
        .iter()
        .filter_map(|e| e.agent.clone())
        .chain(started.iter().filter_map(|s| s.agent.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if agents.is_empty() {
        return Err(LearnError::NoExamples);
    }
    if let Some(bad) = agents.iter().find(|a| !valid(a)) {
        return Err(LearnError::BadAgent(bad.clone()));
    }
    let agent_index: HashMap<&str, usize> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i))
        .collect();

    // Intern phrases; each example becomes (sorted phrase ids, label).
    let mut vocab: HashMap<String, u32> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<(Vec<u32>, Option<usize>)> = Vec::with_capacity(examples.len());
    for e in examples {
        let mut ids: Vec<u32> = phrases(&e.text, options.max_ngram)
            .into_iter()
            .map(|p| {
                *vocab.entry(p.clone()).or_insert_with(|| {
                    names.push(p);
                    (names.len() - 1) as u32
                })
            })
            .collect();
        ids.sort_unstable();
        rows.push((ids, e.agent.as_deref().map(|a| agent_index[a])));
    }

    // Interleave groups (intent, else agent, else "oos") so no label dominates a stretch of updates.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut order: Vec<(usize, String, usize)> = examples
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let group = e
                .intent
                .clone()
                .or_else(|| e.agent.clone())
                .unwrap_or_else(|| "oos".into());
            let n = seen.entry(group.clone()).or_default();
            *n += 1;
            (*n - 1, group, i)
        })
        .collect();
    order.sort();

    let mut weights: Vec<HashMap<u32, f64>> = vec![HashMap::new(); agents.len()];
    let mut none_score = start.map_or(0.0, |g| g.none_score);
    for skill in &started {
        let a = agent_index[skill.agent.as_deref().unwrap_or_default()];
        for k in &skill.keywords {
            let g = *vocab.entry(k.phrase.clone()).or_insert_with(|| {
                names.push(k.phrase.clone());
                (names.len() - 1) as u32
            });
            *weights[a].entry(g).or_default() += k.weight;
        }
    }
    let mut scores = vec![0.0f64; agents.len()];
    let mut candidates: Vec<usize> = Vec::new();
    for epoch in 0..options.epochs {
        let rate = options.rate / (1.0 + epoch as f64);
        for (_, _, i) in &order {
            let (ids, label) = &rows[*i];
            candidates.clear();
            for (a, w) in weights.iter().enumerate() {
                scores[a] = ids.iter().filter_map(|g| w.get(g)).sum();
                if scores[a] > 0.0 || Some(a) == *label {
                    candidates.push(a);
                }
            }
            let m = candidates
                .iter()
                .map(|&a| scores[a])
                .fold(none_score, f64::max);
            let e_none = libm::exp(none_score - m);
            let z: f64 = candidates
                .iter()
                .map(|&a| libm::exp(scores[a] - m))
                .sum::<f64>()
                + e_none;
            for &a in &candidates {
                let gradient =
                    libm::exp(scores[a] - m) / z - if Some(a) == *label { 1.0 } else { 0.0 };
                if gradient.abs() < 1e-4 {
                    continue;
                }
                let w = &mut weights[a];
                for g in ids {
                    let updated = w.get(g).copied().unwrap_or(0.0) - rate * (gradient + options.l1);
                    if updated > 0.0 {
                        w.insert(*g, updated);
                    } else {
                        w.remove(g);
                    }
                }
            }
            none_score -= rate * (e_none / z - if label.is_none() { 1.0 } else { 0.0 });
        }
    }

    let round4 = |x: f64| (x * 10_000.0).round() / 10_000.0;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in examples {
        if let Some(a) = &e.agent {
            *counts.entry(a).or_default() += 1;
        }
    }
    // (weight, agent, n-gram) of every keyword worth keeping, within what a graph may
    // hold: past the limit the strongest evidence stays.
    let mut kept: Vec<(f64, usize, u32)> = weights
        .iter()
        .enumerate()
        .flat_map(|(a, w)| w.iter().map(move |(g, w)| (*w, a, *g)))
        .filter(|(w, _, g)| {
            *w >= options.min_weight && names[*g as usize].len() <= MAX_KEYWORD_BYTES
        })
        .collect();
    if kept.len() > MAX_KEYWORDS {
        kept.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
        kept.truncate(MAX_KEYWORDS);
    }
    let mut per_agent: Vec<Vec<Keyword>> = vec![Vec::new(); agents.len()];
    for (w, a, g) in kept {
        per_agent[a].push(Keyword::new(
            names[g as usize].clone(),
            round4(w.min(MAX_WEIGHT)),
        ));
    }
    let skills = agents
        .iter()
        .enumerate()
        .map(|(a, id)| {
            let mut keywords = std::mem::take(&mut per_agent[a]);
            keywords.sort_by(|x, y| x.phrase.cmp(&y.phrase));
            Skill {
                id: id.clone(),
                agent: Some(id.clone()),
                keywords,
                channels: vec![],
                complexity: None,
                links: vec![],
                description: format!(
                    "Learned from {} labelled messages{}.",
                    counts.get(id.as_str()).copied().unwrap_or(0),
                    if started.is_empty() {
                        ""
                    } else {
                        ", on top of the previous weights"
                    }
                ),
                file: None,
                learned: true,
            }
        })
        .collect();
    Ok(SkillGraph {
        version: None,
        calibration: None,
        threshold: options.threshold,
        none_score: round4(none_score),
        // Training leaves it out; the calibration chooses it (router core's calibrate).
        none_per_word: 0.0,
        agents: agents
            .into_iter()
            .map(|id| Agent {
                name: id.replace(['_', '-'], " "),
                id,
                fallback: None,
                description: String::new(),
            })
            .collect(),
        channels: vec![],
        skills,
    })
}

/// `learned`'s skills (and agents) put into `existing`: its hand-written skills, links,
/// channels, agents, threshold and per-word "nobody" score stay; its learned skills are
/// replaced by `learned`'s.
/// A learned skill is named after its agent, or `<agent>-learned` when a hand-written
/// skill has that id. The "nobody" score is the learner's (it was trained with the
/// weights); the version is recomputed.
pub fn merge(existing: &SkillGraph, learned: SkillGraph) -> SkillGraph {
    let mut skills: Vec<Skill> = existing
        .skills
        .iter()
        .filter(|s| !s.learned)
        .cloned()
        .collect();
    let mut taken: BTreeSet<String> = skills.iter().map(|s| s.id.clone()).collect();
    for mut s in learned.skills {
        let base = s.id.clone();
        let mut id = base.clone();
        let mut n = 1;
        while taken.contains(&id) {
            id = if n == 1 {
                format!("{base}-learned")
            } else {
                format!("{base}-learned-{n}")
            };
            n += 1;
        }
        taken.insert(id.clone());
        s.id = id;
        s.learned = true;
        skills.push(s);
    }
    let mut agents = existing.agents.clone();
    for a in learned.agents {
        if !agents.iter().any(|e| e.id == a.id) {
            agents.push(a);
        }
    }
    SkillGraph {
        version: None,
        calibration: existing.calibration.clone(),
        threshold: existing.threshold,
        none_score: learned.none_score,
        // Chosen with the threshold, which stays.
        none_per_word: existing.none_per_word,
        agents,
        channels: existing.channels.clone(),
        skills,
    }
}

fn valid(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str, agent: Option<&str>) -> LabelledMessage {
        LabelledMessage::new(text, agent)
    }

    #[test]
    fn learns_distinctive_words_per_agent() {
        let mut ex = Vec::new();
        for _ in 0..5 {
            ex.push(m("deploy the api to production", Some("devops")));
            ex.push(m("rollback the production deploy", Some("devops")));
            ex.push(m("plan the next sprint", Some("pm")));
            ex.push(m("write the sprint report", Some("pm")));
            ex.push(m("what is the weather", None));
        }
        let g = learn(&ex, &LearnOptions::default()).unwrap();
        assert_eq!(g.agents.len(), 2);
        let devops = g.skills.iter().find(|s| s.id == "devops").unwrap();
        assert!(
            devops.keywords.iter().any(|k| k.phrase == "production"),
            "{:?}",
            devops.keywords
        );
        assert!(
            !devops.keywords.iter().any(|k| k.phrase == "the"),
            "shared words carry no weight"
        );
        assert!(g.none_score.is_finite());
        assert!(g.clone().finish(&crate::SourceMap::default()).is_ok());
    }

    #[test]
    fn training_is_deterministic() {
        let ex = vec![
            m("deploy now", Some("devops")),
            m("sprint plan", Some("pm")),
            m("hello", None),
        ];
        let a = learn(&ex, &LearnOptions::default()).unwrap();
        let b = learn(&ex, &LearnOptions::default()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            learn(&[m("hi", None)], &LearnOptions::default()),
            Err(LearnError::NoExamples)
        ));
        assert!(matches!(
            learn(&[m("hi", Some("bad agent"))], &LearnOptions::default()),
            Err(LearnError::BadAgent(_))
        ));
    }
}
