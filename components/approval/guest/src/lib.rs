//! The approval component: a thin wit-bindgen shim over `agency-approval`. It only
//! converts between WIT and core types; every decision is made in the core crate.
#![allow(unsafe_code)] // generated export glue

use agency_approval::{
    ApprovalRequest, Decision, HaltState, LedgerSnapshot, Micros, Outcome, Policy, decide,
};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "approval-component",
    });
}

use bindings::exports::agency::core::approval::{self as wit, GuestPolicy};

struct Component;

struct CompiledPolicy {
    inner: Policy,
}

impl wit::Guest for Component {
    type Policy = CompiledPolicy;
}

impl GuestPolicy for CompiledPolicy {
    fn parse(toml: String, file: String) -> Result<wit::Policy, Vec<String>> {
        Policy::parse(&toml, &file)
            .map(|inner| wit::Policy::new(CompiledPolicy { inner }))
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    fn decide(
        &self,
        request: wit::ApprovalRequest,
        ledger: Vec<wit::LedgerEntry>,
        halt: wit::HaltState,
        now_ms: i64,
    ) -> wit::Decision {
        let request = ApprovalRequest {
            task_id: request.task_id,
            agent: request.agent,
            action: request.action,
            description: request.description,
            estimated_cost: Micros(request.estimated_cost_micros),
            channel: request.channel,
            environment: request.environment,
            risk: request.risk,
            tags: request.tags,
        };
        let ledger = LedgerSnapshot {
            used: ledger
                .into_iter()
                .map(|e| (e.key, Micros(e.used_micros)))
                .collect(),
        };
        let halt = HaltState {
            all: halt.all,
            agents: halt.agents.into_iter().collect(),
            channels: halt.channels.into_iter().collect(),
            tasks: halt.tasks.into_iter().collect(),
        };
        to_wit(decide(&request, &ledger, &halt, &self.inner, now_ms))
    }
}

fn to_wit(d: Decision) -> wit::Decision {
    wit::Decision {
        outcome: match d.outcome {
            Outcome::Approved => wit::Outcome::Approved,
            Outcome::Denied => wit::Outcome::Denied,
            Outcome::Pending => wit::Outcome::Pending,
        },
        reason_code: d.reason_code.as_str().to_owned(),
        reason: d.reason,
        rule: d.rule,
        budget: d.budget.map(|b| wit::BudgetStatus {
            scope: b.scope,
            remaining_micros: b.remaining.0,
        }),
        expires_at_ms: d.expires_at_ms,
        escalate: d.escalate.map(|e| wit::Escalation {
            at_ms: e.at_ms,
            to: e.to,
        }),
        reserve: d
            .change
            .reserve
            .into_iter()
            .map(|(key, m)| wit::Reservation { key, micros: m.0 })
            .collect(),
    }
}

bindings::export!(Component with_types_in bindings);
