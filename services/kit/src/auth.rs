//! Bearer tokens with three roles. The gateway routes and asks for approvals, the
//! operator changes things, the viewer reads. Where the tokens come from (a config file,
//! Worker secrets) is the runtime's business; checking them is written once, here.

use ::http::{HeaderMap, StatusCode, header};

use crate::http::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Gateway,
    Operator,
    Viewer,
}

/// What an endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (`/health`, `/openapi.json`).
    Public,
    /// Any role.
    Read,
    /// Gateway or operator.
    Route,
    /// Operator only.
    Write,
}

/// The accepted tokens of each role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub operator: Vec<String>,
    pub gateway: Vec<String>,
    pub viewer: Vec<String>,
}

impl Tokens {
    /// No token of any role.
    pub fn is_empty(&self) -> bool {
        self.operator.is_empty() && self.gateway.is_empty() && self.viewer.is_empty()
    }

    /// The caller's role, if the request's bearer token is one of ours and the role may
    /// do `access`: 401 for a missing, malformed or unknown token, 403 for a role that
    /// may not.
    pub fn authorize(&self, headers: &HeaderMap, access: Access) -> Result<Option<Role>, ApiError> {
        if access == Access::Public {
            return Ok(None);
        }
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("missing Authorization: Bearer token"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| unauthorized("Authorization must be 'Bearer <token>'"))?;
        let role = if matches(&self.operator, token) {
            Role::Operator
        } else if matches(&self.gateway, token) {
            Role::Gateway
        } else if matches(&self.viewer, token) {
            Role::Viewer
        } else {
            return Err(unauthorized("unknown token"));
        };
        let allowed = match access {
            Access::Public | Access::Read => true,
            Access::Route => matches!(role, Role::Gateway | Role::Operator),
            Access::Write => role == Role::Operator,
        };
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token's role may not do this",
            ));
        }
        Ok(Some(role))
    }
}

/// Compares every token in full, without an early exit on the first differing byte.
fn matches(tokens: &[String], candidate: &str) -> bool {
    tokens.iter().fold(false, |found, t| {
        let same = t.len() == candidate.len()
            && t.bytes()
                .zip(candidate.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        found | same
    })
}

/// A comma-separated token list (a Worker secret, an environment variable) as tokens.
pub fn token_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn roles_and_access() {
        let t = Tokens {
            operator: vec!["op".into()],
            gateway: vec!["gw".into()],
            viewer: token_list(" v1, ,v2 "),
        };
        let status = |h: &str, a| t.authorize(&headers(h), a).map_err(|e| e.status.as_u16());
        assert_eq!(status("Bearer op", Access::Write), Ok(Some(Role::Operator)));
        assert_eq!(status("bearer gw", Access::Route), Ok(Some(Role::Gateway)));
        assert_eq!(status("Bearer gw", Access::Write), Err(403));
        assert_eq!(status("Bearer v2", Access::Read), Ok(Some(Role::Viewer)));
        assert_eq!(status("Bearer v2", Access::Route), Err(403));
        assert_eq!(status("Bearer nope", Access::Read), Err(401));
        assert_eq!(status("Basic op", Access::Read), Err(401));
        assert_eq!(
            t.authorize(&HeaderMap::new(), Access::Read)
                .unwrap_err()
                .status
                .as_u16(),
            401
        );
        assert_eq!(t.authorize(&HeaderMap::new(), Access::Public), Ok(None));
    }
}
