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

/// With `--example` and no sources configured: one example source per platform, all
/// with the id `example` (`POST /slack/example`, `/telegram/example`,
/// `/discord/example`), with secrets made for this run; the lines to print show them
/// (and the Discord private key, so a test client can sign as Discord would).
pub fn webhook_sources()
-> Result<(Vec<agency_webhooks_service::settings::Source>, Vec<String>), String> {
    use agency_kit::Random;
    use agency_webhooks_service::settings::Source;
    let random = crate::server::ports::OsRandom;
    let hex = |n: usize| -> Result<String, String> {
        let mut b = vec![0u8; n];
        random.fill(&mut b).map_err(|e| e.to_string())?;
        Ok(b.iter().map(|x| format!("{x:02x}")).collect())
    };
    let slack_secret = hex(16)?;
    let telegram_secret = hex(16)?;
    let mut seed = [0u8; 32];
    random.fill(&mut seed).map_err(|e| e.to_string())?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public: String = signing
        .verifying_key()
        .to_bytes()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    let private: String = seed.iter().map(|x| format!("{x:02x}")).collect();
    let sources = vec![
        Source::slack("example", &slack_secret).map_err(|e| e.to_string())?,
        Source::telegram("example", &telegram_secret).map_err(|e| e.to_string())?,
        Source::discord("example", "example", &public).map_err(|e| e.to_string())?,
    ];
    let lines = vec![
        "Example webhook sources (no [webhooks] configured), secrets for this run:".to_owned(),
        format!("  POST /slack/example     signing secret {slack_secret}"),
        format!("  POST /telegram/example  secret token {telegram_secret}"),
        format!("  POST /discord/example   public key {public} (private key {private})"),
    ];
    Ok((sources, lines))
}
