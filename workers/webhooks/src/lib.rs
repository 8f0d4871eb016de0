//! The webhook Worker: wiring only. `agency_webhooks_service` answers every request and
//! does every step of the consumer; this crate implements its ports on the bindings:
//! the gate in a Durable Object per source ([`gate`]), events and calls in D1, work
//! carried by the Queue (its consumer and dead-letter consumer are here), the router and
//! the assistant over service bindings, HTTP out with `fetch`. A cron sweeps approval
//! cards and re-sends work whose message was lost.

mod gate;

use std::rc::Rc;

use agency_edge::{D1, OrPort};
use agency_kit::{ApiError, Clock};
use agency_webhooks_service::config::{self, Sections};
use agency_webhooks_service::consume::{self, Next, Work};
use agency_webhooks_service::gate::GateOp;
use agency_webhooks_service::store::{self, NewEvent};
use agency_webhooks_service::{Admission, Entry, ROUTES, Settings, Wake, WebhookPorts};
use http::StatusCode;
use serde_json::Value;
use worker::{
    Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Request, Response,
    ScheduleContext, ScheduledEvent, event,
};

pub use gate::Gate;

/// Longest delay a Queue message can be retried with (12 hours).
const MAX_DELAY_SECS: u64 = 43_200;

thread_local! {
    static SETTINGS: agency_edge::isolate::ByText<Settings> = const { agency_edge::isolate::ByText::new() };
}

fn config_invalid() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "webhooks_config_invalid",
        "the webhook configuration (AGENCY_WEBHOOKS and the secrets it names) is invalid; see the Worker's log",
    )
}

/// The settings in force, built once per isolate (again when the text changes).
fn settings(env: &Env) -> Result<Rc<Settings>, ApiError> {
    let text = env
        .var("AGENCY_WEBHOOKS")
        .map(|v| v.to_string())
        .unwrap_or_default();
    SETTINGS.with(|cache| {
        cache.get(&text, |text| {
            let sections: Sections = toml::from_str(text).map_err(|e| {
                worker::console_error!("AGENCY_WEBHOOKS: {e}");
                config_invalid()
            })?;
            let secret = |name: &str| {
                env.secret(name)
                    .map(|s| s.to_string())
                    .or_else(|_| env.var(name).map(|v| v.to_string()))
                    .ok()
            };
            config::settings(
                &sections.webhooks,
                sections.gateway.as_ref(),
                &sections.approvers,
                &secret,
            )
            .map_err(|e| {
                worker::console_error!("AGENCY_WEBHOOKS: {e}");
                config_invalid()
            })
        })
    })
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    agency_edge::serve_service(req, &env, &ctx, || Edge::new(&env)).await
}

impl agency_edge::Served for Edge<'_> {
    type Endpoint = agency_webhooks_service::Endpoint;
    fn service() -> &'static agency_kit::Service {
        &agency_webhooks_service::SERVICE
    }
    fn routes() -> &'static [agency_kit::Route<Self::Endpoint>] {
        ROUTES
    }
    async fn health(&self) -> (bool, Value) {
        agency_webhooks_service::health(self).await
    }
    async fn call(&self, e: Self::Endpoint, request: agency_kit::Request) -> agency_kit::ApiResult {
        agency_webhooks_service::call(self, e, &request).await
    }
    /// Every minute: the consumer's sweep (approval cards, halt events for the gateway,
    /// held events whose halt was lifted), and work whose message was lost sent again.
    async fn cron(&self) -> Result<(), ApiError> {
        let swept = consume::sweep(self).await;
        let (events, calls) = store::overdue(self.db(), self.now_ms(), 120_000).await?;
        self.wake(Wake::Events(&events)).await?;
        self.wake(Wake::Calls(&calls)).await?;
        swept.map(|_| ())
    }
}

/// The Queue's consumer: each message is one piece of work ([`consume::work`]); what
/// the dead-letter queue receives is marked dead.
#[event(queue)]
async fn queue(batch: MessageBatch<Work>, env: Env, ctx: Context) -> worker::Result<()> {
    let p = Edge::new(&env).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let dead = agency_webhooks_service::is_dead_letter_queue(&batch.queue());
    for m in batch.messages()? {
        if dead {
            if let Work::Event(id) = m.body()
                && let Err(e) = store::given_up(p.db(), id, p.now_ms()).await
            {
                worker::console_error!("dead letter {id}: {e}");
                m.retry();
                continue;
            }
            m.ack();
            continue;
        }
        match consume::work(&p, m.body()).await {
            Ok(Next::Settled) => m.ack(),
            Ok(Next::RetryIn(secs)) => m.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(secs.min(MAX_DELAY_SECS) as u32)
                    .build(),
            ),
            Err(e) => {
                worker::console_error!("webhook work {:?}: {e} {:?}", m.body(), e.log);
                m.retry();
            }
        }
    }
    // Dispatch durations and the events' counts go to the monitoring Worker.
    if let Some(shipment) = agency_edge::samples::shipment(&env) {
        ctx.wait_until(shipment);
    }
    Ok(())
}

/// Every minute ([`agency_edge::Served::cron`]).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, ctx: ScheduleContext) {
    agency_edge::run_cron(&env, &ctx, || Edge::new(&env)).await;
}

/// The webhook service's ports on this Worker's bindings.
pub struct Edge<'a> {
    env: &'a Env,
    db: D1,
    settings: Rc<Settings>,
}

impl<'a> Edge<'a> {
    fn new(env: &'a Env) -> Result<Self, ApiError> {
        Ok(Edge {
            env,
            db: D1::from_env(env)?,
            settings: settings(env)?,
        })
    }

    async fn send_work(&self, work: Work) -> Result<(), ApiError> {
        self.env
            .queue("WORK")
            .or_storage()?
            .send(work)
            .await
            .or_storage()
    }

    async fn gate<T: serde::de::DeserializeOwned>(
        &self,
        source: &str,
        op: &GateOp,
    ) -> Result<T, ApiError> {
        agency_edge::object::call(self.env, "GATE", source, op).await
    }
}

agency_edge::edge_clock_and_random!(Edge);
agency_edge::edge_calls!(Edge);

impl WebhookPorts for Edge<'_> {
    type Db = D1;

    fn db(&self) -> &D1 {
        &self.db
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The source's object admits it; then D1 records it and the Queue carries it. If
    /// either fails, the object forgets its keys so the platform's retry can pass.
    async fn enqueue(&self, entry: &Entry, event: &NewEvent) -> Result<Admission, ApiError> {
        let admission: Admission = self
            .gate(&entry.source, &GateOp::Admit(entry.clone()))
            .await?;
        if admission != Admission::Accepted {
            return Ok(admission);
        }
        let stored = async {
            agency_kit::Db::batch(&self.db, store::insert_event(event)).await?;
            self.send_work(Work::Event(event.id.clone())).await
        };
        if let Err(e) = stored.await {
            let forget = GateOp::Forget {
                keys: entry.keys.clone(),
                event_id: entry.event_id.clone(),
            };
            if let Err(f) = self.gate::<Value>(&entry.source, &forget).await {
                worker::console_error!("gate forget after a failed enqueue: {f}");
            }
            return Err(e);
        }
        Ok(Admission::Accepted)
    }

    async fn wake(&self, what: Wake<'_>) -> Result<(), ApiError> {
        let work: Vec<Work> = match what {
            Wake::Events(ids) => ids.iter().cloned().map(Work::Event).collect(),
            Wake::Calls(ids) => ids.iter().cloned().map(Work::Call).collect(),
        };
        for w in work {
            self.send_work(w).await?;
        }
        Ok(())
    }

    fn warn(&self, message: &str) {
        worker::console_warn!("{message}");
    }
}
