//! One Durable Object per source (`slack:T123`) holds that source's gate: its dedup
//! keys and its token bucket ([`agency_webhooks_service::gate::Gate`], the service's
//! SQL). An object runs one request at a time with synchronous storage, so two
//! deliveries of one event racing through different isolates cannot both pass.

use std::cell::Cell;

use agency_edge::ObjectSql;
use agency_kit::ports::SyncSql;
use agency_webhooks_service::gate::{self, GATE_SCHEMA, GateOp};
use worker::{DurableObject, Env, Request, Response, State, durable_object};

#[durable_object]
pub struct Gate {
    state: State,
    /// The minute keys were last pruned in.
    pruned: Cell<i64>,
}

impl Gate {
    fn gate(&self) -> gate::Gate<ObjectSql> {
        gate::Gate(ObjectSql(self.state.storage().sql()))
    }
}

impl DurableObject for Gate {
    fn new(state: State, _env: Env) -> Self {
        let g = Gate {
            state,
            pruned: Cell::new(0),
        };
        let sql = ObjectSql(g.state.storage().sql());
        for q in GATE_SCHEMA {
            if let Err(e) = sql.run(q, &[]) {
                worker::console_error!("gate schema: {e}");
            }
        }
        g
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let op: GateOp = match req.json().await {
            Ok(op) => op,
            Err(e) => return Response::error(format!("not a gate operation: {e}"), 400),
        };
        let answer = match op {
            GateOp::Admit(entry) => {
                let minute = entry.now_ms / 60_000;
                if minute != self.pruned.get() {
                    self.pruned.set(minute);
                    if let Err(e) = self.gate().prune(entry.now_ms) {
                        worker::console_error!("gate prune: {e}");
                    }
                }
                self.gate()
                    .admit(&entry)
                    .map(|a| serde_json::to_value(a).unwrap_or_default())
            }
            GateOp::Forget { keys, event_id } => self
                .gate()
                .forget(&keys, &event_id)
                .map(|()| serde_json::json!({})),
        };
        match answer {
            Ok(v) => Response::from_json(&v),
            Err(e) => {
                worker::console_error!("gate: {e}");
                Response::error("gate storage error", 500)
            }
        }
    }
}
