//! Training: the examples as phrase ids and the skills each teaches, stochastic
//! gradient descent on the router's own softmax, and the graph of the trained weights.

use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::{
    Agent, Keyword, MAX_KEYWORD_BYTES, MAX_KEYWORDS, MAX_WEIGHT, Pooling, Skill, SkillGraph,
};

/// What training works on: the skills to learn, the examples as phrase ids with the
/// skills each teaches, the order they are visited in, and each phrase's weights.
pub(super) struct Problem<'a> {
    classes: Vec<Class>,
    agents: Vec<String>,
    /// The learned skills of the start graph (a warm start).
    started: Vec<&'a Skill>,
    pooled: bool,
    /// Phrase id -> phrase.
    names: Vec<String>,
    /// Each example: (sorted phrase ids, the classes it teaches: empty for "nobody").
    rows: Vec<(Vec<u32>, Vec<usize>)>,
    /// Example indexes in the order they are visited.
    order: Vec<usize>,
    /// Weights by phrase: (class, weight) for each class the phrase counts for.
    weights: Vec<Vec<(u32, f64)>>,
}

impl<'a> Problem<'a> {
    pub(super) fn new(
        examples: &[LabelledMessage],
        options: &LearnOptions,
        start: Option<&'a SkillGraph>,
    ) -> Result<Problem<'a>, LearnError> {
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
        let classes = classes(examples, &started, &agents, options.per_intent);
        let pooled = classes.iter().any(|c| c.intent.is_some())
            || start.is_some_and(|g| g.pooling == Pooling::Probability);
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let rows = rows(examples, options, &classes, &mut vocab, &mut names);
        let order = order(examples);
        let mut weights: Vec<Vec<(u32, f64)>> = vec![Vec::new(); names.len()];
        let by_id: HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        for skill in &started {
            let c = by_id[skill.id.as_str()] as u32;
            for k in &skill.keywords {
                let g = *vocab.entry(k.phrase.clone()).or_insert_with(|| {
                    names.push(k.phrase.clone());
                    weights.push(Vec::new());
                    (names.len() - 1) as u32
                });
                match weights[g as usize].iter_mut().find(|(x, _)| *x == c) {
                    Some(e) => e.1 += k.weight,
                    None => weights[g as usize].push((c, k.weight)),
                }
            }
        }
        Ok(Problem {
            classes,
            agents,
            started,
            pooled,
            names,
            rows,
            order,
            weights,
        })
    }

    /// Stochastic gradient descent on the softmax's log-loss, from `none_score`; the
    /// trained "nobody" score.
    pub(super) fn train(&mut self, options: &LearnOptions, mut none_score: f64) -> f64 {
        let mut scores = vec![0.0f64; self.classes.len()];
        let mut candidates: Vec<usize> = Vec::new();
        let mut probs: Vec<f64> = Vec::new();
        for epoch in 0..options.epochs {
            let rate = options.rate / (1.0 + epoch as f64);
            for i in &self.order {
                let (ids, target) = &self.rows[*i];
                // Each class's score sums its weights in phrase order.
                candidates.clear();
                for g in ids {
                    for &(c, w) in &self.weights[*g as usize] {
                        if scores[c as usize] == 0.0 {
                            candidates.push(c as usize);
                        }
                        scores[c as usize] += w;
                    }
                }
                candidates.retain(|&c| scores[c] > 0.0);
                for &t in target {
                    if scores[t] == 0.0 {
                        candidates.push(t);
                    }
                }
                candidates.sort_unstable();
                candidates.dedup();
                let m = candidates
                    .iter()
                    .map(|&c| scores[c])
                    .fold(none_score, f64::max);
                let e_none = libm::exp(none_score - m);
                probs.clear();
                probs.extend(candidates.iter().map(|&c| libm::exp(scores[c] - m)));
                let z: f64 = probs.iter().sum::<f64>() + e_none;
                // Within the target, each class's share of it (1 for a single class):
                // measured from the target's best score, so that it never underflows.
                let top = target.iter().map(|&t| scores[t]).fold(f64::MIN, f64::max);
                let within: f64 = target.iter().map(|&t| libm::exp(scores[t] - top)).sum();
                for (&c, &e) in candidates.iter().zip(&probs) {
                    // d(-log P(target)) / d score: the class's probability, less its
                    // share of the target.
                    let gradient = e / z
                        - if target.contains(&c) {
                            libm::exp(scores[c] - top) / within
                        } else {
                            0.0
                        };
                    if gradient.abs() < 1e-4 {
                        continue;
                    }
                    for g in ids {
                        let row = &mut self.weights[*g as usize];
                        let at = row.iter().position(|(x, _)| *x == c as u32);
                        let updated = at.map_or(0.0, |k| row[k].1) - rate * (gradient + options.l1);
                        match (at, updated > 0.0) {
                            (Some(k), true) => row[k].1 = updated,
                            (Some(k), false) => {
                                row.swap_remove(k);
                            }
                            (None, true) => row.push((c as u32, updated)),
                            (None, false) => {}
                        }
                    }
                }
                for &c in &candidates {
                    scores[c] = 0.0;
                }
                none_score -= rate * (e_none / z - if target.is_empty() { 1.0 } else { 0.0 });
            }
        }
        none_score
    }

    /// The graph of the trained weights: the keywords worth keeping, within what a
    /// graph may hold (past the limit the strongest evidence stays).
    pub(super) fn into_graph(self, options: &LearnOptions, none_score: f64) -> SkillGraph {
        let round4 = |x: f64| (x * 10_000.0).round() / 10_000.0;
        // Examples that named one skill (those naming an agent of several skills taught
        // them all).
        let mut counts = vec![0usize; self.classes.len()];
        for (_, target) in &self.rows {
            if let [c] = target[..] {
                counts[c] += 1;
            }
        }
        let names = &self.names;
        // (weight, class, n-gram) of every keyword worth keeping.
        let mut kept: Vec<(f64, usize, u32)> = self
            .weights
            .iter()
            .enumerate()
            .flat_map(|(g, row)| row.iter().map(move |(c, w)| (*w, *c as usize, g as u32)))
            .filter(|(w, _, g)| {
                *w >= options.min_weight && names[*g as usize].len() <= MAX_KEYWORD_BYTES
            })
            .collect();
        if kept.len() > MAX_KEYWORDS {
            kept.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
            kept.truncate(MAX_KEYWORDS);
        }
        let mut per_class: Vec<Vec<Keyword>> = vec![Vec::new(); self.classes.len()];
        for (w, c, g) in kept {
            per_class[c].push(Keyword::new(
                names[g as usize].clone(),
                round4(w.min(MAX_WEIGHT)),
            ));
        }
        let warm = !self.started.is_empty();
        let skills = self
            .classes
            .iter()
            .enumerate()
            .map(|(c, class)| {
                let mut keywords = std::mem::take(&mut per_class[c]);
                keywords.sort_by(|x, y| x.phrase.cmp(&y.phrase));
                Skill {
                    id: class.id.clone(),
                    agent: Some(class.agent.clone()),
                    keywords,
                    channels: vec![],
                    complexity: None,
                    links: vec![],
                    description: format!(
                        "Learned from {} labelled messages{}{}.",
                        counts[c],
                        match &class.intent {
                            Some(i) => format!(" (intent {i})"),
                            None => String::new(),
                        },
                        if warm {
                            ", on top of the previous weights"
                        } else {
                            ""
                        }
                    ),
                    file: None,
                    learned: true,
                }
            })
            .collect();
        SkillGraph {
            version: None,
            calibration: None,
            threshold: options.threshold,
            none_score: round4(none_score),
            // Training leaves it out; the calibration chooses it (router core's calibrate).
            none_per_word: 0.0,
            pooling: if self.pooled {
                Pooling::Probability
            } else {
                Pooling::Sum
            },
            agents: self
                .agents
                .into_iter()
                .map(|id| Agent {
                    name: id.replace(['_', '-'], " "),
                    id,
                    fallback: None,
                    description: String::new(),
                    instances: Vec::new(),
                })
                .collect(),
            channels: vec![],
            skills,
            affinity: None,
        }
    }
}

/// Each example as (sorted phrase ids, the classes it teaches: empty for "nobody"),
/// its phrases interned into `vocab` and `names`.
fn rows(
    examples: &[LabelledMessage],
    options: &LearnOptions,
    classes: &[Class],
    vocab: &mut HashMap<String, u32>,
    names: &mut Vec<String>,
) -> Vec<(Vec<u32>, Vec<usize>)> {
    let by_intent: HashMap<(&str, &str), usize> = classes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some(((c.agent.as_str(), c.intent.as_deref()?), i)))
        .collect();
    // Each agent's classes, for the examples that name only the agent.
    let mut of_agent: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in classes.iter().enumerate() {
        of_agent.entry(c.agent.as_str()).or_default().push(i);
    }
    let mut rows = Vec::with_capacity(examples.len());
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
        let target = match (e.agent.as_deref(), e.intent.as_deref()) {
            (None, _) => Vec::new(),
            (Some(a), Some(i)) if by_intent.contains_key(&(a, i)) => vec![by_intent[&(a, i)]],
            (Some(a), _) => of_agent[a].clone(),
        };
        rows.push((ids, target));
    }
    rows
}

/// The order examples are visited in: groups (intent, else agent, else "oos")
/// interleaved, so no label dominates a stretch of updates.
fn order(examples: &[LabelledMessage]) -> Vec<usize> {
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
    order.into_iter().map(|(_, _, i)| i).collect()
}
