//! The OpenAPI 3.1 document, built from the same route table the tests check against the router.

use serde_json::{Value, json};

/// Every route: method, path (OpenAPI syntax), summary, required scope.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    (
        "put",
        "/api/v1/{kommune}/{kind}/{uuid}",
        "Write a state for one validity interval (201 created, 200 changed or changed:false)",
        "write",
    ),
    (
        "get",
        "/api/v1/{kommune}/{kind}/{uuid}",
        "The entity document; ?at=DATE valid-time view, ?as_of=RFC3339 registration-time view",
        "read",
    ),
    (
        "delete",
        "/api/v1/{kommune}/{kind}/{uuid}",
        "Registered in error: remove from the present view",
        "write",
    ),
    (
        "post",
        "/api/v1/{kommune}/{kind}/{uuid}/terminate",
        "End validity at `to` (exclusive)",
        "write",
    ),
    (
        "get",
        "/api/v1/{kommune}/{kind}/{uuid}/history",
        "Registrations, newest first, paged (?cursor=&limit=, at most 100, default 50)",
        "read",
    ),
    (
        "get",
        "/api/v1/{kommune}/{kind}",
        "Live entities of a kind, cursor-paginated (?cursor=&limit=)",
        "read",
    ),
    (
        "post",
        "/api/v1/{kommune}/changes",
        "A JSON array of operations applied atomically; Idempotency-Key (per token, kept 24 h) makes retries safe",
        "write",
    ),
    (
        "post",
        "/api/v1/{kommune}/import",
        "NDJSON {kind, uuid, state} lines, ?mode=partial|full",
        "write",
    ),
    (
        "get",
        "/api/v1/{kommune}/snapshot",
        "NDJSON: {\"sequence\": W} then every live entity document",
        "read",
    ),
    (
        "get",
        "/api/v1/{kommune}/events",
        "The event log after ?after=N as a CloudEvents batch (?limit=)",
        "read",
    ),
    ("get", "/api/v1/admin/tokens", "List tokens", "admin"),
    (
        "post",
        "/api/v1/admin/tokens",
        "Create a token {name, scopes}; the secret is shown once",
        "admin",
    ),
    (
        "delete",
        "/api/v1/admin/tokens/{id}",
        "Revoke a token",
        "admin",
    ),
    ("get", "/healthz", "Liveness", "none"),
    (
        "get",
        "/readyz",
        "Readiness: database and broker reachable",
        "none",
    ),
    ("get", "/metrics", "Prometheus metrics", "none"),
    ("get", "/openapi.json", "This document", "none"),
];

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = match name {
                "kommune" => json!({"type": "string", "pattern": "^0?[0-9]{3}$"}),
                "kind" => json!({"type": "string", "enum": orghub_contracts::EntityKind::ALL.map(|k| k.path())}),
                _ => json!({"type": "string", "format": "uuid"}),
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, scope) in ROUTES {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        let security = if *scope == "none" {
            json!([])
        } else {
            json!([{"bearer": []}])
        };
        entry[*method] = json!({
            "summary": summary,
            "description": format!("Scope: {scope}{}", if scope.len() > 5 || *scope == "none" { "".to_owned() } else { ":<kommune>".to_owned() }),
            "parameters": parameters(path),
            "security": security,
            "responses": {
                "default": {
                    "description": "Errors are RFC 9457 problem documents",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                },
                "200": {"description": "OK"}
            }
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "orghub writer API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The authoritative, bitemporal organisation store of Danish municipalities. \
                            Entity documents and events: see contracts/README.md."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object", "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}}}}
                    }
                }
            }
        }
    })
}
