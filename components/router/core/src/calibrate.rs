//! Where the router abstains, chosen for topics the training data does not show.
//!
//! A threshold picked on held-out examples of the same kinds of out-of-scope messages
//! the learner saw does not transfer: a topic nobody trained for scores like a weak
//! in-scope message. So [`learn`] estimates the trade-off on folds that play unseen
//! topics: in fold `g`, the agents `g, g + G, g + 2G, ...` (in id order) are left out of
//! training entirely and their messages scored as out of scope, together with the
//! fold's share of the labelled out-of-scope messages; the fold's share of the other
//! agents' messages measures in-scope accuracy.
//!
//! Over the pooled folds, each operating point (a threshold from 0 to 0.99 with a
//! per-word "nobody" score from [`NONE_PER_WORD`]) gets its in-scope accuracy and
//! out-of-scope recall: the lower of unseen-topic recall and labelled out-of-scope
//! recall, so that neither hides the other. The operator's level names the recall to
//! reach; of the points that reach it, the most accurate is written into the graph with
//! what it is expected to give.

use agency_skill_graph::learn::{self, LabelledMessage, LearnError, LearnOptions};
use agency_skill_graph::{Calibration, SkillGraph};
use serde::Serialize;

use crate::{RouteRequest, RouterIndex};

/// Folds at most (fewer when there are fewer agents).
pub const MAX_FOLDS: usize = 10;

/// How eagerly the router abstains: the out-of-scope recall to reach on the folds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Abstain {
    Low,
    Medium,
    High,
    /// A target out-of-scope recall between 0 and 1.
    Recall(f64),
}

impl Abstain {
    /// The out-of-scope recall on the folds each level asks for. `medium` was set on
    /// CLINC150's train and val (the README's table), learned one skill per intent: the
    /// highest recall whose point keeps in-scope accuracy on val at 0.93.
    pub fn target(self) -> f64 {
        match self {
            Abstain::Low => 0.5,
            Abstain::Medium => 0.64,
            Abstain::High => 0.75,
            Abstain::Recall(r) => r,
        }
    }

    pub fn name(self) -> String {
        match self {
            Abstain::Low => "low".into(),
            Abstain::Medium => "medium".into(),
            Abstain::High => "high".into(),
            Abstain::Recall(r) => format!("{r}"),
        }
    }
}

/// An abstention level that is neither a level's name nor a recall in (0, 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?}: expected low, medium, high or a target out-of-scope recall between 0 and 1 (e.g. 0.75)"
)]
pub struct BadAbstain(pub String);

impl std::str::FromStr for Abstain {
    type Err = BadAbstain;
    fn from_str(s: &str) -> Result<Abstain, BadAbstain> {
        match s {
            "low" => Ok(Abstain::Low),
            "medium" => Ok(Abstain::Medium),
            "high" => Ok(Abstain::High),
            other => match other.parse::<f64>() {
                Ok(r) if r > 0.0 && r < 1.0 => Ok(Abstain::Recall(r)),
                _ => Err(BadAbstain(other.to_owned())),
            },
        }
    }
}

/// The per-word "nobody" scores the calibration tries with each threshold (the graph's
/// `none_per_word`). Training leaves the term out; routing adds it. A long message
/// gathers weak evidence from common words whatever its topic, and an unseen topic is
/// mostly that: on CLINC150 the length term moves the accuracy-recall frontier where
/// no threshold alone does.
pub const NONE_PER_WORD: [f64; 7] = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

/// One operating point's figures on the folds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    pub threshold: f64,
    pub none_per_word: f64,
    pub in_scope_accuracy: f64,
    /// The lower of the two below (or the one there is).
    pub out_of_scope_recall: f64,
    /// Messages of agents left out of training, routed to nobody.
    pub unseen_recall: Option<f64>,
    /// Labelled out-of-scope messages, routed to nobody.
    pub labelled_recall: Option<f64>,
}

/// What one held-out message gave: its kind, whether the top agent was right, and the
/// confidence (0 without evidence).
#[derive(Debug, Clone, Copy)]
enum Seen {
    InScope { right: bool, confidence: f64 },
    Unseen { confidence: f64 },
    Labelled { confidence: f64 },
}

/// The thresholds a curve is drawn at: 0, 0.01, ..., 0.99.
pub fn thresholds() -> impl Iterator<Item = f64> {
    (0..100).map(|i| f64::from(i) / 100.0)
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn point(seen: &[Seen], t: f64, none_per_word: f64) -> Point {
    let (mut n_in, mut right, mut n_un, mut un_ok, mut n_lab, mut lab_ok) = (0, 0, 0, 0, 0, 0);
    for s in seen {
        match *s {
            Seen::InScope {
                right: r,
                confidence,
            } => {
                n_in += 1;
                right += usize::from(r && confidence > 0.0 && confidence >= t);
            }
            Seen::Unseen { confidence } => {
                n_un += 1;
                un_ok += usize::from(confidence <= 0.0 || confidence < t);
            }
            Seen::Labelled { confidence } => {
                n_lab += 1;
                lab_ok += usize::from(confidence <= 0.0 || confidence < t);
            }
        }
    }
    let unseen = ratio(un_ok, n_un);
    let labelled = ratio(lab_ok, n_lab);
    let recalls: Vec<f64> = [unseen, labelled].into_iter().flatten().collect();
    Point {
        threshold: t,
        none_per_word,
        in_scope_accuracy: ratio(right, n_in).unwrap_or(0.0),
        out_of_scope_recall: if recalls.is_empty() {
            0.0
        } else {
            recalls.iter().copied().fold(f64::INFINITY, f64::min)
        },
        unseen_recall: unseen,
        labelled_recall: labelled,
    }
}

/// The top agent and its confidence for `text` under `index` (built with threshold 0).
fn top(index: &RouterIndex, e: &LabelledMessage) -> (Option<String>, f64) {
    let d = index.route(&RouteRequest {
        message: e.text.clone(),
        ..RouteRequest::default()
    });
    (d.agent.map(|a| a.to_string()), d.confidence)
}

/// The folds' observations: every example held out once, routed under each of
/// [`NONE_PER_WORD`] (same order).
fn observe(
    examples: &[LabelledMessage],
    options: &LearnOptions,
) -> Result<(Vec<Vec<Seen>>, usize), LearnError> {
    let mut agents: Vec<&str> = examples.iter().filter_map(|e| e.agent.as_deref()).collect();
    agents.sort_unstable();
    agents.dedup();
    let folds = agents.len().clamp(1, MAX_FOLDS);
    if agents.len() < 2 {
        return Ok((Vec::new(), 0));
    }
    let fold_of_agent = |a: &str| agents.iter().position(|x| *x == a).map(|i| i % folds);
    let at_zero = LearnOptions {
        threshold: 0.0,
        ..options.clone()
    };
    let mut seen = vec![Vec::new(); NONE_PER_WORD.len()];
    for g in 0..folds {
        let held = |i: usize, e: &LabelledMessage| {
            i % folds == g || e.agent.as_deref().and_then(fold_of_agent) == Some(g)
        };
        let train: Vec<LabelledMessage> = examples
            .iter()
            .enumerate()
            .filter(|(i, e)| !held(*i, e))
            .map(|(_, e)| e.clone())
            .collect();
        let graph = learn::learn(&train, &at_zero)?;
        let Ok(mut index) = RouterIndex::build(&graph) else {
            continue;
        };
        for (k, &per_word) in NONE_PER_WORD.iter().enumerate() {
            index = index.at_point(0.0, per_word);
            for (i, e) in examples.iter().enumerate() {
                if !held(i, e) {
                    continue;
                }
                let (agent, confidence) = top(&index, e);
                seen[k].push(match e.agent.as_deref() {
                    None => Seen::Labelled { confidence },
                    Some(a) if fold_of_agent(a) == Some(g) => Seen::Unseen { confidence },
                    Some(a) => Seen::InScope {
                        right: agent.as_deref() == Some(a),
                        confidence,
                    },
                });
            }
        }
    }
    Ok((seen, folds))
}

/// The point `abstain` picks from the folds' points: of those whose out-of-scope recall
/// reaches its target, the most accurate (ties: the smaller per-word score, then the
/// lower threshold); else the one with the highest recall.
pub fn choose(curve: &[Point], abstain: Abstain) -> Option<Point> {
    let target = abstain.target();
    curve
        .iter()
        .filter(|p| p.out_of_scope_recall >= target)
        .min_by(|a, b| {
            b.in_scope_accuracy
                .total_cmp(&a.in_scope_accuracy)
                .then(a.none_per_word.total_cmp(&b.none_per_word))
                .then(a.threshold.total_cmp(&b.threshold))
        })
        .or_else(|| {
            curve
                .iter()
                .max_by(|a, b| a.out_of_scope_recall.total_cmp(&b.out_of_scope_recall))
        })
        .copied()
}

/// The share of the messages no agent should take that a proposed switch margin keeps
/// from moving a conversation.
pub const SWITCH_STAYS: f64 = 0.95;

/// A switch margin for conversation affinity, proposed from the folds (see
/// [`propose_switch_margin`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposedMargin {
    pub switch_margin: f64,
    /// Messages no agent should take (left-out topics, labelled out of scope) that stay
    /// under it.
    pub stays: f64,
    /// In-scope messages routed to their own agent at or above it: a new topic that
    /// would move a conversation.
    pub switches: f64,
}

/// The lowest confidence at or above the calibrated threshold under which at least
/// [`SWITCH_STAYS`] of the folds' messages that no agent should take stay, at the
/// calibrated per-word "nobody" score. A follow-up with no topic words is, to the
/// router, such a message: with this margin it moves a conversation no more often.
/// None when no threshold on the curve keeps that many.
pub fn propose_switch_margin(curve: &[Point], calibration: &Calibration) -> Option<ProposedMargin> {
    curve
        .iter()
        .filter(|p| {
            p.none_per_word == calibration.none_per_word
                && p.threshold >= calibration.threshold
                && p.out_of_scope_recall >= SWITCH_STAYS
        })
        .min_by(|a, b| a.threshold.total_cmp(&b.threshold))
        .map(|p| ProposedMargin {
            switch_margin: p.threshold,
            stays: round4(p.out_of_scope_recall),
            switches: round4(p.in_scope_accuracy),
        })
}

/// Learns a graph from `examples` with its threshold calibrated for `abstain` on the
/// folds, and the whole curve. With fewer than two agents there are no folds: the
/// graph keeps `options.threshold` and says it was not calibrated.
pub fn learn(
    examples: &[LabelledMessage],
    options: &LearnOptions,
    abstain: Abstain,
) -> Result<(SkillGraph, Vec<Point>), LearnError> {
    let (seen, folds) = observe(examples, options)?;
    let curve: Vec<Point> = NONE_PER_WORD
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !s.is_empty())
        .flat_map(|(&per_word, s)| thresholds().map(move |t| point(s, t, per_word)))
        .collect();
    let chosen = choose(&curve, abstain);
    let threshold = chosen.map_or(options.threshold, |p| p.threshold);
    let mut graph = learn::learn(
        examples,
        &LearnOptions {
            threshold,
            ..options.clone()
        },
    )?;
    graph.none_per_word = chosen.map_or(0.0, |p| p.none_per_word);
    graph.calibration = chosen.map(|p| Calibration {
        abstain: abstain.name(),
        target_recall: abstain.target(),
        threshold: p.threshold,
        none_per_word: p.none_per_word,
        in_scope_accuracy: round4(p.in_scope_accuracy),
        out_of_scope_recall: round4(p.out_of_scope_recall),
        unseen_recall: p.unseen_recall.map(round4),
        labelled_recall: p.labelled_recall.map(round4),
        folds,
        examples: examples.len(),
    });
    Ok((graph, curve))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str, agent: Option<&str>) -> LabelledMessage {
        LabelledMessage::new(text, agent)
    }

    #[test]
    fn levels_parse_and_order() {
        assert_eq!("medium".parse::<Abstain>(), Ok(Abstain::Medium));
        assert_eq!("0.8".parse::<Abstain>(), Ok(Abstain::Recall(0.8)));
        for bad in ["", "1", "0", "1.5", "very"] {
            assert!(bad.parse::<Abstain>().is_err(), "{bad}");
        }
        assert!(Abstain::Low.target() < Abstain::Medium.target());
        assert!(Abstain::Medium.target() < Abstain::High.target());
    }

    fn p(t: f64, recall: f64) -> Point {
        Point {
            threshold: t,
            none_per_word: 0.0,
            in_scope_accuracy: 1.0 - t,
            out_of_scope_recall: recall,
            unseen_recall: Some(recall),
            labelled_recall: None,
        }
    }

    #[test]
    fn the_switch_margin_keeps_most_out_of_scope_messages() {
        let curve = [p(0.2, 0.5), p(0.3, 0.7), p(0.5, 0.96), p(0.6, 0.99)];
        let mut c = Calibration {
            abstain: "medium".into(),
            target_recall: 0.6,
            threshold: 0.3,
            none_per_word: 0.0,
            in_scope_accuracy: 0.7,
            out_of_scope_recall: 0.7,
            unseen_recall: None,
            labelled_recall: None,
            folds: 2,
            examples: 10,
        };
        let m = propose_switch_margin(&curve, &c).unwrap();
        assert_eq!((m.switch_margin, m.stays, m.switches), (0.5, 0.96, 0.5));
        // Never below the threshold, and none when nothing keeps 95%.
        c.threshold = 0.55;
        assert_eq!(
            propose_switch_margin(&curve, &c).unwrap().switch_margin,
            0.6
        );
        assert!(propose_switch_margin(&curve[..2], &c).is_none());
    }

    #[test]
    fn the_lowest_threshold_reaching_the_target_is_chosen() {
        let curve = [p(0.1, 0.2), p(0.2, 0.5), p(0.3, 0.7), p(0.4, 0.9)];
        assert_eq!(choose(&curve, Abstain::Recall(0.6)).unwrap().threshold, 0.3);
        assert_eq!(choose(&curve, Abstain::Recall(0.5)).unwrap().threshold, 0.2);
        // Out of reach: the most recall there is.
        assert_eq!(
            choose(&curve, Abstain::Recall(0.95)).unwrap().threshold,
            0.4
        );
        assert!(choose(&[], Abstain::Medium).is_none());
    }

    /// Three topics; in each fold one plays the unseen topic. The graph carries what
    /// the folds measured, and a higher level never expects less recall.
    #[test]
    fn learning_calibrates_on_folds_with_unseen_topics() {
        let mut ex = Vec::new();
        for i in 0..12 {
            ex.push(m(
                &format!("deploy the api to production {i}"),
                Some("devops"),
            ));
            ex.push(m(
                &format!("rollback the release on staging {i}"),
                Some("devops"),
            ));
            ex.push(m(
                &format!("plan the sprint and the roadmap {i}"),
                Some("pm"),
            ));
            ex.push(m(&format!("write the quarterly roadmap {i}"), Some("pm")));
            ex.push(m(
                &format!("review this pull request for bugs {i}"),
                Some("review"),
            ));
            ex.push(m(
                &format!("security review of the login code {i}"),
                Some("review"),
            ));
            ex.push(m(&format!("what is the weather like {i}"), None));
        }
        let (low, curve) = learn(&ex, &LearnOptions::default(), Abstain::Low).unwrap();
        assert_eq!(curve.len(), 100 * NONE_PER_WORD.len());
        let c = low.calibration.clone().unwrap();
        assert_eq!(
            (c.folds, c.examples, c.abstain.as_str()),
            (3, ex.len(), "low")
        );
        assert!(c.unseen_recall.is_some() && c.labelled_recall.is_some());
        assert_eq!(
            (low.threshold, low.none_per_word),
            (c.threshold, c.none_per_word)
        );
        let (high, _) = learn(&ex, &LearnOptions::default(), Abstain::High).unwrap();
        let h = high.calibration.clone().unwrap();
        assert!(h.out_of_scope_recall >= c.out_of_scope_recall);
        assert!(
            high.clone()
                .finish(&agency_skill_graph::SourceMap::default())
                .is_ok()
        );
        // One agent: no folds, the default threshold, no calibration claimed.
        let one: Vec<LabelledMessage> = ex
            .iter()
            .filter(|e| e.agent.as_deref() != Some("pm") && e.agent.as_deref() != Some("review"))
            .cloned()
            .collect();
        let (g, curve) = learn(&one, &LearnOptions::default(), Abstain::Medium).unwrap();
        assert!(curve.is_empty() && g.calibration.is_none());
    }
}
