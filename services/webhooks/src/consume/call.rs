//! The delivery of one platform call, its sealed capability read back for it alone.

use super::*;

/// Delivers the leased platform call `row` and records what came of it.
pub async fn call<P: WebhookPorts>(p: &P, row: &OutboxRow) -> Result<Next, ApiError> {
    let now = p.now_ms();
    let platform = agency_webhook::Platform::from_name(&row.platform);
    let settle = |status: &'static str,
                  next_in: Option<u64>,
                  last_status: Option<u16>,
                  error: Option<String>| async move {
        let s = store::CallSettled {
            status,
            tries: row.tries + 1,
            next_at_ms: after(now, next_in),
            last_status,
            error: error.as_deref(),
        };
        store::settle_outbox(p.db(), &row.id, &s, now).await
    };
    let source = platform.and_then(|pl| p.settings().source(pl, &row.source));
    let parsed: Result<Call, _> = serde_json::from_str(&row.call_json);
    let (Some(source), Ok(c)) = (source, parsed) else {
        settle(
            "dead",
            None,
            None,
            Some("source gone or call unreadable".into()),
        )
        .await?;
        return Ok(Next::Settled);
    };
    // A sealed capability is read back for this call only; it never reaches a row,
    // an error or a log.
    let (c, secret) = match unseal(p, c).await? {
        Unsealed::Ready(c, secret) => (c, secret),
        Unsealed::Expired(why) => {
            settle("dead", None, None, Some(why)).await?;
            return Ok(Next::Settled);
        }
    };
    let hide = |why: String| match &secret {
        Some(s) if !s.is_empty() => why.replace(s.as_str(), "(capability)"),
        _ => why,
    };
    let request = match outbound::request(&p.settings().api, source, &c) {
        Ok(r) => r,
        Err(e) => {
            settle("dead", None, None, Some(hide(e.to_string()))).await?;
            return Ok(Next::Settled);
        }
    };
    let (answered, posted) = match p.send(request).await {
        Err(why) => ((Answered::Retry(None, hide(why.to_string())), None), None),
        Ok(r) => (
            (outbound::answered(source.platform, &r), Some(r.status)),
            outbound::posted_message(source.platform, &r.body),
        ),
    };
    match answered {
        (Answered::Done, code) => {
            match (&c, posted) {
                (
                    Call::Card {
                        approval_id, to, ..
                    },
                    Some(m),
                ) => store::card_posted(p.db(), approval_id, to, &m).await?,
                (Call::BatchCard { batch_id, .. }, Some(m)) => {
                    store::batch_posted(p.db(), batch_id, &m).await?
                }
                _ => {}
            }
            settle("done", None, code, None).await?;
            Ok(Next::Settled)
        }
        (Answered::Refused(why), code) => {
            settle("dead", None, code, Some(hide(why))).await?;
            Ok(Next::Settled)
        }
        (Answered::Retry(after, why), code) => {
            let why = hide(why);
            let attempt = u32::try_from(row.tries + 1).unwrap_or(u32::MAX);
            match retry_after(OUTBOX_SCHEDULE_SECS, attempt, unit(p)?, after) {
                Some(secs) => {
                    settle("queued", Some(secs), code, Some(why)).await?;
                    Ok(Next::RetryIn(secs))
                }
                None => {
                    settle("dead", None, code, Some(why)).await?;
                    Ok(Next::Settled)
                }
            }
        }
    }
}

/// A call with its sealed capability read back.
pub(super) enum Unsealed {
    /// Ready to make, with the capability (to keep out of what is recorded).
    Ready(Call, Option<String>),
    /// It cannot be made: why (a Discord follow-up whose interaction token expired).
    Expired(String),
}

/// `call` with its sealed capability read back.
pub(super) async fn unseal<P: WebhookPorts>(p: &P, mut call: Call) -> Result<Unsealed, ApiError> {
    let to = call.to_mut();
    let Some(reference) = to.sealed().map(str::to_owned) else {
        return Ok(Unsealed::Ready(call, None));
    };
    let secret = store::capability(p.db(), &reference, p.now_ms()).await?;
    to.unseal(secret.clone());
    if secret.is_none() && call.needs_capability() {
        return Ok(Unsealed::Expired(
            "the interaction's token expired before this call could be made".to_owned(),
        ));
    }
    Ok(Unsealed::Ready(call, secret))
}
