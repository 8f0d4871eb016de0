//! What a chat message for Agency itself leads to: a click on an approval card (the
//! approver's decision to the assistant, the card edited) and the assistant's chat.

use super::*;
use agency_kit::Part;

/// A retry later, when the assistant's answer says it could not answer now.
fn retry_if_transient(status: u16, body: &Value) -> Option<Outcome> {
    transient(status).then(|| {
        Outcome::retry(
            format!(
                "assistant answered {status}: {}",
                agency_kit::http::error_message(body)
            ),
            None,
        )
    })
}

/// What an approver's click (or reason modal, or reply to a card) decides.
pub(super) struct Verdict<'a> {
    pub approve: bool,
    /// "Approve for ...": also grant the same kind of task for this long.
    pub grant_secs: Option<u64>,
    /// Why: sent as the decision's comment (stored, audited, told to the gateway).
    pub reason: Option<&'a str>,
}

/// A message only the author of `e` sees.
fn private_to(e: &InboundEvent, text: &str) -> Call {
    Call::Private {
        to: e.reply_to.clone(),
        user: e.user.clone(),
        text: text.to_owned(),
    }
}

/// The calls once a click decided: the card edited to `text`, and a Telegram click
/// answered with `answer` (Telegram shows a spinner on the button until it is).
fn decided_calls(e: &InboundEvent, text: String, answer: &str) -> Vec<Call> {
    let mut calls = vec![Call::Decided {
        to: e.reply_to.clone(),
        text,
    }];
    if matches!(
        e.reply_to,
        agency_webhook::ReplyTo::Telegram {
            callback_query_id: Some(_),
            ..
        }
    ) {
        calls.push(private_to(e, answer));
    }
    calls
}

/// The name of the approver `e` comes from, or the outcome that refuses anyone else:
/// `result` (its `outcome` set to `notAllowed`) recorded, and `told` said privately.
fn approver_of<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    mut result: Value,
    told: &str,
) -> Result<String, Box<Outcome>> {
    let user = e.user.as_deref().unwrap_or("");
    match p.settings().approver(e.platform, user) {
        Some(name) => Ok(name.to_owned()),
        None => {
            result["outcome"] = json!("notAllowed");
            Err(Box::new(Outcome::done(result, vec![private_to(e, told)])))
        }
    }
}

pub(super) async fn click<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    approval_id: &str,
    v: Verdict<'_>,
) -> Result<Outcome, ApiError> {
    let Verdict {
        approve,
        grant_secs,
        reason,
    } = v;
    let name = match approver_of(
        p,
        e,
        json!({ "action": "click", "approvalId": approval_id }),
        "You are not an approver: this decision was not recorded.",
    ) {
        Ok(name) => name,
        Err(refused) => return Ok(*refused),
    };
    let verdict = if approve { "approve" } else { "deny" };
    let mut decision = json!({ "decision": verdict, "by": name });
    if let Some(r) = reason {
        decision["comment"] = json!(r);
    }
    if let Some(secs) = grant_secs.filter(|_| approve) {
        decision["grant"] = json!({ "durationSecs": secs });
    }
    let (status, body) = p
        .peer(
            Part::Assistant,
            Method::POST,
            &format!("/api/approvals/{approval_id}/decision"),
            &decision,
        )
        .await?;
    if let Some(retry) = retry_if_transient(status, &body) {
        return Ok(retry);
    }
    if status != 200 {
        let text = format!("Not recorded: {}", agency_kit::http::error_message(&body));
        return Ok(Outcome::done(
            json!({ "action": "click", "outcome": "refused", "approvalId": approval_id, "status": status, "answer": body }),
            vec![Call::Private {
                to: e.reply_to.clone(),
                user: e.user.clone(),
                text,
            }],
        ));
    }
    let approval: ApprovalView = match answer("assistant", status, body.clone(), false) {
        Ok(a) => a,
        Err(o) => return Ok(*o),
    };
    // The clicked card shows this outcome now: the sweep need not edit it again (it
    // edits the approval's other card, if it escalated).
    store::card_clicked(p.db(), approval_id, &e.reply_to.chat()).await?;
    let shown = approval.decision.as_str();
    let text = match grant_secs {
        Some(secs) if approval.decision == agency_approval::contract::ApprovalStatus::Approved => {
            format!(
                "Approval {approval_id}: {shown} by {name}, and the same kind of task for {}",
                agency_webhook::card::span(secs)
            )
        }
        _ => format!("Approval {approval_id}: {shown} by {name}"),
    };
    let text = match reason {
        Some(r) => format!("{text}: {r}"),
        None => text,
    };
    let calls = decided_calls(e, text, shown);
    Ok(Outcome::done(
        json!({ "action": "click", "outcome": "decided", "approvalId": approval_id, "by": name, "approval": body }),
        calls,
    ))
}

/// "Approve all" or "Deny all" on a batch card: every ask the batch lists is decided
/// at once by the assistant's batch decision (each exactly once, racing deciders
/// included); the batch card shows how many were decided, and each ask's own card is
/// edited by the sweep.
pub(super) async fn batch_click<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    approve: bool,
    batch_id: &str,
) -> Result<Outcome, ApiError> {
    let private = |text: &str| private_to(e, text);
    let name = match approver_of(
        p,
        e,
        json!({ "action": "batch", "batchId": batch_id }),
        "You are not an approver: nothing was decided.",
    ) {
        Ok(name) => name,
        Err(refused) => return Ok(*refused),
    };
    let Some(batch) = store::batch(p.db(), batch_id).await? else {
        return Ok(Outcome::done(
            json!({ "action": "batch", "outcome": "unknown", "batchId": batch_id }),
            vec![private("This batch is not known here any more.")],
        ));
    };
    let ids = batch.ids();
    let verdict = if approve { "approve" } else { "deny" };
    let (status, body) = p
        .peer(
            Part::Assistant,
            Method::POST,
            "/api/approvals/decide",
            &json!({ "decision": verdict, "by": name, "ids": ids }),
        )
        .await?;
    if let Some(retry) = retry_if_transient(status, &body) {
        return Ok(retry);
    }
    if status != 200 {
        let text = format!("Not recorded: {}", agency_kit::http::error_message(&body));
        return Ok(Outcome::done(
            json!({ "action": "batch", "outcome": "refused", "batchId": batch_id, "status": status }),
            vec![private(&text)],
        ));
    }
    store::batch_decided(p.db(), batch_id).await?;
    let decided = body["decided"].as_u64().unwrap_or(0);
    let shown = if approve { "Approved" } else { "Denied" };
    let mut text = format!("{shown} {decided} of {} by {name}.", ids.len());
    if decided < ids.len() as u64 {
        text.push_str(" The others had been decided already.");
    }
    let answer = text.clone();
    let calls = decided_calls(e, text, &answer);
    Ok(Outcome::done(
        json!({ "action": "batch", "outcome": "decided", "batchId": batch_id, "decided": decided, "by": name }),
        calls,
    ))
}

/// "Deny with reason" on a Slack card: an approver gets the modal that asks why (its
/// submission is a denial with the reason, [`click`]); anyone else is told privately.
pub(super) async fn reason_prompt<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    approval_id: &str,
    trigger_id: &str,
) -> Result<Outcome, ApiError> {
    if let Err(refused) = approver_of(
        p,
        e,
        json!({ "action": "reason", "approvalId": approval_id }),
        "You are not an approver: this decision was not recorded.",
    ) {
        return Ok(*refused);
    }
    let call = Call::ReasonModal {
        to: e.reply_to.clone(),
        trigger_id: trigger_id.to_owned(),
        approval_id: approval_id.to_owned(),
        title: "Deny with a reason".into(),
    };
    // Slack honours a trigger for 3 seconds: the modal is opened now, not queued behind
    // the outbox (a retry after the trigger expired could never work).
    let opened = match p.settings().source(e.platform, &e.source) {
        Some(source) => match outbound::request(&p.settings().api, source, &call) {
            Ok(request) => match p.send(request).await {
                Ok(r) => outbound::answered(source.platform, &r) == Answered::Done,
                Err(_) => false,
            },
            Err(_) => false,
        },
        None => false,
    };
    if opened {
        return Ok(Outcome::done(
            json!({ "action": "reason", "outcome": "asked", "approvalId": approval_id }),
            Vec::new(),
        ));
    }
    Ok(Outcome::done(
        json!({ "action": "reason", "outcome": "notOpened", "approvalId": approval_id }),
        vec![Call::Private {
            to: e.reply_to.clone(),
            user: e.user.clone(),
            text: "The form asking why could not be opened in time: click Deny with reason again."
                .into(),
        }],
    ))
}

/// An approver's "extend" on a card: the ask gets more time (the assistant bounds it);
/// only the approver is told, and the card stays as it is.
pub(super) async fn extend<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    approval_id: &str,
    secs: u64,
) -> Result<Outcome, ApiError> {
    let private = |text: String| private_to(e, &text);
    let name = match approver_of(
        p,
        e,
        json!({ "action": "extend", "approvalId": approval_id }),
        "You are not an approver: the ask was not extended.",
    ) {
        Ok(name) => name,
        Err(refused) => return Ok(*refused),
    };
    let (status, body) = p
        .peer(
            Part::Assistant,
            Method::POST,
            &format!("/api/approvals/{approval_id}/extend"),
            &json!({ "by": name, "secs": secs }),
        )
        .await?;
    if let Some(retry) = retry_if_transient(status, &body) {
        return Ok(retry);
    }
    let text = match (status, body["expiresAt"].as_str()) {
        (200, Some(at)) => {
            format!("Extended by {name}: approval {approval_id} now waits until {at}.")
        }
        _ => format!("Not extended: {}", agency_kit::http::error_message(&body)),
    };
    let outcome = if status == 200 { "extended" } else { "refused" };
    Ok(Outcome::done(
        json!({ "action": "extend", "outcome": outcome, "approvalId": approval_id, "status": status }),
        vec![private(text)],
    ))
}

pub(super) async fn converse<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    text: &str,
) -> Result<Outcome, ApiError> {
    if let Err(refused) = approver_of(
        p,
        e,
        json!({ "action": "chat" }),
        "Only approvers may talk to the Agency assistant.",
    ) {
        return Ok(*refused);
    }
    let message = if text.trim().is_empty() {
        "help"
    } else {
        text.trim()
    };
    let (status, body) = p
        .peer(
            Part::Assistant,
            Method::POST,
            "/api/chat",
            &json!({ "sessionId": session_of(e), "message": message }),
        )
        .await?;
    let reply = match answer::<Reply>("assistant", status, body, false) {
        Ok(r) => r.text,
        Err(o) => return Ok(*o),
    };
    Ok(Outcome::done(
        json!({ "action": "chat", "outcome": "replied", "reply": reply }),
        vec![Call::Reply {
            to: e.reply_to.clone(),
            text: reply,
        }],
    ))
}
