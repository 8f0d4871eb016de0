//! Approval cards and batch cards: which card an approval has in which chat, the
//! message each was posted as, and whether its outcome is shown.

use agency_kit::{Db, PortError, Statement};
use serde::Deserialize;

/// Who a card asks: the people where the approval was asked (its `replyTo`), or the
/// approver group it escalated to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    Asked,
    Group(&'a str),
}

impl Audience<'_> {
    fn key(&self) -> &str {
        match self {
            Audience::Asked => "",
            Audience::Group(g) => g,
        }
    }
}

/// The statement that records the card for `approval_id` and `audience` at `address`
/// unless one exists, or the approval already has a card in that chat (an approver
/// group whose channel is where the ask was made sees the card there: a second one
/// would be noise, and a chat holds one card per approval). Its `changes` say whether
/// this one is new.
pub fn insert_card(
    approval_id: &str,
    audience: Audience<'_>,
    address: &crate::outbound::Address,
    now_ms: i64,
) -> Result<Statement, serde_json::Error> {
    Ok(Statement::new(
        "INSERT OR IGNORE INTO webhook_cards (approval_id, audience, platform, source, address_json, chat, decided, created_ms)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, 0, ?7
         WHERE NOT EXISTS (SELECT 1 FROM webhook_cards
             WHERE approval_id = ?1 AND platform = ?3 AND source = ?4 AND chat = ?6)",
        vec![
            approval_id.into(),
            audience.key().into(),
            address.platform().as_str().into(),
            address.source.as_str().into(),
            serde_json::to_string(address)?.into(),
            address.to.chat().into(),
            now_ms.into(),
        ],
    ))
}

/// A card whose outcome is not shown yet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CardRow {
    pub approval_id: String,
    /// `''` for the card where the approval was asked; else the approver group's name.
    pub audience: String,
    pub address_json: String,
    pub message_ref: Option<String>,
}

impl CardRow {
    pub fn audience(&self) -> Audience<'_> {
        match self.audience.as_str() {
            "" => Audience::Asked,
            g => Audience::Group(g),
        }
    }
}

pub async fn open_cards(db: &impl Db, limit: u32) -> Result<Vec<CardRow>, PortError> {
    db.query(
        "SELECT approval_id, audience, address_json, message_ref FROM webhook_cards WHERE decided = 0 ORDER BY created_ms LIMIT ?1",
        &[i64::from(limit).into()],
    )
    .await
}

/// Whether the approval already has its card for `audience`.
pub async fn has_card(
    db: &impl Db,
    approval_id: &str,
    audience: Audience<'_>,
) -> Result<bool, PortError> {
    #[derive(Deserialize)]
    struct One {
        #[allow(dead_code)]
        approval_id: String,
    }
    Ok(db
        .first::<One>(
            "SELECT approval_id FROM webhook_cards WHERE approval_id = ?1 AND audience = ?2",
            &[approval_id.into(), audience.key().into()],
        )
        .await?
        .is_some())
}

/// Notes the posted card's message, on the approval's card in chat `to`.
pub async fn card_posted(
    db: &impl Db,
    approval_id: &str,
    to: &agency_webhook::ReplyTo,
    message_ref: &str,
) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_cards SET message_ref = ?3 WHERE approval_id = ?1 AND chat = ?2",
        &[approval_id.into(), to.chat().into(), message_ref.into()],
    )
    .await?;
    Ok(())
}

/// A batch card: several asks of one conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchRow {
    pub id: String,
    pub approval_ids: String,
    pub address_json: String,
    pub message_ref: Option<String>,
}

impl BatchRow {
    /// The approvals it lists.
    pub fn ids(&self) -> Vec<String> {
        serde_json::from_str(&self.approval_ids).unwrap_or_default()
    }
}

/// The statement that records batch `id` listing `ids` at `address` in `conversation`,
/// unless it exists (its `changes` say whether this one is new).
pub fn insert_batch(
    id: &str,
    ids: &[String],
    address: &crate::outbound::Address,
    conversation: &str,
    now_ms: i64,
) -> Result<Statement, serde_json::Error> {
    Ok(Statement::new(
        "INSERT OR IGNORE INTO webhook_batches (id, approval_ids, platform, source, address_json, chat, conversation, decided, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, 0, ?7)",
        vec![
            id.into(),
            serde_json::to_string(ids)?.into(),
            address.platform().as_str().into(),
            address.source.as_str().into(),
            serde_json::to_string(address)?.into(),
            address.to.chat().into(),
            now_ms.into(),
            conversation.into(),
        ],
    ))
}

/// The open batch cards of `conversation` other than `newest`: a newer card there
/// supersedes them.
pub async fn superseded_batches(
    db: &impl Db,
    conversation: &str,
    newest: &str,
) -> Result<Vec<BatchRow>, PortError> {
    db.query(
        &format!("SELECT {BATCH_COLUMNS} FROM webhook_batches WHERE conversation = ?1 AND decided = 0 AND id <> ?2"),
        &[conversation.into(), newest.into()],
    )
    .await
}

const BATCH_COLUMNS: &str = "id, approval_ids, address_json, message_ref";

/// Batch `id`, if there is one.
pub async fn batch(db: &impl Db, id: &str) -> Result<Option<BatchRow>, PortError> {
    db.first(
        &format!("SELECT {BATCH_COLUMNS} FROM webhook_batches WHERE id = ?1"),
        &[id.into()],
    )
    .await
}

/// Batch cards not showing an outcome yet, oldest first.
pub async fn open_batches(db: &impl Db, limit: u32) -> Result<Vec<BatchRow>, PortError> {
    db.query(
        &format!("SELECT {BATCH_COLUMNS} FROM webhook_batches WHERE decided = 0 ORDER BY created_ms LIMIT ?1"),
        &[i64::from(limit).into()],
    )
    .await
}

/// Notes the posted batch card's message.
pub async fn batch_posted(db: &impl Db, id: &str, message_ref: &str) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_batches SET message_ref = ?2 WHERE id = ?1",
        &[id.into(), message_ref.into()],
    )
    .await?;
    Ok(())
}

/// Marks the batch card as showing its outcome; false when it already did.
pub async fn batch_decided(db: &impl Db, id: &str) -> Result<bool, PortError> {
    let w = db
        .execute(
            "UPDATE webhook_batches SET decided = 1 WHERE id = ?1 AND decided = 0",
            &[id.into()],
        )
        .await?;
    Ok(w.changes == 1)
}

/// Marks the approval's card in `chat` (the one clicked) as showing its outcome.
pub async fn card_clicked(db: &impl Db, approval_id: &str, chat: &str) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_cards SET decided = 1 WHERE approval_id = ?1 AND chat = ?2 AND decided = 0",
        &[approval_id.into(), chat.into()],
    )
    .await?;
    Ok(())
}

/// Marks the card as showing its outcome; false when it already did.
pub async fn card_decided(
    db: &impl Db,
    approval_id: &str,
    audience: Audience<'_>,
) -> Result<bool, PortError> {
    let w = db
        .execute(
            "UPDATE webhook_cards SET decided = 1 WHERE approval_id = ?1 AND audience = ?2 AND decided = 0",
            &[approval_id.into(), audience.key().into()],
        )
        .await?;
    Ok(w.changes == 1)
}
