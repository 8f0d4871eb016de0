//! What every Agency Worker shares, and nothing a service decides: the service layer's
//! ports on Cloudflare's bindings ([`D1`], [`EdgeClock`], [`EdgeRandom`], tokens from
//! Worker secrets) and [`serve`], which turns a `worker::Request` into the service
//! crate's request (route found, token checked, body read within the route's limit),
//! calls the service and turns its answer into a `worker::Response`.
#![allow(async_fn_in_trait)]

pub mod archive;
pub mod isolate;
pub mod object;
mod outbound;
mod ports;
pub mod samples;

pub use agency_monitor::Registry;
pub use outbound::{peer, send};
pub use ports::{D1, EdgeClock, EdgeRandom, ObjectSql};

use std::future::Future;

use agency_kit::export::Export;
use agency_kit::observe::{Observer, RequestLog, UNMATCHED, observed};
use agency_kit::routes::{self, Matched, Route};
use agency_kit::{
    ApiError, ApiResult, Clock, Limits, Part, PortError, Random, Service, Tokens, root,
};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value};
use worker::{Context, Env, Headers, Request, Response};

/// What a Worker's handler is asked to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<E> {
    /// `/health`: the Worker answers with its service's parts.
    Health,
    /// `POST /internal/cron` (operator): the Worker's scheduled work now, as its cron
    /// runs it ([`Served::cron`]); how `agency deploy dev`'s front triggers the crons.
    Cron,
    Service(E),
}

/// The route of [`Endpoint::Cron`].
static CRON: &[Route<()>] = &[Route {
    method: Method::POST,
    path: "/internal/cron",
    access: agency_kit::Access::Write,
    body: agency_kit::BodyLimit::None,
    endpoint: (),
    summary: "Run the Worker's scheduled work now",
}];

/// Answers one request with a service: `table` is its route table, `call` its handler
/// (given the endpoint and the request with its body read). The request is counted in
/// the isolate's samples, shipped once the answer has gone out ([`samples::shipment`]).
pub async fn serve<E, F, Fut>(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    part: Part,
    table: &'static [Route<E>],
    call: F,
) -> worker::Result<Response>
where
    E: Copy,
    F: FnOnce(Endpoint<E>, agency_kit::Request) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let method = method(&req);
    let path = req.path();
    let found = match routes::find(root::ROUTES, &method, &path) {
        Ok(m) => Ok(m.map(|e| match e {
            root::Endpoint::Health => Some(Endpoint::Health),
            root::Endpoint::OpenApi => None,
        })),
        Err(miss) => match routes::find(CRON, &method, &path) {
            Ok(m) => Ok(m.map(|()| Some(Endpoint::Cron))),
            Err(cron) => match routes::find(table, &method, &path) {
                Ok(m) => Ok(m.map(|e| Some(Endpoint::Service(e)))),
                Err(m) => Err(miss.or(cron).or(m)),
            },
        },
    };
    let route = found.as_ref().map_or(UNMATCHED, |m| m.route);
    let response = observed(&EdgeObserver, part.name(), &method, route, async {
        match found {
            Err(miss) => miss.into_response(),
            Ok(matched) => {
                let answer = async {
                    let tokens = tokens(env);
                    if matched.access != agency_kit::Access::Public && tokens.is_empty() {
                        return Err(tokens_missing());
                    }
                    routes::admit(&matched, &tokens, &headers(&req))?;
                    let Some(endpoint) = matched.endpoint else {
                        return Ok(root::openapi());
                    };
                    let request = read(&mut req, method.clone(), matched).await?;
                    call(endpoint, request).await
                }
                .await;
                if let Err(e) = &answer
                    && let Some(detail) = &e.log
                {
                    worker::console_error!("{} {path}: {} {detail}", method, e.code);
                }
                routes::finish(&method, answer)
            }
        }
    })
    .await;
    if let Some(shipment) = samples::shipment(env) {
        ctx.wait_until(shipment);
    }
    let mut response = response;
    if let Some(export) = Export::of_response(&mut response)
        && method != Method::HEAD
    {
        return exported(response, export, env);
    }
    to_worker(response)
}

/// An export's headers, then its pages read from the Worker's D1 one at a time as the
/// client takes them (a failure midway errors the stream: the connection is cut).
fn exported(response: agency_kit::Response, export: Export, env: &Env) -> worker::Result<Response> {
    let db = match D1::from_env(env) {
        Ok(db) => db,
        Err(e) => return to_worker(ApiError::from(e).into_response()),
    };
    let kind = export.of.kind;
    let pages = export.pages(db, |db| db).map(move |page| {
        page.map_err(|e| {
            worker::console_error!("export of {kind} broke off: {e}");
            worker::Error::RustError(e.to_string())
        })
    });
    let body = Response::from_stream(pages)?;
    let (parts, _) = response.into_parts();
    Ok(body
        .with_status(parts.status.as_u16())
        .with_headers(headers_of(&parts.headers)?))
}

fn method(req: &Request) -> Method {
    Method::from_bytes(req.inner().method().as_bytes()).unwrap_or(Method::GET)
}

fn headers(req: &Request) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in req.headers().entries() {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            map.append(k, v);
        }
    }
    map
}

/// The service crate's request, with the body read within the route's limit: 413 past
/// it, 400 when it breaks off.
async fn read<E>(
    req: &mut Request,
    method: Method,
    matched: Matched<E>,
) -> Result<agency_kit::Request, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request("unreadable URL"))?;
    let headers = headers(req);
    let mut body = Vec::new();
    // Body limits at the edge are the local server's defaults.
    if let Some(limit) = Limits::default().bytes(matched.body) {
        agency_kit::http::declared_within(&headers, limit)?;
        // Chunk by chunk, stopping past the limit: a chunked body has no length to check
        // up front, and buffering it whole could exhaust the isolate's memory.
        if let Ok(mut stream) = req.stream() {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|_| ApiError::unreadable_body())?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::payload_too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok(agency_kit::Request {
        method,
        path: url.path().to_owned(),
        query: url.query().map(str::to_owned),
        headers,
        body,
        params: matched.params,
    })
}

/// A service crate's response as the Worker sends it.
pub fn to_worker(r: agency_kit::Response) -> worker::Result<Response> {
    let (parts, body) = r.into_parts();
    let out = headers_of(&parts.headers)?;
    let response = if body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(body)?
    };
    Ok(response
        .with_status(parts.status.as_u16())
        .with_headers(out))
}

fn headers_of(headers: &HeaderMap) -> worker::Result<Headers> {
    let out = Headers::new();
    for (k, v) in headers {
        if let Ok(v) = v.to_str() {
            out.append(k.as_str(), v)?;
        }
    }
    Ok(out)
}

/// The role tokens from the Worker's secrets `AGENCY_{OPERATOR,GATEWAY,VIEWER}_TOKEN`
/// (comma-separated lists).
pub fn tokens(env: &Env) -> Tokens {
    Tokens {
        operator: secret_list(env, "AGENCY_OPERATOR_TOKEN"),
        gateway: secret_list(env, "AGENCY_GATEWAY_TOKEN"),
        viewer: secret_list(env, "AGENCY_VIEWER_TOKEN"),
    }
}

fn secret_list(env: &Env, name: &str) -> Vec<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .map(|v| agency_kit::auth::token_list(&v))
        .unwrap_or_default()
}

/// A Worker with none of the role tokens answers every request that needs one with
/// this, instead of refusing every caller as a stranger.
fn tokens_missing() -> ApiError {
    ApiError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "tokens_missing",
        format!(
            "this Worker has none of the secrets {}: set them (agency deploy apply does)",
            agency_kit::service::ROLE_TOKENS.join(", ")
        ),
    )
}

/// The first token of role secret `name` (e.g. `AGENCY_VIEWER_TOKEN`), for a Worker
/// calling another over a service binding; "" when none is set.
pub fn own_token(env: &Env, name: &str) -> String {
    secret_list(env, name)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// A binding that is missing or failed: storage (D1, KV, Durable Objects).
pub fn storage(e: impl std::fmt::Display) -> PortError {
    PortError::Storage(e.to_string())
}

/// A service binding that failed or answered nonsense.
pub fn upstream(e: impl std::fmt::Display) -> PortError {
    PortError::Upstream(e.to_string())
}

/// A binding call's result as the API's error: [`OrPort::or_storage`] for D1, KV and
/// Durable Objects (503), [`OrPort::or_upstream`] for another Worker (502).
pub trait OrPort<T> {
    fn or_storage(self) -> Result<T, ApiError>;
    fn or_upstream(self) -> Result<T, ApiError>;
}

impl<T, E: std::fmt::Debug> OrPort<T> for Result<T, E> {
    fn or_storage(self) -> Result<T, ApiError> {
        self.map_err(|e| PortError::Storage(format!("{e:?}")).into())
    }
    fn or_upstream(self) -> Result<T, ApiError> {
        self.map_err(|e| PortError::Upstream(format!("{e:?}")).into())
    }
}

/// A service as its Worker serves it: the service's declaration and route table, and
/// its health and handler over the Worker's ports (`Self`, built per request from the
/// bindings).
pub trait Served: Sized {
    type Endpoint: Copy + 'static;
    /// The service's declaration (its [`Part`] names it in `/health` and in metrics).
    fn service() -> &'static Service;
    fn routes() -> &'static [Route<Self::Endpoint>];
    /// The service's part of `/health`.
    async fn health(&self) -> (bool, Value);
    async fn call(&self, endpoint: Self::Endpoint, request: agency_kit::Request) -> ApiResult;
    /// The Worker's own scheduled work (its cron's, [`run_cron`]); none by default.
    /// Retention ([`archive::run`]) runs after it in every Worker that keeps records.
    async fn cron(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A Worker's scheduled work: its own ([`Served::cron`]), then retention (run even when
/// the first failed); what retention archived, or the first error.
async fn scheduled<P: Served>(p: &P, env: &Env) -> Result<Value, ApiError> {
    let own = p.cron().await;
    let pruned = archive::run(env, P::service()).await;
    own?;
    let pruned = pruned?;
    let rows: Map<String, Value> = pruned
        .rows
        .iter()
        .map(|(kind, n)| ((*kind).to_owned(), Value::from(*n)))
        .collect();
    Ok(serde_json::json!({
        "ran": P::service().part.name(),
        "archived": rows,
        "files": pruned.files,
        "more": pruned.more,
    }))
}

/// A cron run: the ports, [`Served::cron`], errors logged, the isolate's samples
/// shipped. The body of every Worker's `#[event(scheduled)]`.
pub async fn run_cron<P: Served>(
    env: &Env,
    ctx: &worker::ScheduleContext,
    ports: impl FnOnce() -> Result<P, ApiError>,
) {
    let part = P::service().part;
    match ports() {
        Ok(p) => match scheduled(&p, env).await {
            Ok(done) => worker::console_log!("{part} cron: {done}"),
            Err(e) => worker::console_error!("{part} cron: {e} {:?}", e.log),
        },
        Err(e) => worker::console_error!("{part} cron: {e}"),
    }
    if let Some(shipment) = samples::shipment(env) {
        ctx.wait_until(shipment);
    }
}

/// Serves `P`'s service: `/health` reports it as its part, every other route goes to
/// [`Served::call`] on the ports `ports` builds. The entry point of every Worker.
pub async fn serve_service<P: Served>(
    req: Request,
    env: &Env,
    ctx: &Context,
    ports: impl FnOnce() -> Result<P, ApiError>,
) -> worker::Result<Response> {
    let part = P::service().part;
    serve(
        req,
        env,
        ctx,
        part,
        P::routes(),
        move |endpoint, request| async move {
            let p = ports()?;
            match endpoint {
                Endpoint::Health => {
                    let (ok, detail) = p.health().await;
                    Ok(root::health(vec![(part.name(), ok, detail)]))
                }
                Endpoint::Cron => Ok(agency_kit::http::json(
                    http::StatusCode::OK,
                    &scheduled(&p, env).await?,
                )),
                Endpoint::Service(e) => p.call(e, request).await,
            }
        },
    )
    .await
}

/// Implements the kit's [`agency_kit::Outbound`] ([`send`]) and [`agency_kit::Peers`]
/// ([`peer`], over the `env`'s service bindings) for a Worker's ports type (one lifetime
/// parameter, an `env: &Env` field).
#[macro_export]
macro_rules! edge_calls {
    ($ports:ident) => {
        impl ::agency_kit::Outbound for $ports<'_> {
            async fn send(
                &self,
                request: ::agency_kit::OutRequest,
            ) -> Result<::agency_kit::OutResponse, ::agency_kit::Unanswered> {
                $crate::send(request).await
            }
        }

        impl ::agency_kit::Peers for $ports<'_> {
            async fn peer(
                &self,
                part: ::agency_kit::Part,
                method: ::http::Method,
                path: &str,
                body: &::serde_json::Value,
            ) -> Result<(u16, ::serde_json::Value), ::agency_kit::ApiError> {
                $crate::peer(self.env, part, method, path, body).await
            }
        }
    };
}

/// Implements the kit's `Clock` and `Random` for a Worker's ports type (one lifetime
/// parameter) with the edge's clock and random source.
#[macro_export]
macro_rules! edge_clock_and_random {
    ($ports:ident) => {
        impl ::agency_kit::Clock for $ports<'_> {
            fn now_ms(&self) -> i64 {
                ::agency_kit::Clock::now_ms(&$crate::EdgeClock)
            }
        }

        impl ::agency_kit::Random for $ports<'_> {
            fn fill(&self, bytes: &mut [u8]) -> Result<(), ::agency_kit::PortError> {
                ::agency_kit::Random::fill(&$crate::EdgeRandom, bytes)
            }
        }

        // Into the isolate's samples, shipped to the monitoring Worker.
        impl ::agency_kit::Metrics for $ports<'_> {
            fn sample(&self, f: &mut dyn FnMut(&mut $crate::Registry)) {
                $crate::samples::record(f);
            }
        }
    };
}

/// Defines a Worker's ports type on D1 and the environment, the shape of every Worker
/// whose service needs only bindings: `struct $ports<'a> { db: D1, env: &'a Env }`,
/// `$ports::new(env)` (for [`serve_service`]) and the edge's clock and random source.
#[macro_export]
macro_rules! d1_ports {
    ($(#[$doc:meta])* $ports:ident) => {
        $(#[$doc])*
        struct $ports<'a> {
            db: $crate::D1,
            env: &'a ::worker::Env,
        }

        impl<'a> $ports<'a> {
            fn new(env: &'a ::worker::Env) -> Result<Self, ::agency_kit::ApiError> {
                Ok($ports {
                    db: $crate::D1::from_env(env)?,
                    env,
                })
            }
        }

        $crate::edge_clock_and_random!($ports);
    };
}

/// Each request's log line goes to the Worker's console (`wrangler tail`).
struct EdgeObserver;

impl Clock for EdgeObserver {
    fn now_ms(&self) -> i64 {
        EdgeClock.now_ms()
    }
}

impl Random for EdgeObserver {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError> {
        EdgeRandom.fill(bytes)
    }
}

impl Observer for EdgeObserver {
    fn record(&self, log: &RequestLog) {
        samples::record(&mut |r| log.count(r));
        worker::console_log!("{}", log.line());
    }
}
