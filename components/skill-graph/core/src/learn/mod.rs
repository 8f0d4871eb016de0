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

mod train;

use crate::{Skill, SkillGraph, text};
use train::Problem;

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledMessage {
    pub text: String,
    pub agent: Option<String>,
    /// Finer label (e.g. the intent within the agent's domain): each one gets a skill
    /// of its own, and the graph pools skills by probability.
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
    /// One skill per intent of the examples (else one per agent, intents only ordering
    /// the training).
    pub per_intent: bool,
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
            per_intent: true,
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

/// What one learned skill is: its id and agent. A skill stands for one `(agent, intent)`
/// of the examples, or for the whole agent when its examples carry no intent.
struct Class {
    id: String,
    agent: String,
    /// Its examples' intent, for the description.
    intent: Option<String>,
}

/// Learns a graph of learned skills: one per intent of the examples that carry one (the
/// graph then pools by probability, see [`Pooling`]), else one per agent. Skills of
/// `start` marked learned are part of it: training starts from their keyword weights
/// and from `start`'s "nobody" score (a warm start: a few corrections move the weights
/// they touch and leave the rest), or from zero without it. An example without an
/// intent teaches its agent as a whole: the loss is that of the agent's summed
/// probability, so its skills share the update by how well each already fits. Hand-
/// written skills of `start` are not part of the result: [`merge`] puts the learned
/// skills back among them.
pub fn learn_from(
    examples: &[LabelledMessage],
    options: &LearnOptions,
    start: Option<&SkillGraph>,
) -> Result<SkillGraph, LearnError> {
    let mut p = Problem::new(examples, options, start)?;
    let none_score = p.train(options, start.map_or(0.0, |g| g.none_score));
    Ok(p.into_graph(options, none_score))
}

/// The skills to learn, ordered by agent and id: one per `(agent, intent)` of the
/// examples; one per learned skill of the start graph not among those; one per agent
/// with none yet, named after it. An intent's skill is named after the intent, or
/// `<agent>.<intent>` when another agent has the same intent or an agent that name.
fn classes(
    examples: &[LabelledMessage],
    started: &[&Skill],
    agents: &[String],
    per_intent: bool,
) -> Vec<Class> {
    let mut intents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in examples.iter().filter(|_| per_intent) {
        if let (Some(a), Some(i)) = (&e.agent, &e.intent) {
            intents.entry(a).or_default().insert(i);
        }
    }
    let mut agents_of: HashMap<&str, usize> = HashMap::new();
    for i in intents.values().flatten() {
        *agents_of.entry(i).or_default() += 1;
    }
    let is_agent: BTreeSet<&str> = agents.iter().map(String::as_str).collect();
    let mut out: Vec<Class> = Vec::new();
    for (a, is) in &intents {
        for i in is {
            let bare = id_of(i);
            let id = if agents_of[i] > 1 || is_agent.contains(bare.as_str()) || bare.is_empty() {
                format!("{a}.{bare}")
            } else {
                bare
            };
            out.push(Class {
                id,
                agent: a.to_string(),
                intent: Some(i.to_string()),
            });
        }
    }
    for s in started {
        if !out.iter().any(|c| c.id == s.id) {
            out.push(Class {
                id: s.id.clone(),
                agent: s.agent.clone().unwrap_or_default(),
                intent: None,
            });
        }
    }
    for a in agents {
        if !out.iter().any(|c| &c.agent == a) {
            let mut id = a.clone();
            while out.iter().any(|c| c.id == id) {
                id.push_str(".all");
            }
            out.push(Class {
                id,
                agent: a.clone(),
                intent: None,
            });
        }
    }
    out.sort_by(|x, y| (&x.agent, &x.id).cmp(&(&y.agent, &y.id)));
    out
}

/// `intent` as a skill id: characters an id may not hold become `_`.
fn id_of(intent: &str) -> String {
    intent
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
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
        // The learned weights were trained for it; hand-written skills pool the same way.
        pooling: learned.pooling,
        // Chosen with the threshold, which stays.
        none_per_word: existing.none_per_word,
        agents,
        channels: existing.channels.clone(),
        skills,
        affinity: existing.affinity,
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
    use crate::Pooling;

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

    fn i(text: &str, agent: &str, intent: &str) -> LabelledMessage {
        LabelledMessage {
            intent: Some(intent.into()),
            ..m(text, Some(agent))
        }
    }

    fn intents() -> Vec<LabelledMessage> {
        let mut ex = Vec::new();
        for _ in 0..5 {
            ex.push(i("deploy the api to production", "devops", "deploy"));
            ex.push(i("rollback the production deploy", "devops", "rollback"));
            ex.push(i("what is the status of the cluster", "devops", "status"));
            ex.push(i("plan the next sprint", "pm", "plan"));
            ex.push(i("status of the sprint", "pm", "status"));
            ex.push(m("what is the weather", None));
        }
        ex
    }

    #[test]
    fn one_skill_per_intent_pooled_by_probability() {
        let g = learn(&intents(), &LearnOptions::default()).unwrap();
        let ids: Vec<(&str, Option<&str>)> = g
            .skills
            .iter()
            .map(|s| (s.id.as_str(), s.agent.as_deref()))
            .collect();
        // An intent two agents share is named after its agent too.
        assert_eq!(
            ids,
            [
                ("deploy", Some("devops")),
                ("devops.status", Some("devops")),
                ("rollback", Some("devops")),
                ("plan", Some("pm")),
                ("pm.status", Some("pm")),
            ]
        );
        assert_eq!(g.pooling, Pooling::Probability);
        assert!(g.skills.iter().all(|s| s.learned));
        assert!(g.skills[0].description.contains("intent deploy"));
        assert!(g.clone().finish(&crate::SourceMap::default()).is_ok());

        let per_agent = LearnOptions {
            per_intent: false,
            ..LearnOptions::default()
        };
        let g = learn(&intents(), &per_agent).unwrap();
        assert_eq!(g.skills.len(), 2);
        assert_eq!(g.pooling, Pooling::Sum);
    }

    /// A correction names an agent, not an intent: its agent's skills share the update,
    /// and no skill is added.
    #[test]
    fn an_example_without_intent_teaches_its_agents_skills() {
        let start = learn(&intents(), &LearnOptions::default()).unwrap();
        let weight = |g: &SkillGraph, phrase: &str| -> f64 {
            g.skills
                .iter()
                .filter(|s| s.agent.as_deref() == Some("pm"))
                .flat_map(|s| &s.keywords)
                .filter(|k| k.phrase == phrase)
                .map(|k| k.weight)
                .sum()
        };
        assert_eq!(weight(&start, "okr"), 0.0);
        let corrections = vec![m("draft the okr for the sprint", Some("pm")); 5];
        let again = learn_from(&corrections, &LearnOptions::default(), Some(&start)).unwrap();
        assert_eq!(again.skills.len(), start.skills.len());
        assert_eq!(again.pooling, Pooling::Probability);
        assert!(weight(&again, "okr") > 0.0, "{:?}", again.skills);
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
