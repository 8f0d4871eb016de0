//! Route tables and the one rule that matches a request to a route, for every service
//! on both runtimes:
//!
//! - a path matches a pattern segment by segment; `{name}` takes one non-empty segment;
//!   a trailing slash is a different path (404), on both runtimes;
//! - `HEAD` is answered wherever `GET` is, without the body;
//! - a known path with another method is 405 with `Allow`;
//! - the caller's token is checked before the body is read (401 and 403 come first).
//!
//! A service declares `static ROUTES: &[Route<Endpoint>]`; the runtime finds the route,
//! reads the body within its [`BodyLimit`], and calls the service with the endpoint.

use ::http::{HeaderMap, Method, StatusCode, header};

use crate::auth::{Access, Tokens};
use crate::http::{ApiError, ApiResult, Response, allow_header, head_of};

/// How large a body a route reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// The route takes no body; one that is sent is not read.
    None,
    /// A small JSON request ([`Limits::message_bytes`]).
    Message,
    /// A skill graph ([`Limits::graph_bytes`]).
    Graph,
}

/// Body size limits, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub message_bytes: usize,
    pub graph_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_bytes: 64 * 1024,
            graph_bytes: 8 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The most bytes `body` may have; `None` when the body is not read at all.
    pub fn bytes(&self, body: BodyLimit) -> Option<usize> {
        match body {
            BodyLimit::None => None,
            BodyLimit::Message => Some(self.message_bytes),
            BodyLimit::Graph => Some(self.graph_bytes),
        }
    }
}

/// One entry of a service's route table.
#[derive(Debug)]
pub struct Route<E: 'static> {
    pub method: Method,
    /// `/api/agents/{id}/health`
    pub path: &'static str,
    pub access: Access,
    pub body: BodyLimit,
    pub endpoint: E,
    /// One line for people (and the OpenAPI summary).
    pub summary: &'static str,
}

/// A route found for a request, with its path parameters (still percent-encoded).
#[derive(Debug, Clone, PartialEq)]
pub struct Matched<E> {
    pub endpoint: E,
    /// The route's pattern, for logs and metrics.
    pub route: &'static str,
    pub access: Access,
    pub body: BodyLimit,
    pub params: Vec<String>,
}

impl<E> Matched<E> {
    /// The same match with its endpoint mapped (a runtime serving several services
    /// wraps each service's endpoint in its own).
    pub fn map<T>(self, f: impl FnOnce(E) -> T) -> Matched<T> {
        Matched {
            endpoint: f(self.endpoint),
            route: self.route,
            access: self.access,
            body: self.body,
            params: self.params,
        }
    }
}

/// Why no route was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Miss {
    NotFound,
    /// The path is known; these methods are what it takes.
    MethodNotAllowed(Vec<Method>),
}

impl Miss {
    /// The earlier miss unless the later one knows the path.
    pub fn or(self, other: Miss) -> Miss {
        match (self, other) {
            (Miss::MethodNotAllowed(mut a), Miss::MethodNotAllowed(b)) => {
                a.extend(b);
                Miss::MethodNotAllowed(a)
            }
            (Miss::NotFound, o) => o,
            (s, Miss::NotFound) => s,
        }
    }

    pub fn into_response(self) -> Response {
        match self {
            Miss::NotFound => ApiError::not_found("no such endpoint").into_response(),
            Miss::MethodNotAllowed(methods) => {
                let mut r = ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this endpoint does not accept that method",
                )
                .into_response();
                r.headers_mut()
                    .insert(header::ALLOW, allow_header(&methods));
                r
            }
        }
    }
}

/// The route of `table` for `method` and `path`.
pub fn find<E: Copy>(table: &[Route<E>], method: &Method, path: &str) -> Result<Matched<E>, Miss> {
    let wanted = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let mut allowed: Vec<Method> = Vec::new();
    let matches: Vec<(&Route<E>, Vec<String>)> = table
        .iter()
        .filter_map(|r| match_path(r.path, path).map(|p| (r, p)))
        .collect();
    // A literal segment wins over a parameter: `/api/approvals/decide` is that route's
    // path alone, not also `/api/approvals/{id}` for the id "decide".
    let fewest = matches.iter().map(|(_, p)| p.len()).min().unwrap_or(0);
    for (route, params) in matches.into_iter().filter(|(_, p)| p.len() == fewest) {
        if route.method == *wanted {
            return Ok(Matched {
                endpoint: route.endpoint,
                route: route.path,
                access: route.access,
                body: route.body,
                params,
            });
        }
        allowed.push(route.method.clone());
        if route.method == Method::GET {
            allowed.push(Method::HEAD);
        }
    }
    if allowed.is_empty() {
        Err(Miss::NotFound)
    } else {
        Err(Miss::MethodNotAllowed(allowed))
    }
}

/// The `{param}` segments of `path` if it matches `pattern`.
fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut got = path.strip_prefix('/')?.split('/');
    for want in pattern.strip_prefix('/')?.split('/') {
        let seg = got.next()?;
        if want.starts_with('{') {
            if seg.is_empty() {
                return None;
            }
            params.push(seg.to_owned());
        } else if want != seg {
            return None;
        }
    }
    got.next().is_none().then_some(params)
}

/// Checks the caller's token for a matched route: done before the body is read.
pub fn admit<E>(
    matched: &Matched<E>,
    tokens: &Tokens,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    tokens.authorize(headers, matched.access).map(|_| ())
}

/// The response to send for a handler's result: errors become their JSON body, and a
/// `HEAD` loses the body.
pub fn finish(method: &Method, result: ApiResult) -> Response {
    let r = result.unwrap_or_else(ApiError::into_response);
    if method == Method::HEAD {
        head_of(r)
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum E {
        Graph,
        PutGraph,
        Health,
    }

    static TABLE: &[Route<E>] = &[
        Route {
            method: Method::GET,
            path: "/api/graph",
            access: Access::Read,
            body: BodyLimit::None,
            endpoint: E::Graph,
            summary: "",
        },
        Route {
            method: Method::PUT,
            path: "/api/graph",
            access: Access::Write,
            body: BodyLimit::Graph,
            endpoint: E::PutGraph,
            summary: "",
        },
        Route {
            method: Method::PUT,
            path: "/api/agents/{id}/health",
            access: Access::Write,
            body: BodyLimit::Message,
            endpoint: E::Health,
            summary: "",
        },
        Route {
            method: Method::POST,
            path: "/api/agents/all/health",
            access: Access::Write,
            body: BodyLimit::Message,
            endpoint: E::Graph,
            summary: "",
        },
    ];

    #[test]
    fn one_matching_rule() {
        let found = |m: Method, p: &str| find(TABLE, &m, p);
        assert_eq!(found(Method::GET, "/api/graph").unwrap().endpoint, E::Graph);
        assert_eq!(
            found(Method::HEAD, "/api/graph").unwrap().endpoint,
            E::Graph
        );
        assert_eq!(
            found(Method::PUT, "/api/graph").unwrap().body,
            BodyLimit::Graph
        );
        let h = found(Method::PUT, "/api/agents/dev%20ops/health").unwrap();
        assert_eq!(
            (h.endpoint, h.params),
            (E::Health, vec!["dev%20ops".to_owned()])
        );
        assert_eq!(found(Method::GET, "/api/graph/"), Err(Miss::NotFound));
        assert_eq!(
            found(Method::PUT, "/api/agents//health"),
            Err(Miss::NotFound)
        );
        assert_eq!(found(Method::GET, "/api/graphs"), Err(Miss::NotFound));
        assert_eq!(found(Method::GET, "api/graph"), Err(Miss::NotFound));
        assert_eq!(
            found(Method::DELETE, "/api/graph"),
            Err(Miss::MethodNotAllowed(vec![
                Method::GET,
                Method::HEAD,
                Method::PUT
            ]))
        );
        assert_eq!(
            found(Method::GET, "/api/agents/x/health"),
            Err(Miss::MethodNotAllowed(vec![Method::PUT]))
        );
        // A literal segment wins over a parameter, for the route and for `Allow`.
        assert_eq!(
            found(Method::POST, "/api/agents/all/health")
                .unwrap()
                .endpoint,
            E::Graph
        );
        assert_eq!(
            found(Method::PUT, "/api/agents/all/health"),
            Err(Miss::MethodNotAllowed(vec![Method::POST]))
        );
    }

    #[test]
    fn method_not_allowed_says_allow() {
        let r = Miss::MethodNotAllowed(vec![Method::GET, Method::HEAD]).into_response();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            Miss::NotFound.or(Miss::MethodNotAllowed(vec![Method::PUT])),
            Miss::MethodNotAllowed(vec![Method::PUT])
        );
    }

    #[test]
    fn head_has_no_body() {
        let r = finish(&Method::HEAD, Err(ApiError::not_found("x")));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(r.body().is_empty());
    }
}
