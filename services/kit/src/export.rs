//! Exports: the rows a kind of record holds in a time window, as the archive would hold
//! them, streamed as NDJSON by the export endpoints (`GET /api/audit/export`, `GET
//! /api/route/decisions/export`).

use futures_util::Stream;
use serde::Deserialize;

use crate::ports::{Db, PortError, SqlValue};
use crate::retention::{BATCH, Retained, ndjson};

/// An export under way: the rows of a kind with times in `from_ms..to_ms`, oldest
/// first, each with its children, as the archive holds them, as NDJSON. The service
/// answers with it ([`Export::response`]); the runtime sends the response's headers,
/// then streams [`Export::next_page`] until it is done, so an export of any size is
/// sent a page at a time (a failure midway breaks the connection: a cut-off export
/// never looks whole).
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub of: &'static Retained,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The last row sent: (time, key).
    after: Option<(i64, SqlValue)>,
    done: bool,
}

impl Export {
    pub fn new(of: &'static Retained, from_ms: i64, to_ms: i64) -> Export {
        Export {
            of,
            from_ms,
            to_ms,
            after: None,
            done: from_ms >= to_ms,
        }
    }

    /// The next page's lines (up to [`BATCH`] rows), `None` once every row was sent.
    pub async fn next_page(&mut self, db: &impl Db) -> Result<Option<Vec<u8>>, PortError> {
        if self.done {
            return Ok(None);
        }
        let (t, k) = (self.of.time, self.of.key);
        let mut params: Vec<SqlValue> = vec![self.from_ms.into(), self.to_ms.into()];
        let mut cond = format!("{t} >= ?1 AND {t} < ?2");
        if let Some((at, key)) = &self.after {
            cond.push_str(&format!(" AND ({t} > ?3 OR ({t} = ?3 AND {k} > ?4))"));
            params.extend([(*at).into(), key.clone()]);
        }
        let Some(batch) = self.of.select(db, &cond, params, BATCH).await? else {
            self.done = true;
            return Ok(None);
        };
        self.done = batch.rows.len() < BATCH as usize;
        let page = ndjson(&batch.rows);
        self.after = Some(batch.last);
        Ok(Some(page))
    }

    /// The export `req` asks for: `from` (inclusive; the beginning by default) and `to`
    /// (exclusive; just after `now_ms` by default, so an export is of what existed when
    /// it was asked), each a day (`2026-11-25`, from its start in UTC) or an RFC 3339
    /// time; a window that ends before it starts holds nothing.
    pub fn asked(
        of: &'static Retained,
        req: &crate::Request,
        now_ms: i64,
    ) -> Result<Export, crate::ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Query {
            from: Option<String>,
            to: Option<String>,
        }
        let q: Query = req.query()?;
        let at = |name: &str, v: Option<&String>, default: i64| match v {
            None => Ok(default),
            Some(t) => agency_approval::parse_instant(t).ok_or_else(|| not_an_instant(name, t)),
        };
        let (from, to) = (
            at("from", q.from.as_ref(), i64::MIN)?,
            // Exclusive: a row of this very millisecond is in.
            at("to", q.to.as_ref(), now_ms + 1)?,
        );
        Ok(Export::new(of, from, to))
    }

    /// Its pages, read one at a time as they are taken, from the database `db` finds in
    /// `holder` (which the stream owns: it outlives the handler that answered). A
    /// failure ends the stream with it, for the runtime to cut the connection.
    pub fn pages<H, D: Db>(
        self,
        holder: H,
        db: impl Fn(&H) -> &D,
    ) -> impl Stream<Item = Result<Vec<u8>, PortError>> {
        futures_util::stream::unfold(Some((holder, db, self)), |at| async move {
            let (holder, db, mut export) = at?;
            match export.next_page(db(&holder)).await {
                Ok(Some(page)) => Some((Ok(page), Some((holder, db, export)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// The answer that starts it: 200, NDJSON, no body yet (the runtime streams the
    /// pages; [`Export::of_response`] finds it).
    pub fn response(self) -> crate::Response {
        let mut r = crate::Response::new(Vec::new());
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-ndjson"),
        );
        r.extensions_mut().insert(self);
        r
    }

    /// The export `response` starts, if it starts one.
    pub fn of_response(response: &mut crate::Response) -> Option<Export> {
        response.extensions_mut().remove::<Export>()
    }
}

/// The 400 of a `from` or `to` that is neither a day nor an RFC 3339 time.
fn not_an_instant(name: &str, text: &str) -> crate::ApiError {
    crate::ApiError::bad_request(format!(
        "{name} must be a day (2026-11-25) or an RFC 3339 time (2026-11-25T10:00:00Z), not {text:?}"
    ))
}
