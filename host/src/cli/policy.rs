use std::path::PathBuf;
use std::process::ExitCode;

use agency_approval::contract::ApprovalBody;
use agency_approval::{HaltState, LedgerSnapshot, Outcome, Policy, decide, explain};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file; errors are FILE:LINE: message.
    Check { file: PathBuf },
    /// Show which rules match a request and why, and what the policy would decide
    /// (with nothing spent yet and nothing halted).
    Explain {
        #[arg(long)]
        policy: PathBuf,
        /// A JSON approval request: {taskId, agent, action, estimatedCostUsd, ...}.
        request: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn load(file: &PathBuf) -> Result<Policy, ExitCode> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return Err(ExitCode::FAILURE);
        }
    };
    Policy::parse(&text, &file.display().to_string()).map_err(|errors| {
        for e in &errors {
            println!("{e}");
        }
        ExitCode::FAILURE
    })
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { file } => match load(&file) {
            Ok(p) => {
                let scopes = 1 + p.budget.agents.len() + p.budget.channels.len();
                println!(
                    "{}: ok: {} rules, {} budget scopes",
                    file.display(),
                    p.rules.len(),
                    scopes
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(code) => Ok(code),
        },
        PolicyCommand::Explain {
            policy,
            request,
            json,
        } => {
            let p = match load(&policy) {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            let text = std::fs::read_to_string(&request)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", request.display()))?;
            let body: ApprovalBody = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", request.display(), e.line()))?;
            let req = body
                .into_request()
                .map_err(|e| anyhow::anyhow!("{}: {e}", request.display()))?;
            let now = agency::store::now_ms();
            let trace = explain(&req, &p);
            let d = decide(
                &req,
                &LedgerSnapshot::default(),
                &HaltState::default(),
                &p,
                now,
            );
            let outcome = match d.outcome {
                Outcome::Approved => "approved",
                Outcome::Denied => "denied",
                Outcome::Pending => "pending",
            };
            if json {
                let v = serde_json::json!({
                    "rules": trace,
                    "decision": outcome,
                    "reasonCode": d.reason_code.as_str(),
                    "reason": d.reason,
                    "rule": d.rule,
                    "budget": d.budget.map(|b| serde_json::json!({"scope": b.scope, "remainingUsd": b.remaining.to_usd()})),
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for t in &trace {
                    let mark = if t.matched { "matches " } else { "no match" };
                    println!(
                        "{}:{}: {mark} rule {:?} ({:?}): {}",
                        policy.display(),
                        t.line,
                        t.rule,
                        t.effect,
                        t.why
                    );
                }
                println!("decision: {outcome} ({}): {}", d.reason_code, d.reason);
                if let Some(b) = d.budget {
                    println!("budget: {} has {} left", b.scope, b.remaining);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
