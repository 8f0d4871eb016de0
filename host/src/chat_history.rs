//! Chat sessions in SQLite: the approval each session is discussing ("approve it"),
//! kept across restarts (history is the assistant service's store).

use rusqlite::{OptionalExtension, params};

use crate::store::{Store, StoreError, now_ms};

impl Store {
    /// The approval a session last talked about ("approve it").
    pub fn chat_last(&self, session: &str) -> Result<Option<String>, StoreError> {
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

    pub fn chat_set_last(&self, session: &str, approval: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO chat_sessions (session_id, last_approval, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(session_id) DO UPDATE SET last_approval = excluded.last_approval, updated_ms = excluded.updated_ms",
            params![session, approval, now_ms()],
        )?;
        Ok(())
    }
}
