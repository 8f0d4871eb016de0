//! The one request middleware of both runtimes: every request gets an id (sent back as
//! `x-request-id`), is timed, and ends in one [`RequestLog`] handed to the runtime's
//! [`Observer`] (a structured log line today; monitoring's metrics hook in here).

use std::future::Future;

use ::http::{HeaderValue, Method};

use crate::http::Response;
use crate::ports::{Clock, Random};

/// What is known about a request once it is answered. `route` is the route's pattern
/// (`/api/agents/{id}/health`), never the raw path, so it can label a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLog {
    pub id: String,
    /// The service that answered (`router`, `skill-graph`, ...; `agency` for `/health`
    /// and what no route matched on the local server).
    pub service: &'static str,
    pub method: Method,
    pub route: &'static str,
    pub status: u16,
    pub ms: f64,
}

impl RequestLog {
    /// Counts this request in `metrics`: requests by service, route, method and status
    /// class, and the time it took by service and route. Every runtime's observer does
    /// this with its own registry.
    pub fn count(&self, metrics: &mut agency_monitor::Registry) {
        use agency_monitor::metrics::{HTTP_DURATION, HTTP_REQUESTS};
        let class = match self.status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        // The families have room for every route of every table: refusals only come
        // from a label set the table does not know, which cannot happen here.
        let _ = metrics.inc(
            HTTP_REQUESTS,
            &[self.service, self.route, self.method.as_str(), class],
        );
        let _ = metrics.observe(HTTP_DURATION, &[self.service, self.route], self.ms / 1000.0);
    }

    /// `req_… GET /api/graph 200 0.41ms`
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} {:.2}ms",
            self.id, self.method, self.route, self.status, self.ms
        )
    }
}

/// Where the runtime sends each request's log.
pub trait Observer {
    fn record(&self, log: &RequestLog);
}

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "(unmatched)";

/// Answers with `answer`, timed and logged, with `x-request-id` set.
pub async fn observed<P, F>(
    p: &P,
    service: &'static str,
    method: &Method,
    route: &'static str,
    answer: F,
) -> Response
where
    P: Clock + Random + Observer,
    F: Future<Output = Response>,
{
    // An id is for correlating logs: without randomness the request is still answered.
    let id = p
        .id::<8>("req_")
        .unwrap_or_else(|_| "req_unknown".to_owned());
    let start = p.precise_ms();
    let mut response = answer.await;
    let log = RequestLog {
        id,
        service,
        method: method.clone(),
        route,
        status: response.status().as_u16(),
        ms: (p.precise_ms() - start).max(0.0),
    };
    if let Ok(v) = HeaderValue::from_str(&log.id) {
        response.headers_mut().insert("x-request-id", v);
    }
    p.record(&log);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortError;
    use std::cell::RefCell;

    struct Fake {
        logs: RefCell<Vec<RequestLog>>,
    }
    impl Clock for Fake {
        fn now_ms(&self) -> i64 {
            1000
        }
    }
    impl Random for Fake {
        fn fill(&self, b: &mut [u8]) -> Result<(), PortError> {
            b.fill(1);
            Ok(())
        }
    }
    impl Observer for Fake {
        fn record(&self, log: &RequestLog) {
            self.logs.borrow_mut().push(log.clone());
        }
    }

    #[test]
    fn every_answer_is_logged_with_its_id() {
        let p = Fake {
            logs: RefCell::new(Vec::new()),
        };
        let answer = async { crate::http::ApiError::not_found("x").into_response() };
        let r = futures_executor_lite(observed(
            &p,
            "skill-graph",
            &Method::GET,
            "/api/graph",
            answer,
        ));
        assert_eq!(r.headers()["x-request-id"], "req_0101010101010101");
        let logs = p.logs.borrow();
        assert_eq!(logs[0].status, 404);
        assert_eq!(
            logs[0].line(),
            "req_0101010101010101 GET /api/graph 404 0.00ms"
        );
    }

    /// Polls a future that never waits.
    fn futures_executor_lite<F: Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the future waited"),
        }
    }
}
