//! Routing quality over labelled messages: in-scope accuracy, out-of-scope recall,
//! per-agent precision/recall/F1 and a confusion matrix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{RouteRequest, RouterIndex};

/// One labelled message; `agent: None` means out of scope (nobody should take it).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Example {
    pub text: String,
    pub agent: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvalReport {
    pub examples: usize,
    pub in_scope: usize,
    pub out_of_scope: usize,
    pub in_scope_accuracy: f64,
    pub out_of_scope_recall: f64,
    pub per_agent: BTreeMap<String, AgentScore>,
    /// Row = expected label, column = routed label; `"(none)"` stands for no agent.
    pub labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
}

pub const NONE_LABEL: &str = "(none)";

/// Routes every example and scores the decisions against the labels.
pub fn evaluate(index: &RouterIndex, examples: &[Example]) -> EvalReport {
    let predictions: Vec<Option<String>> = examples
        .iter()
        .map(|e| {
            index
                .route(&RouteRequest {
                    message: e.text.clone(),
                    channel: e.channel.clone(),
                    ..RouteRequest::default()
                })
                .agent
                .map(|a| a.to_string())
        })
        .collect();
    score(examples, &predictions)
}

/// In-scope accuracy and out-of-scope recall at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurvePoint {
    pub threshold: f64,
    pub in_scope_accuracy: f64,
    pub out_of_scope_recall: f64,
}

/// The graph's quality at each of `thresholds` (the rest of the graph unchanged), so an
/// operator can pick an operating point without relearning.
pub fn curve(
    graph: &agency_skill_graph::SkillGraph,
    examples: &[Example],
    thresholds: &[f64],
) -> Result<Vec<CurvePoint>, crate::BuildError> {
    let mut index = RouterIndex::build(graph)?;
    let mut points = Vec::with_capacity(thresholds.len());
    for &t in thresholds {
        index = index.at_point(t, graph.none_per_word);
        let r = evaluate(&index, examples);
        points.push(CurvePoint {
            threshold: t,
            in_scope_accuracy: r.in_scope_accuracy,
            out_of_scope_recall: r.out_of_scope_recall,
        });
    }
    Ok(points)
}

/// Scores predictions against labels (same order).
pub fn score(examples: &[Example], predictions: &[Option<String>]) -> EvalReport {
    let label = |a: &Option<String>| a.clone().unwrap_or_else(|| NONE_LABEL.to_owned());
    let mut labels: Vec<String> = examples
        .iter()
        .map(|e| label(&e.agent))
        .chain(predictions.iter().map(label))
        .collect();
    labels.sort();
    labels.dedup();
    let pos = |l: &str| labels.iter().position(|x| x == l).unwrap_or(0);
    let mut confusion = vec![vec![0usize; labels.len()]; labels.len()];
    let (mut in_scope, mut correct, mut oos, mut oos_ok) = (0, 0, 0, 0);
    for (e, p) in examples.iter().zip(predictions) {
        confusion[pos(&label(&e.agent))][pos(&label(p))] += 1;
        match &e.agent {
            Some(_) => {
                in_scope += 1;
                correct += usize::from(&e.agent == p);
            }
            None => {
                oos += 1;
                oos_ok += usize::from(p.is_none());
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut per_agent = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        if l == NONE_LABEL {
            continue;
        }
        let tp = confusion[i][i];
        let predicted: usize = confusion.iter().map(|row| row[i]).sum();
        let actual: usize = confusion[i].iter().sum();
        let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
        let f1 = if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        };
        per_agent.insert(
            l.clone(),
            AgentScore {
                precision: p,
                recall: r,
                f1,
                support: actual,
            },
        );
    }
    EvalReport {
        examples: examples.len(),
        in_scope,
        out_of_scope: oos,
        in_scope_accuracy: ratio(correct, in_scope),
        out_of_scope_recall: ratio(oos_ok, oos),
        per_agent,
        labels,
        confusion,
    }
}

impl EvalReport {
    /// A human-readable report: headline numbers, per-agent table, confusion matrix.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "examples: {} ({} in scope, {} out of scope)\nin-scope accuracy:   {:.4}\nout-of-scope recall: {:.4}\n\n",
            self.examples,
            self.in_scope,
            self.out_of_scope,
            self.in_scope_accuracy,
            self.out_of_scope_recall
        );
        let w = self
            .labels
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(5)
            .max(5);
        out.push_str(&format!(
            "{:<w$}  precision  recall  f1      support\n",
            "agent"
        ));
        for (a, s) in &self.per_agent {
            out.push_str(&format!(
                "{a:<w$}  {:<9.4}  {:<6.4}  {:<6.4}  {}\n",
                s.precision, s.recall, s.f1, s.support
            ));
        }
        out.push_str("\nconfusion (rows: expected, columns: routed)\n");
        let short: Vec<String> = self
            .labels
            .iter()
            .map(|l| l.chars().take(6).collect())
            .collect();
        out.push_str(&format!("{:<w$}", ""));
        for s in &short {
            out.push_str(&format!(" {s:>6}"));
        }
        out.push('\n');
        for (i, row) in self.confusion.iter().enumerate() {
            out.push_str(&format!("{:<w$}", self.labels[i]));
            for c in row {
                out.push_str(&format!(" {c:>6}"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(agent: Option<&str>) -> Example {
        Example {
            text: String::new(),
            agent: agent.map(str::to_owned),
            channel: None,
        }
    }

    #[test]
    fn scores_accuracy_recall_and_f1() {
        let examples = [
            ex(Some("a")),
            ex(Some("a")),
            ex(Some("b")),
            ex(None),
            ex(None),
        ];
        let preds = [
            Some("a".into()),
            Some("b".into()),
            Some("b".into()),
            None,
            Some("a".into()),
        ];
        let r = score(&examples, &preds);
        assert!((r.in_scope_accuracy - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.out_of_scope_recall - 0.5).abs() < 1e-9);
        let a = &r.per_agent["a"];
        assert!((a.precision - 0.5).abs() < 1e-9 && (a.recall - 0.5).abs() < 1e-9);
        assert_eq!(r.labels, vec!["(none)", "a", "b"]);
        assert_eq!(r.confusion[1], vec![0, 1, 1]);
    }
}
