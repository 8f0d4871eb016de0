//! The consumer's periodic work: approval cards, halt events for the gateway, held
//! events released, expired capabilities forgotten.

use super::*;
use agency_kit::Part;

/// The consumer's periodic work, on a timer locally and on the cron at the edge (and at
/// once when the assistant says something changed): approval cards, the gateway told
/// of halts and resumes, held events whose halt was lifted released in order, expired
/// capabilities forgotten. Each part runs even when another fails; the first failure
/// is returned.
pub async fn sweep<P: WebhookPorts>(p: &P) -> Result<Swept, ApiError> {
    let cards = cards(p).await;
    let announced = control::announce(p).await;
    let alerts = control::budget_alerts(p).await;
    let released = release(p).await;
    let pruned = store::prune_capabilities(p.db(), p.now_ms()).await;
    if let Err(e) = store::prune_reply_keys(p.db(), p.now_ms()).await {
        p.warn(&format!("pruning reply keys: {e}"));
    }
    note_held(p).await;
    Ok(Swept {
        cards: cards?,
        announced: announced?,
        budget_alerts: alerts?,
        released: released?,
        capabilities_forgotten: pruned?,
    })
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Swept {
    /// Approval cards posted or edited.
    pub cards: usize,
    /// Halt and approval events queued for the gateway.
    pub announced: usize,
    /// Budget thresholds newly reached (announced to the gateway and the operators).
    pub budget_alerts: usize,
    /// Held events released for dispatch.
    pub released: usize,
    pub capabilities_forgotten: u64,
}

/// Releases the held events whose halt is no longer in force, in the order they came;
/// how many.
pub async fn release<P: WebhookPorts>(p: &P) -> Result<usize, ApiError> {
    let in_force = match halts(p).await {
        Ok(h) => h,
        Err(o) => {
            return Err(ApiError::from(PortError::Upstream(
                o.error.unwrap_or_default(),
            )));
        }
    };
    let keys: Vec<String> = in_force.iter().map(|h| h.what().key()).collect();
    let ids = store::release_held(p.db(), &keys, p.now_ms()).await?;
    if !ids.is_empty() {
        p.wake(Wake::Events(&ids)).await?;
        note_held(p).await;
    }
    Ok(ids.len())
}

/// How many asks and open cards one page of a sweep holds.
pub(super) const SWEEP: u32 = 100;
/// How many pages of pending asks one sweep reads.
const PAGES: usize = 5;

/// The approval cards' sweep: an ask whose request names a `replyTo` gets a card with
/// Approve and Deny buttons there; a card whose approval was decided elsewhere (by API,
/// in chat, by expiry) is edited to show the outcome. Runs on a timer on both runtimes;
/// how many cards it posted or edited.
pub async fn cards<P: WebhookPorts>(p: &P) -> Result<usize, ApiError> {
    let mut n = 0;
    let unreadable = |e: serde_json::Error| {
        ApiError::from(PortError::Upstream(format!(
            "the assistant's approvals do not parse: {e}"
        )))
    };
    // The pending asks, newest first, a page at a time: the oldest are the ones that
    // escalate, so more than one page is read (up to PAGES).
    let mut pending = Approvals {
        approvals: Vec::new(),
    };
    let mut read = false;
    let mut whole = false;
    let mut before = String::new();
    for _ in 0..PAGES {
        let (status, body) = p
            .peer(
                Part::Assistant,
                Method::GET,
                &format!("/api/approvals?status=pending&limit={SWEEP}{before}"),
                &Value::Null,
            )
            .await?;
        if status != 200 {
            break;
        }
        read = true;
        let page: Approvals = serde_json::from_value(body).map_err(unreadable)?;
        whole = page.approvals.len() < SWEEP as usize;
        if let Some(last) = page.approvals.last() {
            before = format!("&before={}", last.number);
        }
        pending.approvals.extend(page.approvals);
        if whole {
            break;
        }
    }
    if read {
        let mut asks = Vec::new();
        for a in &pending.approvals {
            let Ok(request) = serde_json::from_value::<ApprovalBody>(a.request.clone()) else {
                p.warn(&format!(
                    "approval {}: its request does not parse",
                    a.approval_id
                ));
                continue;
            };
            let asked_in = request
                .reply_to
                .clone()
                .and_then(|to| serde_json::from_value::<outbound::Address>(to).ok());
            asks.push(Ask {
                view: a,
                request,
                asked_in,
            });
        }
        for ask in &asks {
            let (a, request) = (ask.view, &ask.request);
            // An ask made with a replyTo gets a card there; an escalated one, another in
            // its approver group's channel (when that group has one).
            let asked = ask
                .asked_in
                .clone()
                .map(|address| (store::Audience::Asked, address));
            let group = a
                .escalated_at
                .as_ref()
                .and(a.escalate_to.as_deref())
                .and_then(|g| Some((g, p.settings().group(g)?)))
                .map(|(g, chat)| {
                    let address = outbound::Address {
                        to: chat.to.clone(),
                        source: chat.source.clone(),
                    };
                    (store::Audience::Group(g), address)
                });
            for (audience, address) in asked.into_iter().chain(group) {
                if post_card(p, a, request, audience, address).await? {
                    n += 1;
                }
            }
        }
        n += batches(p, &asks, &pending.approvals, whole).await?;
    }
    for card in store::open_cards(p.db(), SWEEP).await? {
        let (status, body) = p
            .peer(
                Part::Assistant,
                Method::GET,
                &format!("/api/approvals/{}", card.approval_id),
                &Value::Null,
            )
            .await?;
        if transient(status) {
            continue;
        }
        let approval: Option<ApprovalView> = match status {
            200 => Some(serde_json::from_value(body).map_err(unreadable)?),
            _ => None,
        };
        if approval
            .as_ref()
            .is_some_and(|a| a.decision == ApprovalStatus::Pending)
        {
            continue;
        }
        // A card not posted yet is edited once it is (its message known).
        let Some(message) = card.message_ref.clone() else {
            continue;
        };
        if !store::card_decided(p.db(), &card.approval_id, card.audience()).await? {
            continue;
        }
        let Ok(address) = serde_json::from_str::<outbound::Address>(&card.address_json) else {
            continue;
        };
        let Some(source) = p.settings().source(address.platform(), &address.source) else {
            continue;
        };
        let text = match &approval {
            Some(a) => outcome_text(a),
            None => format!("Approval {} no longer exists.", card.approval_id),
        };
        let call = Call::Edit {
            to: address.to,
            message,
            text,
        };
        queue_calls(p, None, source, vec![call]).await?;
        n += 1;
    }
    Ok(n)
}

/// Most asks one batch card lists.
const BATCH_MAX: usize = 50;

/// A pending ask with its request read, and the conversation it was made from (its
/// `replyTo`), if it names one.
struct Ask<'a> {
    view: &'a ApprovalView,
    request: ApprovalBody,
    asked_in: Option<outbound::Address>,
}

/// A conversation's key: platform, source, chat and thread.
fn conversation(address: &outbound::Address) -> String {
    use agency_webhook::ReplyTo;
    let thread = match &address.to {
        ReplyTo::Slack { thread_ts, .. } => thread_ts.clone(),
        ReplyTo::Telegram { thread_id, .. } => thread_id.map(|t| t.to_string()),
        ReplyTo::Discord { .. } => None,
    };
    format!(
        "{}|{}|{}|{}",
        address.platform().as_str(),
        address.source,
        address.to.chat(),
        thread.unwrap_or_default()
    )
}

/// Batch cards: a conversation where two or more asks are pending gets one card that
/// approves or denies them all (each set once: the batch's id is made from the
/// conversation and its asks); an open batch card some of whose asks were decided
/// since (known only when `pending`, every pending approval, is `whole`) is edited to
/// say so. How many cards were posted or edited.
async fn batches<P: WebhookPorts>(
    p: &P,
    asks: &[Ask<'_>],
    pending: &[ApprovalView],
    whole: bool,
) -> Result<usize, ApiError> {
    let mut groups: Vec<(String, outbound::Address, Vec<&ApprovalView>)> = Vec::new();
    for ask in asks {
        let Some(address) = ask.asked_in.clone() else {
            continue;
        };
        let a = ask.view;
        let key = conversation(&address);
        match groups.iter_mut().find(|(k, ..)| *k == key) {
            Some(g) => g.2.push(a),
            None => groups.push((key, address, vec![a])),
        }
    }
    let mut n = 0;
    for (key, address, mut asks) in groups {
        if asks.len() < 2 {
            continue;
        }
        let Some(source) = p.settings().source(address.platform(), &address.source) else {
            continue;
        };
        asks.sort_by_key(|a| a.number);
        asks.truncate(BATCH_MAX);
        let ids: Vec<String> = asks.iter().map(|a| a.approval_id.clone()).collect();
        let id = crate::control::stable_id("bat_", &format!("{key}|{}", ids.join(",")));
        let st = store::insert_batch(&id, &ids, &address, &key, p.now_ms())
            .map_err(|e| ApiError::internal("internal", &e))?;
        if p.db().execute(&st.sql, &st.params).await?.changes == 0 {
            continue; // posted before (or by a racing sweep)
        }
        let mut text = format!("{} approvals are waiting here:", asks.len());
        for a in &asks {
            text.push_str(&format!(
                "\n#{} {} wants to {} (${:.2})",
                a.number, a.agent, a.action, a.estimated_cost_usd
            ));
        }
        let mut calls = vec![Call::BatchCard {
            to: address.to.clone(),
            batch_id: id.clone(),
            text,
        }];
        // The conversation's older batch cards are superseded by this one.
        for old in store::superseded_batches(p.db(), &key, &id).await? {
            if store::batch_decided(p.db(), &old.id).await?
                && let Some(message) = old.message_ref
            {
                calls.push(Call::Edit {
                    to: address.to.clone(),
                    message,
                    text: "Superseded by a newer card for these asks.".into(),
                });
            }
        }
        n += calls.len();
        queue_calls(p, None, source, calls).await?;
    }
    if !whole {
        return Ok(n);
    }
    let still: std::collections::HashSet<&str> =
        pending.iter().map(|a| a.approval_id.as_str()).collect();
    for b in store::open_batches(p.db(), SWEEP).await? {
        let ids = b.ids();
        if ids.iter().all(|i| still.contains(i.as_str())) {
            continue;
        }
        if !store::batch_decided(p.db(), &b.id).await? {
            continue;
        }
        let (Ok(address), Some(message)) = (
            serde_json::from_str::<outbound::Address>(&b.address_json),
            b.message_ref,
        ) else {
            continue;
        };
        let Some(source) = p.settings().source(address.platform(), &address.source) else {
            continue;
        };
        let call = Call::Edit {
            to: address.to,
            message,
            text: format!(
                "These {} asks are no longer all pending: each one's own card shows its outcome.",
                ids.len()
            ),
        };
        queue_calls(p, None, source, vec![call]).await?;
        n += 1;
    }
    Ok(n)
}

/// Posts approval `a`'s card for `audience` at `address` unless it has one there;
/// whether it did.
async fn post_card<P: WebhookPorts>(
    p: &P,
    a: &ApprovalView,
    request: &ApprovalBody,
    audience: store::Audience<'_>,
    address: outbound::Address,
) -> Result<bool, ApiError> {
    let Some(source) = p.settings().source(address.platform(), &address.source) else {
        return Ok(false);
    };
    let id = a.approval_id.as_str();
    if store::has_card(p.db(), id, audience).await? {
        return Ok(false);
    }
    let card = store::insert_card(id, audience, &address, p.now_ms())
        .map_err(|e| ApiError::internal("internal", &e))?;
    if p.db().execute(&card.sql, &card.params).await?.changes == 0 {
        return Ok(false); // a racing sweep posts it
    }
    let mut text = card_text(a, request);
    if let store::Audience::Group(g) = audience {
        text = format!("Escalated to {g}: nobody answered in time.\n{text}");
    }
    let call = Call::Card {
        to: address.to,
        approval_id: id.to_owned(),
        text,
        grants: p.settings().card_grants.clone(),
        extend: p.settings().card_extend,
    };
    queue_calls(p, None, source, vec![call]).await?;
    Ok(true)
}

/// What a card asks.
pub fn card_text(a: &ApprovalView, request: &ApprovalBody) -> String {
    let mut t = format!(
        "Approval #{} needed: {} wants to {}",
        a.number, a.agent, a.action
    );
    if let Some(env) = &request.environment {
        t.push_str(&format!(" in {env}"));
    }
    t.push_str(&format!(" (estimated ${:.2}).", a.estimated_cost_usd));
    if !request.description.trim().is_empty() {
        let d: String = request.description.chars().take(500).collect();
        t.push_str(&format!("\n{d}"));
    }
    t.push_str(&format!("\nWhy asked: {}", a.reason));
    t
}

/// What a decided card shows.
pub fn outcome_text(a: &ApprovalView) -> String {
    let mut t = format!(
        "Approval #{} ({} wants to {}): {}",
        a.number,
        a.agent,
        a.action,
        a.decision.as_str()
    );
    if let Some(by) = &a.decided_by {
        t.push_str(&format!(" by {by}"));
    }
    if let Some(why) = a.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        t.push_str(&format!(": {why}"));
    }
    t
}
