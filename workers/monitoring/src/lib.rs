//! The monitoring Worker: wiring only. `agency_monitoring_service` answers every
//! request and runs every probe round; this crate implements its ports on the bindings:
//! D1 for what it stores, the other four Workers over service bindings (their
//! `/health` for probes, the skill graph's agents and the assistant's budget), `fetch`
//! for the gateway's health URLs. The samples the other Workers ship arrive at
//! `POST /internal/samples`; this Worker's own go straight to D1. The cron runs a probe
//! round a minute (which also folds the samples by minute).

use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use agency_edge::D1;
use agency_kit::ApiError;
use agency_monitor::Registry;
use agency_monitoring_service::config::Sections;
use agency_monitoring_service::{MonitorPorts, ProbeSettings, Probed, ROUTES, samples};
use http::StatusCode;
use serde_json::Value;
use worker::{
    Context, Env, Request, RequestInit, Response, ScheduleContext, ScheduledEvent, event,
};

/// How long a probe may take at the edge.
const PROBE_TIMEOUT_MS: u64 = 5_000;

impl agency_edge::Served for Edge<'_> {
    type Endpoint = agency_monitoring_service::Endpoint;
    fn service() -> &'static agency_kit::Service {
        &agency_monitoring_service::SERVICE
    }
    fn routes() -> &'static [agency_kit::Route<Self::Endpoint>] {
        ROUTES
    }
    async fn health(&self) -> (bool, Value) {
        agency_monitoring_service::health(self).await
    }
    async fn call(&self, e: Self::Endpoint, request: agency_kit::Request) -> agency_kit::ApiResult {
        agency_monitoring_service::call(self, e, &request).await
    }
    /// Every minute: a probe round (parts, gateway, agents; the minute's figures noted;
    /// shipped samples folded).
    async fn cron(&self) -> Result<(), ApiError> {
        agency_monitoring_service::probes::round(self)
            .await
            .map(|_| ())
    }
}

fn config_invalid() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "monitoring_config_invalid",
        "the monitoring configuration (AGENCY_MONITORING) is invalid; see the Worker's log",
    )
}

struct Edge<'a> {
    db: D1,
    env: &'a Env,
    settings: Rc<ProbeSettings>,
}

thread_local! {
    static SETTINGS: agency_edge::isolate::ByText<ProbeSettings> = const { agency_edge::isolate::ByText::new() };
}

/// The probe settings of `AGENCY_MONITORING`, once per isolate (again when it changes).
fn settings(text: &str) -> Result<ProbeSettings, ApiError> {
    let sections: Sections = toml::from_str(text).map_err(|e| {
        worker::console_error!("AGENCY_MONITORING: {e}");
        config_invalid()
    })?;
    sections.monitoring.validate().map_err(|e| {
        worker::console_error!("AGENCY_MONITORING: {e}");
        config_invalid()
    })?;
    let mut settings = sections.monitoring.probes(sections.gateway.as_ref());
    // probe_interval_ms is the local server's timer; the cron runs once a minute, so a
    // probe here may take up to the local ceiling.
    settings.timeout_ms = PROBE_TIMEOUT_MS;
    Ok(settings)
}

impl<'a> Edge<'a> {
    fn new(env: &'a Env) -> Result<Self, ApiError> {
        let text = env
            .var("AGENCY_MONITORING")
            .map(|v| v.to_string())
            .unwrap_or_default();
        Ok(Edge {
            db: D1::from_env(env)?,
            env,
            settings: SETTINGS.with(|cache| cache.get(&text, settings))?,
        })
    }
}

agency_edge::edge_clock_and_random!(Edge);
agency_edge::edge_calls!(Edge);

/// This Worker's own samples are stored as any shipment is.
fn to_d1(env: Env, batch: Registry) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
    Box::pin(async move {
        let db = D1::from_env(&env).map_err(|e| e.to_string())?;
        let now = agency_kit::Clock::now_ms(&agency_edge::EdgeClock);
        samples::ingest(&db, now, &batch)
            .await
            .map_err(|e| e.to_string())
    })
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    agency_edge::samples::store_with(to_d1);
    agency_edge::serve_service(req, &env, &ctx, || Edge::new(&env)).await
}

/// Every minute ([`agency_edge::Served::cron`]).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, ctx: ScheduleContext) {
    agency_edge::samples::store_with(to_d1);
    agency_edge::run_cron(&env, &ctx, || Edge::new(&env)).await;
}

impl MonitorPorts for Edge<'_> {
    type Db = D1;

    fn db(&self) -> &D1 {
        &self.db
    }

    fn probe_settings(&self) -> ProbeSettings {
        (*self.settings).clone()
    }

    fn live(&self) -> Registry {
        agency_edge::samples::pending()
    }

    /// The part's `/health` over its binding: up when it answers 200 in time.
    async fn probe_part(&self, part: agency_kit::Part) -> Probed {
        let start = agency_kit::Clock::precise_ms(self);
        let answer = self.health_of(part).await;
        Probed {
            up: answer.is_ok(),
            ms: (agency_kit::Clock::precise_ms(self) - start).max(0.0),
            detail: answer.err(),
        }
    }
}

impl Edge<'_> {
    /// `GET /health` of `part`'s Worker: `Ok` when it answers 200 within the probe
    /// timeout, else why not.
    async fn health_of(&self, part: agency_kit::Part) -> Result<(), String> {
        let b = part.binding();
        let service = self.env.service(b).map_err(|e| format!("{b}: {e}"))?;
        let mut init = RequestInit::new();
        init.with_method(worker::Method::Get);
        let request = Request::new_with_init(&format!("https://{b}/health"), &init)
            .map_err(|e| e.to_string())?;
        let timeout_ms = self.settings.timeout_ms;
        let sent = Box::pin(service.fetch_request(request));
        let timeout = Box::pin(worker::Delay::from(Duration::from_millis(timeout_ms)));
        match futures_select(sent, timeout).await {
            Some(Ok(r)) if r.status_code() == 200 => Ok(()),
            Some(Ok(r)) => Err(format!("answered {}", r.status_code())),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("no answer within {timeout_ms} ms")),
        }
    }
}

/// The first of two futures to finish: `Some` of the first's output, `None` when the
/// second (a timeout) came first.
async fn futures_select<A: Future + Unpin, B: Future + Unpin>(a: A, b: B) -> Option<A::Output> {
    match futures_util::future::select(a, b).await {
        futures_util::future::Either::Left((v, _)) => Some(v),
        futures_util::future::Either::Right(_) => None,
    }
}
