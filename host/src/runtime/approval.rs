//! Policy instances of the approval component.

use agency_approval::{
    ApprovalRequest, BudgetStatus, Decision, HaltState, LedgerChange, LedgerSnapshot, Micros,
    Outcome,
};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::approval::ApprovalComponent;
use super::bindings::approval::exports::agency::core::approval as wit;
use super::{ComponentRuntime, RuntimeError};

/// One instance of the approval component holding one parsed policy.
pub struct PolicyInstance {
    store: Store<()>,
    bindings: ApprovalComponent,
    policy: ResourceAny,
    deadline_ticks: u64,
}

impl PolicyInstance {
    pub(super) fn new(
        runtime: &ComponentRuntime,
        toml: &str,
        file: &str,
    ) -> Result<PolicyInstance, RuntimeError> {
        let mut store = Store::new(&runtime.engine, ());
        super::router::prepare_store(&mut store, runtime, None)?;
        let bindings = runtime
            .approval_pre
            .instantiate(&mut store)
            .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        let policy = bindings
            .agency_core_approval()
            .policy()
            .call_parse(&mut store, toml, file)
            .map_err(|e| RuntimeError::Trap(format!("{e:#}")))?
            .map_err(|errors| RuntimeError::InvalidPolicy(errors.join("\n")))?;
        Ok(PolicyInstance {
            store,
            bindings,
            policy,
            deadline_ticks: super::router::ticks(runtime.options.call_timeout),
        })
    }

    /// The component's decision, in the core crate's types.
    pub fn decide(
        &mut self,
        request: &ApprovalRequest,
        ledger: &LedgerSnapshot,
        halt: &HaltState,
        now_ms: i64,
    ) -> Result<Decision, RuntimeError> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        let req = wit::ApprovalRequest {
            task_id: request.task_id.clone(),
            agent: request.agent.clone(),
            action: request.action.clone(),
            description: request.description.clone(),
            estimated_cost_micros: request.estimated_cost.0,
            channel: request.channel.clone(),
            environment: request.environment.clone(),
            risk: request.risk.clone(),
            tags: request.tags.clone(),
        };
        let entries: Vec<wit::LedgerEntry> = ledger
            .used
            .iter()
            .map(|(k, v)| wit::LedgerEntry {
                key: k.clone(),
                used_micros: v.0,
            })
            .collect();
        let halt = wit::HaltState {
            all: halt.all,
            agents: halt.agents.iter().cloned().collect(),
            tasks: halt.tasks.iter().cloned().collect(),
        };
        let d = self
            .bindings
            .agency_core_approval()
            .policy()
            .call_decide(&mut self.store, self.policy, &req, &entries, &halt, now_ms)
            .map_err(|e| RuntimeError::Trap(format!("{e:#}")))?;
        Ok(Decision {
            outcome: match d.outcome {
                wit::Outcome::Approved => Outcome::Approved,
                wit::Outcome::Denied => Outcome::Denied,
                wit::Outcome::Pending => Outcome::Pending,
            },
            reason_code: reason_code(&d.reason_code),
            reason: d.reason,
            rule: d.rule,
            budget: d.budget.map(|b| BudgetStatus {
                scope: b.scope,
                remaining: Micros(b.remaining_micros),
            }),
            expires_at_ms: d.expires_at_ms,
            change: LedgerChange {
                reserve: d
                    .reserve
                    .into_iter()
                    .map(|r| (r.key, Micros(r.micros)))
                    .collect(),
            },
        })
    }
}

/// The reason codes the core crate uses, as static strings.
fn reason_code(code: &str) -> &'static str {
    match code {
        "rule" => "rule",
        "default" => "default",
        "budget" => "budget",
        "halted" => "halted",
        _ => "unknown",
    }
}
