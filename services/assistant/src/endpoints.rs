//! The assistant's HTTP endpoints, written once: each parses and checks its input,
//! calls one [`AssistantPorts`] operation ([`crate::api`]) and shapes the answer.

use agency_approval::contract::{
    ApprovalBody, BatchDecisionBody, GrantBody, HaltBody, HumanDecisionBody, ResumeBody, SpendBody,
};
use agency_kit::http::json;
use agency_kit::{ApiError, ApiResult, Request};
use http::StatusCode;
use serde_json::{Value, json};

use crate::chat::{Changed, ChatPorts, halt_warning, held_now};
use crate::ledger::{HaltsInForce, Resumed};
use crate::{Endpoint, audit_page, list_page};

/// Counts an approval decision (`{decision, reasonCode}`) by outcome and reason.
fn count_decision<P: ChatPorts>(p: &P, answer: &Value) {
    let outcome = answer["decision"].as_str().unwrap_or("unknown");
    let reason = answer["reasonCode"].as_str().unwrap_or("unknown");
    p.sample(&mut |r| {
        let _ = r.inc(agency_monitor::metrics::APPROVALS, &[outcome, reason]);
    });
}

/// Answers `req` at `endpoint` (the runtime found the route and checked the token).
pub async fn call<P: ChatPorts>(p: &P, endpoint: Endpoint, req: &Request) -> ApiResult {
    let ok = |v: Value| Ok(json(StatusCode::OK, &v));
    match endpoint {
        Endpoint::Approve => {
            let raw: Value = req.json()?;
            let body: ApprovalBody = serde_json::from_value(raw.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid approval request: {e}")))?;
            let asks_in_chat = body.reply_to.is_some();
            let request = body.into_request()?;
            let answer = p.approve(request, &raw).await?;
            count_decision(p, &answer);
            if asks_in_chat && answer["decision"] == "pending" {
                p.changed(Changed::Cards);
            }
            ok(answer)
        }
        Endpoint::List => ok(json!({ "approvals": p.approvals(&list_page(req)?).await? })),
        Endpoint::Get => {
            let id = req.param(0, "approval id")?;
            match p.approval(&id).await? {
                Some(a) => ok(a),
                None => Err(crate::no_approval(&id)),
            }
        }
        Endpoint::Decide => {
            let id = req.param(0, "approval id")?;
            let b: HumanDecisionBody = req.json()?;
            let approve = b.approve()?;
            let grant = b.grant_terms()?;
            let answer = p
                .decide(&id, approve, &b.by, b.comment.as_deref(), grant.as_ref())
                .await?;
            count_decision(
                p,
                &json!({ "decision": answer["decision"], "reasonCode": "human" }),
            );
            p.changed(Changed::Cards);
            ok(answer)
        }
        Endpoint::Extend => {
            let id = req.param(0, "approval id")?;
            let b: agency_approval::contract::ExtendBody = req.json()?;
            let (by, secs) = b.checked()?;
            let answer = p.extend(&id, secs, &by).await?;
            p.changed(Changed::Cards);
            ok(answer)
        }
        Endpoint::DecideMany => {
            let b: BatchDecisionBody = req.json()?;
            let batch = b.checked()?;
            let results = p.decide_batch(&batch).await?;
            let decided = results.iter().filter(|r| r["decided"] == true).count();
            for r in results.iter().filter(|r| r["decided"] == true) {
                count_decision(
                    p,
                    &json!({ "decision": r["status"], "reasonCode": "human" }),
                );
            }
            if decided > 0 {
                p.changed(Changed::Cards);
            }
            ok(json!({ "decided": decided, "results": results }))
        }
        Endpoint::AddGrant => {
            let b: GrantBody = req.json()?;
            let grant = p.add_grant(&b.checked()?).await?;
            Ok(json(StatusCode::CREATED, &grant))
        }
        Endpoint::Grants => {
            let (status, limit) = crate::grant_page(req)?;
            ok(json!({ "grants": p.grants(status, limit).await? }))
        }
        Endpoint::RevokeGrant => {
            let id = req.param(0, "grant id")?;
            match p.revoke_grant(&id, "operator").await? {
                Some(g) => ok(g),
                None => Err(ApiError::not_found(format!("no grant {id:?}"))),
            }
        }
        Endpoint::Halt => {
            let b: HaltBody = req.json()?;
            let what = b.target()?;
            let reason = b.reason()?;
            p.halt(&what, reason, "operator").await?;
            p.changed(Changed::Halts);
            let warnings = halt_warning(p, &what).await.into_iter().collect();
            let halts = p.halts().await?;
            Ok(json(StatusCode::OK, &HaltsInForce { halts, warnings }))
        }
        Endpoint::Halts => {
            let halts = p.halts().await?;
            Ok(json(
                StatusCode::OK,
                &HaltsInForce {
                    halts,
                    warnings: Vec::new(),
                },
            ))
        }
        Endpoint::Resume => {
            let b: ResumeBody = req.json()?;
            let what = b.target()?;
            let held = held_now(p).await;
            let lifted = p.resume(Some(&what), "operator").await?;
            if lifted > 0 {
                p.changed(Changed::Halts);
            }
            let released = if lifted > 0 {
                agency_approval::held_under(&held, Some(&what))
            } else {
                0
            };
            let halts = p.halts().await?;
            Ok(json(
                StatusCode::OK,
                &Resumed {
                    resumed: lifted > 0,
                    halts,
                    released,
                },
            ))
        }
        Endpoint::Spend => {
            let b: SpendBody = req.json()?;
            let actual = b.actual()?;
            let answer = p.spend(&b.approval_id, actual).await?;
            p.sample(&mut |r| {
                let _ = r.add(agency_monitor::metrics::SPENT, &[], b.actual_cost_usd);
            });
            ok(answer)
        }
        Endpoint::Budget => ok(p.budget().await?),
        Endpoint::Audit => ok(json!({ "entries": p.audit(&audit_page(req)?).await? })),
        Endpoint::AuditExport => Ok(p.audit_export(req).await?.response()),
        Endpoint::Chat => crate::chat::chat(p, req).await,
    }
}
