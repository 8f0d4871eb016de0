//! Bearer tokens with three roles. The gateway routes (and later asks approvals), the
//! operator changes things, the viewer reads.

use axum::http::{HeaderMap, StatusCode};

use super::error::ApiError;
use crate::config::Auth;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Gateway,
    Operator,
    Viewer,
}

/// What an endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Any role.
    Read,
    /// Gateway or operator.
    Route,
    /// Operator only.
    Write,
}

pub fn authorize(auth: &Auth, headers: &HeaderMap, access: Access) -> Result<Role, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
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
    let role = if matches(&auth.operator_tokens, token) {
        Role::Operator
    } else if matches(&auth.gateway_tokens, token) {
        Role::Gateway
    } else if matches(&auth.viewer_tokens, token) {
        Role::Viewer
    } else {
        return Err(unauthorized("unknown token"));
    };
    let allowed = match access {
        Access::Read => true,
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
    Ok(role)
}

/// Compares without an early exit on the first differing byte.
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

/// A fresh random token, `agt_` + 32 hex digits.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap_or_else(|_| {
        let t = crate::store::now_ms() as u128 ^ (std::process::id() as u128) << 64;
        bytes = t.to_le_bytes();
    });
    format!("agt_{}", hex(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
