//! A black-box HTTP conformance suite for the Agency API. It only speaks HTTP to base
//! URLs, so the same checks run against `agency serve` (one URL for everything) and
//! against the Workers under `wrangler dev` (one URL per Worker).

mod assistant;
mod audit;
mod checks;
mod client;
mod exports;
pub mod fakes;
mod grants;
mod monitoring;
mod overrun;
mod pools;
mod races;
mod routing;
pub mod webhooks;

pub use checks::run;

/// Where the API lives and which tokens to use.
#[derive(Debug, Clone)]
pub struct Target {
    /// Serves `/api/route*`.
    pub router: String,
    /// Serves `/api/graph`, `/api/agents*`, `/api/channels`, `/api/search`.
    pub graph: String,
    /// Serves the approval assistant (`/api/approve`, `/api/approvals*`, `/api/halt`,
    /// `/api/resume`, `/api/spend`, `/api/budget`, `/api/audit`, `/api/chat`), when the
    /// deployment has one. It must run the example policy (`examples/policy/policy.toml`).
    pub assistant: Option<String>,
    /// The assistant's chat model is `scripts/fake-chat-model.py`: check the free-text
    /// path (history sent, suggestions never executed).
    pub fake_model: bool,
    /// The assistant's policy adds `examples/policy/quick-expiry.toml`'s rule (asks for
    /// action `conformance-expiry` expire after one second): check that expired asks
    /// count as denied.
    pub quick_expiry: bool,
    /// The webhook service and the fakes it is pointed at, when the deployment has
    /// one (configured as [`webhooks::server_config`] says).
    pub webhooks: Option<webhooks::WebhookTarget>,
    /// Serves `/metrics` and `/api/stats` for every part, when the deployment has a
    /// monitoring service.
    pub monitoring: Option<String>,
    pub gateway_token: String,
    pub operator_token: String,
    pub viewer_token: String,
}

/// The graph the suite uploads before routing, so results don't depend on what the
/// server was started with.
pub const GRAPH: &str = include_str!("../data/graph.json");

/// Outcome of one named check.
#[derive(Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub result: Result<(), String>,
}

/// Prints outcomes and a closing `N passed, N failed` line; true when all passed.
pub fn report(outcomes: &[Outcome]) -> bool {
    let mut failed = 0;
    for o in outcomes {
        match &o.result {
            Ok(()) => println!("conformance: ok    {}", o.name),
            Err(e) => {
                failed += 1;
                println!("conformance: FAIL  {}: {e}", o.name);
            }
        }
    }
    println!(
        "conformance: {} passed, {} failed",
        outcomes.len() - failed,
        failed
    );
    failed == 0
}
