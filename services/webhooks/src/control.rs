//! What Agency tells the gateway on its own: a signed event on every halt and resume,
//! so the gateway can stop (and restart) work already running, and on every human
//! decision and expiry of an approval, so it need not poll the approval. The assistant's audit
//! trail is the source: each sweep follows it from where the last one stopped (a
//! cursor in this service's store) and queues one event per halt or effective resume
//! under an id made from the audit entry, so a sweep that runs twice queues it once.
//! The events travel the task dispatch's own queue (retries, dead letters, replay),
//! to `POST {gateway}/events`, signed as Standard Webhooks.

use agency_kit::Part;
use agency_kit::{ApiError, Db, PortError};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use agency_assistant_service::row::{AuditView, HaltAudit};

use crate::consume::{self, NO_GATEWAY, Outcome, post_signed};
use crate::store::{self, EventRow};
use crate::{Wake, WebhookPorts};

/// The stored kind of an event Agency sends the gateway itself.
pub const KIND: &str = "control";

/// The type of the event sent when a halt is set.
pub const HALT_SET: &str = "halt.set";
/// The type of the event sent when a halt is lifted.
pub const HALT_LIFTED: &str = "halt.lifted";
/// The type of the event sent when a human (by card, chat or API) decides an approval.
pub const APPROVAL_DECIDED: &str = "approval.decided";
/// The type of the event sent when an approval nobody answered expires (denied).
pub const APPROVAL_EXPIRED: &str = "approval.expired";
/// The type of the event sent when an ask nobody answered in time goes to a second
/// group of approvers (its rule's `escalate`); it is still pending.
pub const APPROVAL_ESCALATED: &str = "approval.escalated";
/// The type of the event sent when a budget's spending and reservations reach one of its
/// alert thresholds (once per threshold and period).
pub const BUDGET_THRESHOLD: &str = "budget.threshold";

/// The audit kinds the sweep follows.
const FOLLOWED: &str = "halt,resume,human-decision,expired,escalated";

/// The cursor that follows the assistant's audit.
const CURSOR: &str = "assistant-audit";

/// How many audit entries one sweep reads.
const PAGE: u32 = 100;

/// A control event as the gateway receives it: Standard Webhooks' payload shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ControlEvent {
    /// `halt.set`, `halt.lifted`, `approval.decided`, `approval.expired`,
    /// `approval.escalated` or `budget.threshold`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    pub data: ControlData,
}

/// What a control event is about: a halt or an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub enum ControlData {
    Halt(HaltChange),
    Approval(ApprovalChange),
    Budget(BudgetCrossing),
}

/// What a budget alert says: the budget, its period and the threshold reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct BudgetCrossing {
    /// `global`, `agent:<id>` or `channel:<id>`.
    pub scope: String,
    /// `daily` or `monthly`.
    pub period: String,
    /// The day (`2026-12-06`) or month (`2026-12`).
    pub period_key: String,
    /// The threshold reached, in percent of the limit.
    pub percent: u32,
    pub limit_usd: f64,
    pub spent_usd: f64,
    pub reserved_usd: f64,
}

/// What an approval event says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ApprovalChange {
    pub approval_id: String,
    /// `approved`, `denied` or `expired` (an expiry denies); `pending` for an
    /// escalation.
    pub decision: String,
    /// The decision's reason (`expired` for an expiry, `escalated` for an escalation).
    pub reason: Option<String>,
    /// The human's comment, when they gave one.
    pub comment: Option<String>,
    /// Who decided: the human's name, or null for an expiry.
    pub by: Option<String>,
    /// The assistant's audit entry that records it.
    pub audit_seq: i64,
    /// For `approval.escalated`: the approver group now asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<String>,
}

/// A human decision's audit detail.
#[derive(Debug, Deserialize)]
struct HumanDecision {
    decision: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// What a halt event says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct HaltChange {
    /// `all`, `agent`, `channel` or `task`; `everything` when every halt was lifted.
    pub scope: String,
    /// The agent, channel or task; null for `all` and `everything`.
    pub target: Option<String>,
    /// Why it was halted (halt.set only).
    pub reason: Option<String>,
    /// Who did it: `operator`, or `chat:<session>`.
    pub by: Option<String>,
    /// The assistant's audit entry that records it.
    pub audit_seq: i64,
}

#[derive(Debug, Deserialize)]
struct Page {
    entries: Vec<AuditView>,
}

/// The event an audit entry announces; `None` for a resume that lifted nothing (or an
/// entry of another kind); an error when its detail does not parse.
fn event_of(e: &AuditView) -> Result<Option<ControlEvent>, serde_json::Error> {
    let approval = |kind: &str, change: ApprovalChange| {
        Some(ControlEvent {
            kind: kind.to_owned(),
            timestamp: e.at.clone(),
            data: ControlData::Approval(change),
        })
    };
    match (e.kind.as_str(), &e.approval_id) {
        ("human-decision", Some(id)) => {
            let d: HumanDecision = serde_json::from_value(e.detail.clone())?;
            return Ok(approval(
                APPROVAL_DECIDED,
                ApprovalChange {
                    approval_id: id.clone(),
                    decision: d.decision,
                    reason: d.reason,
                    comment: d.comment,
                    by: e.actor.clone(),
                    audit_seq: e.seq,
                    escalated_to: None,
                },
            ));
        }
        ("expired", Some(id)) => {
            return Ok(approval(
                APPROVAL_EXPIRED,
                ApprovalChange {
                    approval_id: id.clone(),
                    decision: "expired".into(),
                    reason: Some("expired".into()),
                    comment: None,
                    by: None,
                    audit_seq: e.seq,
                    escalated_to: None,
                },
            ));
        }
        ("escalated", Some(id)) => {
            #[derive(Deserialize)]
            struct Escalated {
                to: String,
            }
            let d: Escalated = serde_json::from_value(e.detail.clone())?;
            return Ok(approval(
                APPROVAL_ESCALATED,
                ApprovalChange {
                    approval_id: id.clone(),
                    decision: "pending".into(),
                    reason: Some("escalated".into()),
                    comment: None,
                    by: None,
                    audit_seq: e.seq,
                    escalated_to: Some(d.to),
                },
            ));
        }
        ("halt" | "resume", _) => {}
        _ => return Ok(None),
    }
    let detail: HaltAudit = serde_json::from_value(e.detail.clone())?;
    let kind = match e.kind.as_str() {
        "halt" => HALT_SET,
        _ if detail.lifted_something() => HALT_LIFTED,
        _ => return Ok(None),
    };
    Ok(Some(ControlEvent {
        kind: kind.to_owned(),
        timestamp: e.at.clone(),
        data: ControlData::Halt(HaltChange {
            scope: detail.scope,
            target: Some(detail.target).filter(|t| !t.is_empty()),
            reason: detail.reason,
            by: e.actor.clone(),
            audit_seq: e.seq,
        }),
    }))
}

/// `GET path` of the assistant, which must answer 200 with a `T` (`what` names it in
/// errors).
async fn assistant_get<P: WebhookPorts, T: serde::de::DeserializeOwned>(
    p: &P,
    path: &str,
    what: &str,
) -> Result<T, ApiError> {
    let (status, body) = p
        .peer(Part::Assistant, Method::GET, path, &Value::Null)
        .await?;
    if status != 200 {
        return Err(PortError::Upstream(format!(
            "assistant's {what} answered {status}: {}",
            agency_kit::http::error_message(&body)
        ))
        .into());
    }
    serde_json::from_value(body).map_err(|e| {
        PortError::Upstream(format!("the assistant's {what} does not parse: {e}")).into()
    })
}

async fn audit<P: WebhookPorts>(p: &P, query: &str) -> Result<Page, ApiError> {
    assistant_get(p, &format!("/api/audit?{query}"), "audit").await
}

/// Queues an event for every halt, resume, human decision, expiry and escalation
/// recorded since the last sweep; how many.
pub async fn announce<P: WebhookPorts>(p: &P) -> Result<usize, ApiError> {
    let after = store::cursor(p.db(), CURSOR).await?;
    let page = audit(p, &format!("after={after}&kind={FOLLOWED}&limit={PAGE}")).await?;
    if page.entries.is_empty() {
        // An assistant whose trail starts again (a new database) must not be followed
        // from where the old one stopped.
        let newest = audit(p, "limit=1")
            .await?
            .entries
            .first()
            .map_or(0, |e| e.seq);
        if newest < after {
            p.db()
                .execute(
                    "DELETE FROM webhook_cursors WHERE name = ?1",
                    &[CURSOR.into()],
                )
                .await?;
        }
        return Ok(0);
    }
    let now = p.now_ms();
    let mut statements = Vec::new();
    let mut ids = Vec::new();
    let mut last = after;
    for e in &page.entries {
        last = last.max(e.seq);
        let event = event_of(e).map_err(|err| {
            PortError::Upstream(format!(
                "audit entry {}: its detail does not parse: {err}",
                e.seq
            ))
        })?;
        let Some(event) = event else { continue };
        let json = serde_json::to_string(&event).map_err(|e| ApiError::internal("internal", &e))?;
        let id = format!("ctl_{}_{}", e.seq, e.at.replace([':', '-', '.'], ""));
        statements.push(store::insert_control(&id, KIND, &json, now));
        ids.push(id);
    }
    statements.push(store::advance(CURSOR, last));
    p.db().batch(statements).await?;
    if !ids.is_empty() {
        p.wake(Wake::Events(&ids)).await?;
    }
    Ok(ids.len())
}

/// A stable id for `key`: the same alert gets the same event id on every sweep, so it
/// is queued once.
pub(crate) fn stable_id(prefix: &str, key: &str) -> String {
    use agency_skill_graph::text::{FNV_OFFSET, fnv1a};
    format!("{prefix}{:016x}", fnv1a(FNV_OFFSET, key.as_bytes()))
}

/// Queues `budget.threshold` for the gateway, and a notice in the operators' channel,
/// for every alert threshold a budget has reached this period that was not announced
/// yet (the ids are made from the budget, period and threshold: once each, however
/// many sweeps race); how many were new.
pub async fn budget_alerts<P: WebhookPorts>(p: &P) -> Result<usize, ApiError> {
    let settings = p.settings();
    let (gateway, operators) = (settings.gateway.is_some(), settings.operators.clone());
    if !gateway && operators.is_none() {
        return Ok(0);
    }
    let report: agency_approval::contract::BudgetReport =
        assistant_get(p, "/api/budget", "budget").await?;
    let now = p.now_ms();
    let (mut events, mut calls) = (Vec::new(), Vec::new());
    let (mut event_rows, mut call_rows) = (Vec::new(), Vec::new());
    for line in &report.budgets {
        for &percent in &line.crossed {
            let key = format!("{}|{}|{percent}", line.scope, line.period_key);
            let crossing = BudgetCrossing {
                scope: line.scope.clone(),
                period: line.period.as_str().to_owned(),
                period_key: line.period_key.clone(),
                percent,
                limit_usd: line.limit_usd,
                spent_usd: line.spent_usd,
                reserved_usd: line.reserved_usd,
            };
            if gateway {
                let event = ControlEvent {
                    kind: BUDGET_THRESHOLD.to_owned(),
                    timestamp: agency_approval::rfc3339(now),
                    data: ControlData::Budget(crossing.clone()),
                };
                let json = serde_json::to_string(&event)
                    .map_err(|e| ApiError::internal("internal", &e))?;
                let id = stable_id("bud_", &key);
                event_rows.push(store::insert_control(&id, KIND, &json, now));
                events.push(id);
            }
            if let Some(o) = &operators {
                let text = format!(
                    "Budget alert: {} {} ({}) has reached {percent}% of its ${:.2} limit: ${:.2} spent, ${:.2} reserved.",
                    crossing.scope,
                    crossing.period,
                    crossing.period_key,
                    crossing.limit_usd,
                    crossing.spent_usd,
                    crossing.reserved_usd
                );
                let call = agency_webhook::api::Call::Notice {
                    to: o.to.clone(),
                    text,
                };
                let json =
                    serde_json::to_string(&call).map_err(|e| ApiError::internal("internal", &e))?;
                let id = stable_id("out_bud_", &key);
                let platform = o.to.platform().as_str();
                call_rows.push(store::insert_outbox(
                    &id, None, platform, &o.source, &json, now,
                ));
                calls.push(id);
            }
        }
    }
    if event_rows.is_empty() && call_rows.is_empty() {
        return Ok(0);
    }
    event_rows.extend(call_rows);
    let written = p.db().batch(event_rows).await?;
    // Only what this sweep inserted is new (the rest was announced before).
    let mut fresh = written.iter().map(|w| w.changes > 0);
    let events: Vec<String> = events
        .into_iter()
        .filter(|_| fresh.next().unwrap_or(false))
        .collect();
    let calls: Vec<String> = calls
        .into_iter()
        .filter(|_| fresh.next().unwrap_or(false))
        .collect();
    if !events.is_empty() {
        p.wake(Wake::Events(&events)).await?;
    }
    if !calls.is_empty() {
        p.wake(Wake::Calls(&calls)).await?;
    }
    Ok(events.len().max(calls.len()))
}

/// Sends the control event `row` to the gateway.
pub(crate) async fn deliver<P: WebhookPorts>(p: &P, row: &EventRow) -> Result<Outcome, ApiError> {
    let Some(gateway) = p.settings().gateway.clone() else {
        return Ok(consume::dead("announce", NO_GATEWAY));
    };
    let body = row.event_json.clone().into_bytes();
    Ok(
        post_signed(p, &gateway, "events", &row.id, body, "announce")
            .await
            .0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, detail: HaltAudit) -> AuditView {
        AuditView {
            seq: 7,
            at: "2026-12-06T10:00:00.000Z".into(),
            kind: kind.into(),
            approval_id: None,
            actor: Some("operator".into()),
            detail: serde_json::to_value(detail).unwrap(),
        }
    }

    fn event(e: &AuditView) -> Option<ControlEvent> {
        event_of(e).unwrap()
    }

    #[test]
    fn halts_and_effective_resumes_are_announced() {
        let halt = entry(
            "halt",
            HaltAudit {
                scope: "agent".into(),
                target: "codegen".into(),
                reason: Some("incident".into()),
                ..HaltAudit::default()
            },
        );
        let e = event(&halt).unwrap();
        assert_eq!(e.kind, HALT_SET);
        let ControlData::Halt(h) = &e.data else {
            panic!("{e:?}")
        };
        assert_eq!(h.target.as_deref(), Some("codegen"));
        assert_eq!(h.audit_seq, 7);

        let resumed = |was_halted, lifted| {
            entry(
                "resume",
                HaltAudit {
                    scope: "agent".into(),
                    target: "codegen".into(),
                    was_halted,
                    lifted,
                    ..HaltAudit::default()
                },
            )
        };
        assert_eq!(event(&resumed(Some(true), None)).unwrap().kind, HALT_LIFTED);
        assert!(
            event(&resumed(Some(false), None)).is_none(),
            "nothing lifted"
        );
        assert!(event(&resumed(None, Some(0))).is_none(), "nothing lifted");
        assert!(event(&resumed(None, Some(2))).is_some());
        assert!(event(&entry("spend", HaltAudit::default())).is_none());
        let all = entry(
            "halt",
            HaltAudit {
                scope: "all".into(),
                ..HaltAudit::default()
            },
        );
        assert!(matches!(event(&all).unwrap().data, ControlData::Halt(h) if h.target.is_none()));
        // Approvals: a human decision and an expiry.
        let mut decided = entry("human-decision", HaltAudit::default());
        decided.approval_id = Some("apr_1".into());
        decided.actor = Some("alice".into());
        decided.detail = serde_json::json!({"decision": "denied", "comment": "too risky", "reason": "denied by alice"});
        let e = event(&decided).unwrap();
        assert_eq!(e.kind, APPROVAL_DECIDED);
        assert_eq!(
            e.data,
            ControlData::Approval(ApprovalChange {
                approval_id: "apr_1".into(),
                decision: "denied".into(),
                reason: Some("denied by alice".into()),
                comment: Some("too risky".into()),
                by: Some("alice".into()),
                audit_seq: 7,
                escalated_to: None,
            })
        );
        let mut expired = entry("expired", HaltAudit::default());
        expired.approval_id = Some("apr_2".into());
        expired.detail = serde_json::json!({});
        let e = event(&expired).unwrap();
        assert_eq!(e.kind, APPROVAL_EXPIRED);
        assert!(
            matches!(&e.data, ControlData::Approval(a) if a.decision == "expired" && a.approval_id == "apr_2")
        );
        // The JSON the gateway gets.
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["data"]["approvalId"], "apr_2");
        assert_eq!(json["type"], "approval.expired");
        let mut escalated = entry("escalated", HaltAudit::default());
        escalated.approval_id = Some("apr_3".into());
        escalated.detail = serde_json::json!({"to": "leads"});
        let e = event(&escalated).unwrap();
        assert_eq!(e.kind, APPROVAL_ESCALATED);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            (&json["data"]["decision"], &json["data"]["escalatedTo"]),
            (&"pending".into(), &"leads".into())
        );
        assert!(event(&entry("decision", HaltAudit::default())).is_none());
        let mut garbled = entry("halt", HaltAudit::default());
        garbled.detail = serde_json::json!({ "scope": 3 });
        assert!(
            event_of(&garbled).is_err(),
            "a detail that does not parse is an error"
        );
    }
}
