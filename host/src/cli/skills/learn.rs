//! `skills learn`: from labelled messages, or from the stored decisions and their
//! feedback (`--from-audit`), written where `--out` says.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agency_router::calibrate::{self, Abstain};
use agency_router::relearn::relearn;
use agency_skill_graph::SkillGraph;
use agency_skill_graph::learn::{LabelledMessage, LearnOptions};

use agency::audit::Source;
use agency::graph_files;

use super::SkillPer;

/// `skills learn --examples`: a graph learned from labelled messages, with its
/// operating point calibrated and, with `--affinity-ttl`, the switch margin proposed
/// from the same folds.
pub(super) fn from_examples(
    examples: &Path,
    out: &Path,
    abstain: Abstain,
    skill_per: SkillPer,
    affinity_ttl: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let messages: Vec<LabelledMessage> = crate::cli::read_jsonl(examples)?;
    let (mut graph, curve) = calibrate::learn(&messages, &skill_per.options(), abstain)
        .map_err(|e| anyhow::anyhow!("{}: {e}", examples.display()))?;
    let proposed = graph
        .calibration
        .as_ref()
        .and_then(|c| calibrate::propose_switch_margin(&curve, c));
    match proposed {
        Some(m) => println!(
            "affinity: switch margin {} proposed ({:.1}% of the folds' messages no agent should take stay under it; {:.1}% of in-scope messages reach it for their own agent){}",
            m.switch_margin,
            m.stays * 100.0,
            m.switches * 100.0,
            if affinity_ttl.is_some() {
                ""
            } else {
                "; --affinity-ttl SECONDS writes it"
            }
        ),
        None => println!(
            "affinity: no switch margin keeps {:.0}% of the folds' messages no agent should take",
            calibrate::SWITCH_STAYS * 100.0
        ),
    }
    if let Some(ttl_seconds) = affinity_ttl {
        let Some(m) = proposed else {
            anyhow::bail!(
                "{}: --affinity-ttl: no switch margin to propose from these examples (set affinity in graph.yaml by hand)",
                examples.display()
            );
        };
        graph.affinity = Some(agency_skill_graph::Affinity {
            ttl_seconds,
            switch_margin: m.switch_margin,
        });
    }
    write_learned(&graph, out, &format!("{} messages", messages.len()))
}

/// What `skills learn --from-audit` reads besides its source.
pub(super) struct AuditInputs {
    /// The graph to relearn (default: the source's current one).
    pub(super) graph: Option<PathBuf>,
    /// How many of the source's newest decisions to read.
    pub(super) limit: u32,
    /// An archive whose decisions are read too.
    pub(super) archive: Option<PathBuf>,
    /// The base set of labelled messages.
    pub(super) base: Option<PathBuf>,
}

/// `skills learn --from-audit`: the router core's [`relearn`] over the source's stored
/// decisions (those with feedback are the examples; without `base`, the others anchor).
pub(super) fn from_audit(
    source: &Source,
    inputs: AuditInputs,
    out: &Path,
    abstain: Abstain,
    options: &LearnOptions,
) -> anyhow::Result<ExitCode> {
    let AuditInputs {
        graph,
        limit,
        archive,
        base,
    } = inputs;
    let base: Option<Vec<LabelledMessage>> =
        base.as_ref().map(crate::cli::read_jsonl).transpose()?;
    let (existing, decisions) = super::runtime()?.block_on(async {
        let existing = match &graph {
            Some(path) => graph_files::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => source.current_graph().await?,
        };
        // With the base set only the feedback counts; without it the rest anchors.
        let decisions = source.decisions(limit, base.is_some()).await?;
        anyhow::Ok((existing, decisions))
    })?;
    let mut decisions = decisions;
    let mut archived = 0;
    if let Some(dir) = &archive {
        let stored: std::collections::HashSet<String> =
            decisions.iter().map(|d| d.decision_id.clone()).collect();
        for d in agency::retention::archived_decisions(dir, base.is_some())? {
            // A crash between archiving and deleting leaves both copies.
            if !stored.contains(&d.decision_id) {
                decisions.push(d);
                archived += 1;
            }
        }
    }
    let (graph, counts) = relearn(&existing, &decisions, base.as_deref(), options, abstain)
        .map_err(|e| anyhow::anyhow!("{}: {e}", source.name()))?;
    let mut from = format!(
        "{} decisions with feedback at {} ({} corrected, {} confirmed; {} say nobody)",
        counts.labelled(),
        source.name(),
        counts.corrected,
        counts.confirmed,
        counts.out_of_scope
    );
    if let Some(dir) = &archive {
        from.push_str(&format!(
            " (with {archived} archived decisions from {})",
            dir.display()
        ));
    }
    if counts.skipped > 0 {
        from.push_str(&format!(
            ", {} skipped (their agent is not in the graph)",
            counts.skipped
        ));
    }
    match &base {
        Some(b) => from.push_str(&format!(" and {} base messages", b.len())),
        None => from.push_str(&format!(
            ", warm-started, {} undisputed decisions kept as anchors",
            counts.anchors
        )),
    }
    write_learned(&graph, out, &from)
}

/// Writes a learned graph to `out` and reports what the file holds.
fn write_learned(graph: &SkillGraph, out: &Path, from: &str) -> anyhow::Result<ExitCode> {
    graph_files::write(graph, out)
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", out.display()))?;
    // Read back what was written, so what we report is what the file holds.
    let written = graph_files::load(out)
        .map_err(|e| anyhow::anyhow!("the learned graph does not load back:\n{e}"))?;
    println!(
        "{}: learned from {from}: {}",
        out.display(),
        written.summary()
    );
    match &written.calibration {
        Some(c) => println!("{}", super::calibration_line(c)),
        None => println!(
            "threshold {} (not calibrated: folds need at least two agents)",
            written.threshold
        ),
    }
    Ok(ExitCode::SUCCESS)
}
