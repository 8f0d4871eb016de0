//! The example agency bundled into the binary for `agency serve --example`. A test
//! checks this list against `examples/graph/`.

use agency_skill_graph::{GraphErrors, SkillGraph, source};

/// The example agency's approval policy.
pub const POLICY: &str = include_str!("../../examples/policy/policy.toml");

pub const FILES: &[(&str, &str)] = &[
    (
        "graph.yaml",
        include_str!("../../examples/graph/graph.yaml"),
    ),
    (
        "skills/bug-fixing.md",
        include_str!("../../examples/graph/skills/bug-fixing.md"),
    ),
    (
        "skills/ci-pipelines.md",
        include_str!("../../examples/graph/skills/ci-pipelines.md"),
    ),
    (
        "skills/code-implementation.md",
        include_str!("../../examples/graph/skills/code-implementation.md"),
    ),
    (
        "skills/deployment.md",
        include_str!("../../examples/graph/skills/deployment.md"),
    ),
    (
        "skills/incident-response.md",
        include_str!("../../examples/graph/skills/incident-response.md"),
    ),
    (
        "skills/infrastructure.md",
        include_str!("../../examples/graph/skills/infrastructure.md"),
    ),
    (
        "skills/market-research.md",
        include_str!("../../examples/graph/skills/market-research.md"),
    ),
    (
        "skills/refactoring.md",
        include_str!("../../examples/graph/skills/refactoring.md"),
    ),
    (
        "skills/requirements-writing.md",
        include_str!("../../examples/graph/skills/requirements-writing.md"),
    ),
    (
        "skills/secrets-and-access.md",
        include_str!("../../examples/graph/skills/secrets-and-access.md"),
    ),
    (
        "skills/security-review.md",
        include_str!("../../examples/graph/skills/security-review.md"),
    ),
    (
        "skills/sprint-planning.md",
        include_str!("../../examples/graph/skills/sprint-planning.md"),
    ),
    (
        "skills/status-reporting.md",
        include_str!("../../examples/graph/skills/status-reporting.md"),
    ),
    (
        "skills/summarization.md",
        include_str!("../../examples/graph/skills/summarization.md"),
    ),
    (
        "skills/task-complexity-assessment.md",
        include_str!("../../examples/graph/skills/task-complexity-assessment.md"),
    ),
    (
        "skills/technical-research.md",
        include_str!("../../examples/graph/skills/technical-research.md"),
    ),
    (
        "skills/test-writing.md",
        include_str!("../../examples/graph/skills/test-writing.md"),
    ),
    (
        "skills/vulnerability-triage.md",
        include_str!("../../examples/graph/skills/vulnerability-triage.md"),
    ),
];

/// The example skill graph, parsed and validated.
pub fn graph() -> Result<SkillGraph, GraphErrors> {
    let files: Vec<(String, String)> = FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    source::parse_dir(&files)
}
