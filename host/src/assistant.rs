//! The policy as the local server runs it: through the approval component (default)
//! or natively, behind one call.

use std::sync::Mutex;

use agency_approval::{ApprovalRequest, Decision, HaltState, LedgerSnapshot, Policy, decide};

use crate::runtime::PolicyInstance;

pub struct Assistant {
    /// The parsed policy (budgets are read from it for reports).
    pub policy: Policy,
    /// The same policy inside the approval component, when the engine is wasm. An
    /// instance that traps is replaced by a fresh one ([`PolicyInstance::decide`]).
    pub component: Option<Mutex<PolicyInstance>>,
}

impl Assistant {
    pub fn decide(
        &self,
        request: &ApprovalRequest,
        ledger: &LedgerSnapshot,
        halt: &HaltState,
        now_ms: i64,
    ) -> Result<Decision, String> {
        match &self.component {
            Some(c) => c
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .decide(request, ledger, halt, now_ms)
                .map_err(|e| e.to_string()),
            None => Ok(decide(request, ledger, halt, &self.policy, now_ms)),
        }
    }
}
