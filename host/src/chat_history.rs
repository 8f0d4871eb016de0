//! The assistant's chat memory in SQLite: each session's messages, and the approval it
//! is discussing ("approve it"), kept across restarts.

use rusqlite::{OptionalExtension, params};

use crate::approvals::ApprovalError;
use crate::store::{Store, now_ms};

impl Store {
    /// Appends a chat message to a session's history.
    pub fn chat_append(
        &self,
        session: &str,
        role: &str,
        content: &str,
    ) -> Result<(), ApprovalError> {
        self.conn().execute(
            "INSERT INTO chat_messages (session_id, role, content, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![session, role, content, now_ms()],
        )?;
        Ok(())
    }

    /// The last `limit` messages of a session, oldest first: (role, content).
    pub fn chat_history(
        &self,
        session: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, ApprovalError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT role, content FROM (SELECT seq, role, content FROM chat_messages WHERE session_id = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq")?;
        let rows = stmt
            .query_map(params![session, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The approval a session last talked about ("approve it").
    pub fn chat_last(&self, session: &str) -> Result<Option<String>, ApprovalError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT last_approval FROM chat_sessions WHERE session_id = ?1",
                [session],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    pub fn chat_set_last(&self, session: &str, approval: &str) -> Result<(), ApprovalError> {
        self.conn().execute(
            "INSERT INTO chat_sessions (session_id, last_approval, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(session_id) DO UPDATE SET last_approval = excluded.last_approval, updated_ms = excluded.updated_ms",
            params![session, approval, now_ms()],
        )?;
        Ok(())
    }
}
