//! Policy instances of the approval component.

use agency_approval::{
    ApprovalRequest, BudgetStatus, Decision, HaltState, LedgerChange, LedgerSnapshot, Micros,
    Outcome, ReasonCode,
};
use wasmtime::component::ResourceAny;
use wasmtime::{Engine, Store};

use super::bindings::approval::exports::agency::core::approval as wit;
use super::bindings::approval::{ApprovalComponent, ApprovalComponentPre};
use super::{ComponentRuntime, RuntimeError, RuntimeOptions};

/// The approval component holding one parsed policy. An instance that traps is not used
/// again (its state is undefined): it is dropped and a fresh one, with the same policy,
/// takes its place, as the router pool does with router instances.
pub struct PolicyInstance {
    live: Option<Live>,
    engine: Engine,
    pre: ApprovalComponentPre<()>,
    options: RuntimeOptions,
    toml: String,
    file: String,
    deadline_ticks: u64,
    /// Instances made so far: 1, plus one per replacement after a trap.
    generation: u64,
}

/// One instance and the policy parsed inside it.
struct Live {
    store: Store<()>,
    bindings: ApprovalComponent,
    policy: ResourceAny,
}

/// A trap of the approval component, named so (the router's are named for the router).
fn trap(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Trap(format!("approval component: {e}"))
}

impl Live {
    fn new(
        engine: &Engine,
        pre: &ApprovalComponentPre<()>,
        options: &RuntimeOptions,
        toml: &str,
        file: &str,
    ) -> Result<Live, RuntimeError> {
        let mut store = Store::new(engine, ());
        super::router::prepare_store(&mut store, options, None)?;
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        let policy = bindings
            .agency_core_approval()
            .policy()
            .call_parse(&mut store, toml, file)
            .map_err(|e| trap(format_args!("{e:#}")))?
            .map_err(|errors| RuntimeError::InvalidPolicy(errors.join("\n")))?;
        Ok(Live {
            store,
            bindings,
            policy,
        })
    }
}

impl PolicyInstance {
    pub(super) fn new(
        runtime: &ComponentRuntime,
        toml: &str,
        file: &str,
    ) -> Result<PolicyInstance, RuntimeError> {
        let live = Live::new(
            &runtime.engine,
            &runtime.approval_pre,
            &runtime.options,
            toml,
            file,
        )?;
        Ok(PolicyInstance {
            live: Some(live),
            engine: runtime.engine.clone(),
            pre: runtime.approval_pre.clone(),
            options: runtime.options.clone(),
            toml: toml.to_owned(),
            file: file.to_owned(),
            deadline_ticks: super::router::ticks(runtime.options.call_timeout),
            generation: 1,
        })
    }

    /// How many instances this policy has had: 1, plus one per trap.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The live instance, made afresh when the last one trapped.
    fn live(&mut self) -> Result<&mut Live, RuntimeError> {
        let live = match self.live.take() {
            Some(live) => live,
            None => {
                let fresh = Live::new(
                    &self.engine,
                    &self.pre,
                    &self.options,
                    &self.toml,
                    &self.file,
                )?;
                self.generation += 1;
                fresh
            }
        };
        Ok(self.live.insert(live))
    }

    /// The component's decision, in the core crate's types. When the call traps, the
    /// instance is dropped and replaced (right away, or on the next call if that
    /// fails), and the trap is returned.
    pub fn decide(
        &mut self,
        request: &ApprovalRequest,
        ledger: &LedgerSnapshot,
        halt: &HaltState,
        now_ms: i64,
    ) -> Result<Decision, RuntimeError> {
        let result = self.call_decide(request, ledger, halt, now_ms);
        if let Err(RuntimeError::Trap(e)) = &result {
            tracing::error!(error = %e, "approval component trapped; instance replaced");
            self.live = None;
            if let Err(e) = self.live() {
                tracing::error!(error = %e, "replacing the approval component failed; retrying on the next call");
            }
        }
        result
    }

    fn call_decide(
        &mut self,
        request: &ApprovalRequest,
        ledger: &LedgerSnapshot,
        halt: &HaltState,
        now_ms: i64,
    ) -> Result<Decision, RuntimeError> {
        let deadline = self.deadline_ticks;
        let live = self.live()?;
        live.store.set_epoch_deadline(deadline);
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
            channels: halt.channels.iter().cloned().collect(),
            tasks: halt.tasks.iter().cloned().collect(),
        };
        let d = live
            .bindings
            .agency_core_approval()
            .policy()
            .call_decide(&mut live.store, live.policy, &req, &entries, &halt, now_ms)
            .map_err(|e| trap(format_args!("{e:#}")))?;
        Ok(Decision {
            outcome: match d.outcome {
                wit::Outcome::Approved => Outcome::Approved,
                wit::Outcome::Denied => Outcome::Denied,
                wit::Outcome::Pending => Outcome::Pending,
            },
            reason_code: ReasonCode::parse(&d.reason_code).ok_or_else(|| {
                trap(format_args!(
                    "the policy component answered an unknown reason code {:?}",
                    d.reason_code
                ))
            })?,
            reason: d.reason,
            rule: d.rule,
            budget: d.budget.map(|b| BudgetStatus {
                scope: b.scope,
                remaining: Micros(b.remaining_micros),
            }),
            expires_at_ms: d.expires_at_ms,
            escalate: d.escalate.map(|e| agency_approval::EscalateAt {
                at_ms: e.at_ms,
                to: e.to,
            }),
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
