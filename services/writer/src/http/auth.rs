//! Bearer tokens and scopes: `read:<k>`, `write:<k>`, `cpr:<k>` and `admin`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use orghub_contracts::{Attrs, EntityKind, Kommune};

use crate::store::Operation;

use super::AppState;
use super::error::ApiError;

/// What a scope allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read(Kommune),
    Write(Kommune),
    Cpr(Kommune),
    Admin,
}

impl Need {
    fn scope(self) -> String {
        match self {
            Need::Read(k) => format!("read:{k}"),
            Need::Write(k) => format!("write:{k}"),
            Need::Cpr(k) => format!("cpr:{k}"),
            Need::Admin => "admin".into(),
        }
    }
}

/// Checks a scope string as given to `token create`.
pub fn valid_scope(scope: &str) -> bool {
    if scope == "admin" {
        return true;
    }
    match scope.split_once(':') {
        Some(("read" | "write" | "cpr", k)) => Kommune::parse(k).is_ok_and(|p| p.to_string() == k),
        _ => false,
    }
}

/// Checks a source label: `[a-z][a-z0-9-]{0,31}`.
pub fn valid_source(source: &str) -> bool {
    let mut chars = source.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && source.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Recorded as the registration's actor.
    pub actor: String,
    scopes: Vec<String>,
    /// The source system the token writes for (DESIGN §2 *Source systems*).
    pub source: Option<String>,
}

impl Caller {
    pub fn allows(&self, need: Need) -> bool {
        self.scopes
            .iter()
            .any(|s| s == "admin" || *s == need.scope())
    }

    /// Refuses writing a state that carries a CPR number without `cpr:<k>`: writing one needs
    /// the scope, as reading does (DESIGN §3 *Auth*). The error points at `/cpr` of the state.
    pub fn may_write(&self, kommune: Kommune, attrs: &Attrs) -> Result<(), ApiError> {
        let carries_cpr = matches!(attrs, Attrs::Person(p) if p.cpr.is_some());
        if carries_cpr && !self.allows(Need::Cpr(kommune)) {
            return Err(ApiError::CprForbidden {
                scope: Need::Cpr(kommune).scope(),
                pointer: "/cpr".into(),
            });
        }
        Ok(())
    }

    /// [`Caller::may_write`] for any operation: a put's state, or a patch that sets `cpr`.
    pub fn may_write_op(&self, kommune: Kommune, op: &Operation) -> Result<(), ApiError> {
        match op {
            Operation::Put { state, .. } => self.may_write(kommune, &state.attrs),
            Operation::Patch {
                kind: EntityKind::Person,
                patch,
                ..
            } if patch.get("cpr").is_some_and(|v| !v.is_null())
                && !self.allows(Need::Cpr(kommune)) =>
            {
                Err(ApiError::CprForbidden {
                    scope: Need::Cpr(kommune).scope(),
                    pointer: "/cpr".into(),
                })
            }
            _ => Ok(()),
        }
    }

    pub fn require(&self, need: Need) -> Result<(), ApiError> {
        if self.allows(need) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(need.scope()))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        if let Some(admin) = &state.admin_token
            && constant_time_eq(admin.expose().as_bytes(), token.as_bytes())
        {
            return Ok(Caller {
                actor: "admin".into(),
                scopes: vec!["admin".into()],
                source: None,
            });
        }
        match state.store.token_scopes(token).await? {
            Some(t) => Ok(Caller {
                actor: format!("token:{}:{}", t.name, t.id),
                scopes: t.scopes,
                source: t.source,
            }),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_per_municipality() {
        let k751 = Kommune::parse("751").expect("k");
        let k101 = Kommune::parse("101").expect("k");
        let caller = Caller {
            actor: "t".into(),
            scopes: vec!["write:101".into()],
            source: None,
        };
        assert!(caller.allows(Need::Write(k101)));
        assert!(!caller.allows(Need::Write(k751)));
        assert!(!caller.allows(Need::Read(k101)));
        let admin = Caller {
            actor: "a".into(),
            scopes: vec!["admin".into()],
            source: None,
        };
        assert!(admin.allows(Need::Cpr(k751)));
        assert!(valid_scope("read:751") && valid_scope("admin"));
        assert!(!valid_scope("read:0751") && !valid_scope("read:999") && !valid_scope("root"));
        assert!(valid_source("sd") && valid_source("opus-2") && valid_source(&"a".repeat(32)));
        assert!(!valid_source("") && !valid_source("SD") && !valid_source("2sd"));
        assert!(!valid_source("s_d") && !valid_source(&"a".repeat(33)));
    }
}
