//! Grants as the assistant stores and shows them: the `grants` table over the SQL port
//! ([`Store`]'s grant methods), their API shape ([`GrantView`]) and the core's view of
//! a row ([`GrantRow::grant`]). What a grant covers is decided in the approval core
//! (`agency_approval::grant`).

use agency_approval::contract::NewGrant;
use agency_approval::{Grant, Micros, rfc3339};
use agency_kit::{ApiError, Db, SqlValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::store::{Audit, Store, stmt};
#[cfg(feature = "openapi")]
use agency_kit::openapi::Nullable;

/// One stored grant (the table's columns).
#[derive(Debug, Clone, Deserialize)]
pub struct GrantRow {
    pub id: String,
    pub agent: String,
    pub action: String,
    pub environment: Option<String>,
    pub channel: Option<String>,
    pub max_task_micros: Option<i64>,
    pub total_micros: Option<i64>,
    pub used_micros: i64,
    pub uses: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub created_by: String,
    pub reason: Option<String>,
    pub from_approval: Option<String>,
    pub revoked_ms: Option<i64>,
    pub revoked_by: Option<String>,
}

const GRANT_COLUMNS: &str = "id, agent, action, environment, channel, max_task_micros, total_micros, used_micros, uses, \
     created_ms, expires_ms, created_by, reason, from_approval, revoked_ms, revoked_by";

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum GrantStatus {
    Active,
    Expired,
    Revoked,
}

impl GrantStatus {
    pub fn parse(s: &str) -> Option<GrantStatus> {
        match s {
            "active" => Some(GrantStatus::Active),
            "expired" => Some(GrantStatus::Expired),
            "revoked" => Some(GrantStatus::Revoked),
            _ => None,
        }
    }
}

/// A grant as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "Grant"))]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    pub grant_id: String,
    pub status: GrantStatus,
    pub agent: String,
    pub action: String,
    /// The environment covered (`null`: requests that name none).
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub environment: Option<String>,
    /// The channel covered (`null`: any).
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub channel: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<f64>"))]
    pub max_task_cost_usd: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<f64>"))]
    pub total_cost_usd: Option<f64>,
    /// The estimates of the tasks it approved, summed.
    pub used_cost_usd: f64,
    /// How many tasks it approved.
    pub uses: i64,
    pub created_at: String,
    pub expires_at: String,
    pub created_by: String,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub reason: Option<String>,
    /// The approval it was granted from, if any (a card's "approve for 1 hour").
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub from_approval: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub revoked_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub revoked_by: Option<String>,
}

impl GrantRow {
    /// The core's view of it.
    pub fn grant(&self) -> Grant {
        Grant {
            id: self.id.clone(),
            agent: self.agent.clone(),
            action: self.action.clone(),
            environment: self.environment.clone(),
            channel: self.channel.clone(),
            max_task_cost: self.max_task_micros.map(Micros),
            total: self.total_micros.map(Micros),
            used: Micros(self.used_micros),
            expires_at_ms: self.expires_ms,
            revoked: self.revoked_ms.is_some(),
            by: self.created_by.clone(),
        }
    }

    pub fn view(&self, now: i64) -> GrantView {
        let usd = |m: i64| Micros(m).to_usd();
        GrantView {
            grant_id: self.id.clone(),
            status: if self.revoked_ms.is_some() {
                GrantStatus::Revoked
            } else if now >= self.expires_ms {
                GrantStatus::Expired
            } else {
                GrantStatus::Active
            },
            agent: self.agent.clone(),
            action: self.action.clone(),
            environment: self.environment.clone(),
            channel: self.channel.clone(),
            max_task_cost_usd: self.max_task_micros.map(usd),
            total_cost_usd: self.total_micros.map(usd),
            used_cost_usd: usd(self.used_micros),
            uses: self.uses,
            created_at: rfc3339(self.created_ms),
            expires_at: rfc3339(self.expires_ms),
            created_by: self.created_by.clone(),
            reason: self.reason.clone(),
            from_approval: self.from_approval.clone(),
            revoked_at: self.revoked_ms.map(rfc3339),
            revoked_by: self.revoked_by.clone(),
        }
    }

    pub fn to_json(&self, now: i64) -> serde_json::Value {
        serde_json::to_value(self.view(now)).unwrap_or_default()
    }
}

/// `GET /api/grants`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Grants {
    pub grants: Vec<GrantView>,
}

/// The statements that store `g` as grant `id` with its audit entry.
pub(crate) fn insert_grant<D: Db>(
    store: &Store<D>,
    id: &str,
    g: &NewGrant,
    now: i64,
) -> Vec<agency_kit::Statement> {
    let expires =
        now.saturating_add(i64::try_from(g.duration_secs).unwrap_or(i64::MAX / 1000) * 1000);
    let opt = |v: &Option<String>| SqlValue::from(v.as_deref());
    vec![
        stmt(
            "INSERT INTO grants (id, agent, action, environment, channel, max_task_micros, total_micros, created_ms, expires_ms, created_by, reason, from_approval)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            vec![
                id.into(),
                g.agent.as_str().into(),
                g.action.as_str().into(),
                opt(&g.environment),
                opt(&g.channel),
                g.max_task_cost.map(|m| m.0).into(),
                g.total.map(|m| m.0).into(),
                now.into(),
                expires.into(),
                g.by.as_str().into(),
                opt(&g.reason),
                opt(&g.from_approval),
            ],
        ),
        store.audit_stmt(
            &Audit {
                kind: "grant",
                approval: g.from_approval.as_deref(),
                actor: Some(&g.by),
                detail: json!({
                    "grantId": id,
                    "agent": g.agent,
                    "action": g.action,
                    "environment": g.environment,
                    "channel": g.channel,
                    "expiresAt": rfc3339(expires),
                    "maxTaskCostUsd": g.max_task_cost.map(Micros::to_usd),
                    "totalCostUsd": g.total.map(Micros::to_usd),
                    "reason": g.reason,
                }),
            },
            now,
        ),
    ]
}

impl<D: Db> Store<D> {
    /// Stores a new grant (with its audit entry).
    pub async fn add_grant(&self, id: &str, g: &NewGrant, now: i64) -> Result<(), ApiError> {
        self.db.batch(insert_grant(self, id, g, now)).await?;
        Ok(())
    }

    pub async fn grant(&self, id: &str) -> Result<Option<GrantRow>, ApiError> {
        Ok(self
            .db
            .first::<GrantRow>(
                &format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1"),
                &[id.into()],
            )
            .await?)
    }

    /// The grants in force for `agent` doing `action` at `now`.
    pub async fn grants_for(
        &self,
        agent: &str,
        action: &str,
        now: i64,
    ) -> Result<Vec<GrantRow>, ApiError> {
        Ok(self
            .db
            .query::<GrantRow>(
                &format!(
                    "SELECT {GRANT_COLUMNS} FROM grants WHERE agent = ?1 AND action = ?2 AND expires_ms > ?3 AND revoked_ms IS NULL"
                ),
                &[agent.into(), action.into(), now.into()],
            )
            .await?)
    }

    /// Grants newest first, of one status when given.
    pub async fn grants(
        &self,
        status: Option<GrantStatus>,
        limit: u32,
        now: i64,
    ) -> Result<Vec<GrantRow>, ApiError> {
        let filter = match status {
            None => "1",
            Some(GrantStatus::Active) => "revoked_ms IS NULL AND expires_ms > ?2",
            Some(GrantStatus::Expired) => "revoked_ms IS NULL AND expires_ms <= ?2",
            Some(GrantStatus::Revoked) => "revoked_ms IS NOT NULL",
        };
        Ok(self
            .db
            .query::<GrantRow>(
                &format!(
                    "SELECT {GRANT_COLUMNS} FROM grants WHERE {filter} AND ?2 = ?2 ORDER BY created_ms DESC, id LIMIT ?1"
                ),
                &[i64::from(limit).into(), now.into()],
            )
            .await?)
    }

    /// Counts `cost` against grant `id` if it still covers it (in force, within its
    /// limits): one conditional update, so racing approvals never pass its total.
    pub async fn use_grant(&self, id: &str, cost: Micros, now: i64) -> Result<bool, ApiError> {
        let w = self
            .db
            .execute(
                "UPDATE grants SET used_micros = used_micros + ?2, uses = uses + 1 WHERE id = ?1 \
                 AND revoked_ms IS NULL AND expires_ms > ?3 \
                 AND (max_task_micros IS NULL OR ?2 <= max_task_micros) \
                 AND (total_micros IS NULL OR used_micros + ?2 <= total_micros)",
                &[id.into(), cost.0.into(), now.into()],
            )
            .await?;
        Ok(w.changes > 0)
    }

    /// Gives back a use the approval did not come of (best effort: a failure leaves
    /// the grant counting more than it approved, never less).
    pub async fn unuse_grant(&self, id: &str, cost: Micros) {
        let _ = self
            .db
            .execute(
                "UPDATE grants SET used_micros = MAX(0, used_micros - ?2), uses = MAX(0, uses - 1) WHERE id = ?1",
                &[id.into(), cost.0.into()],
            )
            .await;
    }

    /// Revokes grant `id` (once: a second revoke changes nothing); false when unknown.
    pub async fn revoke_grant(&self, id: &str, by: &str, now: i64) -> Result<bool, ApiError> {
        let results = self
            .db
            .batch(vec![
                stmt(
                    "UPDATE grants SET revoked_ms = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_ms IS NULL",
                    vec![id.into(), now.into(), by.into()],
                ),
                stmt(
                    "INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json) SELECT ?1, 'grant-revoked', NULL, ?2, ?3 WHERE changes() > 0",
                    vec![now.into(), by.into(), json!({ "grantId": id }).to_string().into()],
                ),
            ])
            .await?;
        let revoked = results.first().is_some_and(|w| w.changes > 0);
        Ok(revoked || self.grant(id).await?.is_some())
    }
}
