//! `/openapi.json`: the OpenAPI 3.1 document of this API, with a typed path per kind and
//! operation. The contracts crate owns it ([`orghub_contracts::openapi`]), generated from the same
//! types the handlers write; `contracts/openapi.json` is its committed copy, and the scenario
//! `the_served_openapi_document_is_the_committed_one` keeps the two equal.

use std::sync::LazyLock;

use serde_json::Value;

/// Built once: generating it runs schemars over every kind.
static DOCUMENT: LazyLock<Value> = LazyLock::new(orghub_contracts::openapi::document);

/// The document this writer serves.
pub fn document() -> Value {
    DOCUMENT.clone()
}
