//! A routed message to the gateway: routing, the ledger's halts read before anything
//! is sent (a covered event is held), and the signed delivery.

use super::*;
use agency_kit::Part;

/// The halts in force, as the assistant's ledger keeps them; what the step comes to
/// when they cannot be read (another try: nothing is sent unchecked).
pub(crate) async fn halts<P: WebhookPorts>(p: &P) -> Result<Vec<HaltView>, Box<Outcome>> {
    let (status, body) = p
        .peer(Part::Assistant, Method::GET, "/api/halt", &Value::Null)
        .await
        .map_err(|e| Box::new(Outcome::retry(format!("assistant: {}", e.message), None)))?;
    let body = success("assistant", status, body, false)?;
    serde_json::from_value::<agency_approval::HaltsInForce>(body)
        .map(|h| h.halts)
        .map_err(|e| {
            Box::new(Outcome::retry(
                format!("the assistant's halts do not parse: {e}"),
                None,
            ))
        })
}

/// Sets the held-events gauge to what is held now (best effort: a failed count is
/// logged by the next one).
pub async fn note_held<P: WebhookPorts>(p: &P) {
    if let Ok(n) = store::held_total(p.db()).await {
        p.sample(&mut |r| {
            let _ = r.set(agency_monitor::metrics::WEBHOOK_HELD, &[], n as f64);
        });
    }
}

/// The body the gateway gets for a routed event.
pub fn task_body(row_id: &str, e: &InboundEvent, decision: &Value) -> Value {
    json!({
        "taskId": row_id,
        "event": e,
        "decision": decision,
        "replyTo": outbound::Address::of(e),
    })
}

pub(super) async fn dispatch<P: WebhookPorts>(
    p: &P,
    row: &EventRow,
    e: &InboundEvent,
    source: Option<&Source>,
) -> Result<Outcome, ApiError> {
    let Some(gateway) = p.settings().gateway.clone() else {
        // A dead letter: replayed once a gateway is configured.
        return Ok(dead("dispatch", NO_GATEWAY));
    };
    let channel = source.map_or(e.platform.as_str(), |s| s.channel.as_str());
    let mut routed = None;
    let decision: Value = match &row.decision_json {
        Some(d) => match serde_json::from_str(d) {
            Ok(d) => d,
            Err(e) => {
                return Ok(Outcome::failed(format!(
                    "the stored routing decision does not parse: {e}"
                )));
            }
        },
        None => {
            let (status, body) = p
                .peer(
                    Part::Router,
                    Method::POST,
                    "/api/route",
                    &json!({
                        "message": e.text,
                        "channel": channel,
                        "conversationId": e.conversation_id(),
                    }),
                )
                .await?;
            // 404: no graph yet; the event waits for one.
            let body = match success("router", status, body, true) {
                Ok(b) => b,
                Err(o) => return Ok(*o),
            };
            routed = Some(body.clone());
            body
        }
    };
    // The ledger's own halts, read before anything is sent: the router's copy may be
    // a few seconds old.
    let picked: RouteDecision = match serde_json::from_value(decision.clone()) {
        Ok(d) => d,
        Err(e) => {
            return Ok(Outcome::failed(format!(
                "the routing decision does not parse: {e}"
            )));
        }
    };
    let halts = match halts(p).await {
        Ok(h) => h,
        Err(o) => return Ok(*o),
    };
    let work = HaltWork {
        agent: picked.agent.as_deref(),
        channel: Some(channel),
        task: None,
    };
    if let Some(h) = covering(&halts, &work, HaltView::what) {
        return Ok(Outcome::held(h));
    }
    if picked.reason == Reason::Halted {
        // Routed under a halt the ledger no longer has: route again shortly.
        return Ok(Outcome::retry(
            "routed while a halt was in force that has since been lifted",
            Some(1),
        ));
    }
    let body = task_body(&row.id, e, &decision).to_string().into_bytes();
    let (mut o, took) = post_signed(p, &gateway, "tasks", &row.id, body, "dispatch").await;
    p.sample(&mut |r| {
        let _ = r.observe(
            agency_monitor::metrics::DISPATCH_DURATION,
            &[e.platform.as_str()],
            took / 1000.0,
        );
    });
    if o.status == EventStatus::Done {
        p.count(Count::Dispatched, e.platform);
    }
    o.decision = routed;
    Ok(o)
}

/// POSTs `body` to the gateway's `path`, signed as Standard Webhooks under the id `id`
/// (also its `Idempotency-Key`), and says what came of it (`action` names it in the
/// result) and how long the gateway took, in milliseconds: done on a 2xx, failed on
/// 410 Gone, another try otherwise (never before the gateway's `Retry-After`).
pub(crate) async fn post_signed<P: WebhookPorts>(
    p: &P,
    gateway: &crate::settings::Gateway,
    path: &str,
    id: &str,
    body: Vec<u8>,
    action: &str,
) -> (Outcome, f64) {
    let now = p.now_ms();
    let ts = now.div_euclid(1000);
    let request = OutRequest {
        method: Method::POST,
        url: format!("{}/{path}", gateway.url.trim_end_matches('/')),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), id.to_owned()),
            ("webhook-timestamp".into(), ts.to_string()),
            (
                "webhook-signature".into(),
                gateway.secret.sign(id, ts, &body),
            ),
            ("idempotency-key".into(), id.to_owned()),
        ],
        body,
        timeout_ms: gateway.timeout_ms,
    };
    let started = p.precise_ms();
    let answer = p.send(request).await;
    let took = (p.precise_ms() - started).max(0.0);
    let attempt = |status: Option<u16>, error: Option<String>| Attempt {
        at_ms: now,
        ms: took.round() as i64,
        status,
        error,
    };
    let mut o = match answer {
        Err(why) => Outcome {
            attempt: Some(attempt(None, Some(why.to_string()))),
            ..Outcome::retry(format!("gateway: {why}"), None)
        },
        Ok(r) if (200..300).contains(&r.status) => Outcome {
            attempt: Some(attempt(Some(r.status), None)),
            ..Outcome::done(json!({ "action": action, "status": r.status }), Vec::new())
        },
        Ok(r) if r.status == 410 => Outcome {
            attempt: Some(attempt(Some(410), Some("gone".into()))),
            ..Outcome::failed("the gateway answered 410 Gone: not retried")
        },
        Ok(r) => {
            let why = format!("gateway answered {}", r.status);
            Outcome {
                attempt: Some(attempt(Some(r.status), Some(why.clone()))),
                ..Outcome::retry(why, r.retry_after_secs)
            }
        }
    };
    if o.status == EventStatus::Failed || o.retry.is_some() {
        o.result = Some(json!({ "action": action }));
    }
    (o, took)
}

/// A dead letter at once: nothing can be done until the configuration changes (then a
/// replay sends it).
pub(crate) fn dead(action: &str, why: &str) -> Outcome {
    Outcome {
        status: EventStatus::Dead,
        result: Some(json!({ "action": action })),
        ..Outcome::failed(why)
    }
}
