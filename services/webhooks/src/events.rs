//! The events API: `/api/events` (with what a halt holds), `/api/deadletters` and their
//! replays.

use agency_kit::http::{json, parse_limit};
use agency_kit::{ApiError, ApiResult, PortError, Request};
use http::StatusCode;
use serde::Deserialize;

use crate::store;
use crate::{Wake, WebhookPorts, consume, views};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    status: Option<String>,
    source: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

pub(crate) async fn list<P: WebhookPorts>(p: &P, req: &Request, only: Option<&str>) -> ApiResult {
    let q: EventsQuery = req.query()?;
    if let Some(s) = &q.status
        && store::EventStatus::parse(s).is_none()
    {
        let all: Vec<&str> = store::EventStatus::ALL.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "status must be one of {}",
            all.join(", ")
        )));
    }
    if only.is_some() && q.status.is_some() {
        return Err(ApiError::bad_request(
            "dead letters have status dead: no status filter here",
        ));
    }
    let limit = parse_limit(q.limit.as_deref(), 50, 1000)?;
    if let Some(b) = &q.before
        && store::event(p.db(), b).await?.is_none()
    {
        return Err(ApiError::not_found(format!("no event {b:?} (before)")));
    }
    let rows = store::events(
        p.db(),
        &store::EventFilter {
            status: only.map(str::to_owned).or(q.status),
            source: q.source,
            before: q.before,
            limit,
        },
    )
    .await?;
    let events: Vec<views::EventView> = rows.iter().map(views::EventView::of).collect();
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(json(
        StatusCode::OK,
        &views::Events {
            events,
            next_before: next,
        },
    ))
}

pub(crate) async fn one<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "event id")?;
    let row = store::event(p.db(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    let attempts = store::attempts(p.db(), &id).await?;
    let sent = store::sent_for(p.db(), &id).await?;
    Ok(json(
        StatusCode::OK,
        &views::EventDetail::of(&row, &attempts, &sent),
    ))
}

pub(crate) async fn held<P: WebhookPorts>(p: &P) -> ApiResult {
    let held = store::held(p.db())
        .await?
        .into_iter()
        .map(|h| {
            let what = agency_approval::HaltTarget::from_key(&h.held_by).ok_or_else(|| {
                PortError::Decode(format!("held by an unknown halt {:?}", h.held_by))
            })?;
            Ok(agency_approval::HeldWork {
                scope: what.scope(),
                target: (what != agency_approval::HaltTarget::All)
                    .then(|| what.target().to_owned()),
                events: u64::try_from(h.n).unwrap_or(0),
                oldest: agency_kit::ports::rfc3339(h.oldest_ms),
            })
        })
        .collect::<Result<Vec<_>, PortError>>()?;
    Ok(json(StatusCode::OK, &agency_approval::Held { held }))
}

pub(crate) async fn drop_held<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "event id")?;
    if !store::drop_held(p.db(), &id, "operator", p.now_ms()).await? {
        return match store::event(p.db(), &id).await? {
            None => Err(ApiError::not_found(format!("no event {id:?}"))),
            Some(e) => Err(ApiError::conflict(format!(
                "event {id} is {}, not held",
                e.status
            ))),
        };
    }
    consume::note_held(p).await;
    let row = store::event(p.db(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    Ok(json(StatusCode::OK, &views::EventView::of(&row)))
}

pub(crate) async fn replay<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "event id")?;
    if !store::replay(p.db(), &id, p.now_ms()).await? {
        return match store::event(p.db(), &id).await? {
            None => Err(ApiError::not_found(format!("no event {id:?}"))),
            Some(e) => Err(ApiError::conflict(format!(
                "event {id} is {}, not a dead letter",
                e.status
            ))),
        };
    }
    p.wake(Wake::Events(std::slice::from_ref(&id))).await?;
    Ok(json(
        StatusCode::OK,
        &views::Replayed { replayed: vec![id] },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
/// `{source?}` for `POST /api/deadletters/replay`: every dead letter (`{}`), or one
/// source's.
pub struct ReplayBody {
    /// The workspace, bot or guild id.
    #[serde(default)]
    pub source: Option<String>,
}

pub(crate) async fn replay_all<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let body: ReplayBody = req.json()?;
    let ids = store::replay_all(p.db(), body.source.as_deref(), p.now_ms()).await?;
    p.wake(Wake::Events(&ids)).await?;
    Ok(json(StatusCode::OK, &views::Replayed { replayed: ids }))
}
