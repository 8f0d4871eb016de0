use std::path::PathBuf;
use std::process::ExitCode;

use agency_approval::contract::ApprovalBody;
use agency_approval::{Grant, HaltState, LedgerSnapshot, Micros, Outcome, Policy, decide, explain};
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
        /// A running assistant's base URL: its grants in force are shown, with whether
        /// each would approve the request were the policy to ask.
        #[arg(long)]
        grants_from: Option<String>,
        /// Bearer token for --grants-from (any role reads grants).
        #[arg(long, env = "AGENCY_OPERATOR_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

/// The grants in force at `base` (`GET /api/grants?status=active`), as the core reads
/// them (in force now: the server listed them as active).
fn grants_from(base: &str, token: Option<&str>) -> anyhow::Result<Vec<Grant>> {
    let url = format!(
        "{}/api/grants?status=active&limit=1000",
        base.trim_end_matches('/')
    );
    let (status, body) =
        agency::audit::http_call(&url, token, http::Method::GET, &serde_json::Value::Null)
            .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
    if status != 200 {
        anyhow::bail!("GET {url} answered {status}: {body}");
    }
    let listed: agency_assistant_service::grants::Grants = serde_json::from_value(body)
        .map_err(|e| anyhow::anyhow!("GET {url}: the grants do not parse: {e}"))?;
    let usd = |v: f64| Micros::from_usd(v).unwrap_or(Micros::MAX_LEDGER);
    Ok(listed
        .grants
        .into_iter()
        .map(|g| Grant {
            id: g.grant_id,
            agent: g.agent,
            action: g.action,
            environment: g.environment,
            channel: g.channel,
            max_task_cost: g.max_task_cost_usd.map(usd),
            total: g.total_cost_usd.map(usd),
            used: usd(g.used_cost_usd),
            expires_at_ms: i64::MAX,
            revoked: false,
            by: g.created_by,
        })
        .collect())
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
            grants_from: from,
            token,
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
            let grants = match &from {
                Some(base) => grants_from(base, token.as_deref())?,
                None => Vec::new(),
            };
            // A grant only ever turns an ask into an approval.
            let granted_by = (d.outcome == Outcome::Pending)
                .then(|| {
                    agency_approval::grant::covering(&grants, &req, now)
                        .first()
                        .map(|g| g.id.clone())
                })
                .flatten();
            let grant_trace: Vec<serde_json::Value> = grants
                .iter()
                .map(|g| {
                    let covers = g.covers(&req, now);
                    serde_json::json!({
                        "grantId": g.id,
                        "by": g.by,
                        "covers": covers.is_ok(),
                        "why": covers.err().map(|m| m.to_string()),
                    })
                })
                .collect();
            if json {
                let v = serde_json::json!({
                    "rules": trace,
                    "decision": outcome,
                    "reasonCode": d.reason_code.as_str(),
                    "reason": d.reason,
                    "rule": d.rule,
                    "budget": d.budget.map(|b| serde_json::json!({"scope": b.scope, "remainingUsd": b.remaining.to_usd()})),
                    "grants": grant_trace,
                    "grantedBy": granted_by,
                    "escalation": d.escalate.as_ref().map(|e| serde_json::json!({
                        "to": e.to,
                        "afterSecs": (e.at_ms - now) / 1000,
                    })),
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
                if let Some(e) = &d.escalate {
                    println!(
                        "escalation: unanswered after {} s, it also goes to approver group {}",
                        (e.at_ms - now) / 1000,
                        e.to
                    );
                }
                for t in &grant_trace {
                    match t["why"].as_str() {
                        None => println!(
                            "grant {}: covers this request",
                            t["grantId"].as_str().unwrap_or("")
                        ),
                        Some(why) => println!(
                            "grant {}: does not cover it: {why}",
                            t["grantId"].as_str().unwrap_or("")
                        ),
                    }
                }
                if let Some(g) = &granted_by {
                    println!(
                        "with the grants in force: approved by grant {g} (budgets permitting)"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
