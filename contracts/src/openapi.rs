//! The writer API's OpenAPI 3.1 document (DESIGN §3), generated from the contract's types.
//!
//! Every operation of every kind is its own path (`/api/v1/{kommune}/units/{uuid}`, …) with its
//! own `operationId` (`put_unit`, `get_unit_history`, `list_units`, …) and tag (the kind's path),
//! and the kind's typed request and answer schemas: `UnitPut`, `UnitWritten`, `UnitDocument`,
//! `UnitHistory`, `UnitPage`, … So a client generated from the document has a typed method per
//! kind and action.
//!
//! Each kind's schemas come from one schemars generator of their own, whose generic definitions
//! (`EntityDocument`, `Segment`, `Timeline`) are renamed with the kind's prefix; the definitions
//! every kind shares (`Validity`, `Kommune`, `Name`, …) must come out equal from each generator.
//!
//! The committed `contracts/openapi.json` must equal [`render`]'s output (the contract test fails
//! on drift and says how to regenerate it); the writer serves [`document`].

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::api::{
    Change, ChangesAnswer, History, ImportSummary, NewToken, NewTokenRequest, Page, Problem,
    PutBody, PutChange, Readiness, Revoked, SnapshotHead, SourceDeclaration, SourceDeclared,
    SourceList, SourceRecord, TerminateBody, TokenList, Written,
};
use crate::document::EntityDocument;
use crate::entity::Attributes;
use crate::kind::EntityKind;
use crate::values::Cpr;

const SCHEMAS: &str = "#/components/schemas/";

/// The document as JSON.
pub fn document() -> Value {
    let mut components = Components::default();
    let mut paths = Map::new();
    let mut shared = generator();
    let refs = SharedRefs {
        problem: ref_of::<Problem>(&mut shared),
        changes: ref_of::<ChangesAnswer>(&mut shared),
        terminate: ref_of::<TerminateBody>(&mut shared),
        import: ref_of::<ImportSummary>(&mut shared),
        snapshot_head: ref_of::<SnapshotHead>(&mut shared),
        tokens: ref_of::<TokenList>(&mut shared),
        new_token_request: ref_of::<NewTokenRequest>(&mut shared),
        new_token: ref_of::<NewToken>(&mut shared),
        revoked: ref_of::<Revoked>(&mut shared),
        readiness: ref_of::<Readiness>(&mut shared),
        source_declaration: ref_of::<SourceDeclaration>(&mut shared),
        source_declared: ref_of::<SourceDeclared>(&mut shared),
        source_record: ref_of::<SourceRecord>(&mut shared),
        source_list: ref_of::<SourceList>(&mut shared),
    };
    let mut changes = Vec::new();
    for kind in EntityKind::ALL {
        let names = crate::with_kind!(kind, T => kind_schemas::<T>(kind, &mut components));
        changes.push(json!({"$ref": format!("{SCHEMAS}{}", names.put_change)}));
        changes.push(json!({"$ref": format!("{SCHEMAS}{}", names.patch_change)}));
        kind_paths(kind, &names, &refs, &mut paths);
    }
    changes.push(shared.subschema_for::<Change>().to_value());
    components.insert(
        "AnyChange".into(),
        json!({
            "description": "One operation of `POST /changes`: a put of one kind's state, a patch of it (a JSON merge patch over its validity), a terminate or a delete.",
            "oneOf": changes
        }),
    );
    for (name, mut schema) in shared.take_definitions(true) {
        if name == "Owned" {
            // `"*"` or a non-empty list of attribute names (the untagged enum says "a string").
            schema = json!({
                "description": "What one source owns of one kind: `\"*\"` (the whole kind: every attribute, and ending and deleting its entities) or some of its attributes.",
                "oneOf": [
                    {"const": "*", "type": "string"},
                    {"type": "array", "items": {"type": "string"}, "minItems": 1}
                ]
            });
        }
        components.insert(name, schema);
    }
    shared_paths(&refs, &mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "orghub writer API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The authoritative, bitemporal organisation store of Danish municipalities. \
                            Every operation of every kind has its own path and typed schemas. \
                            Errors are RFC 9457 problem documents (`Problem`). \
                            Entity documents and events: see contracts/README.md."
        },
        "tags": tags(),
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": components.0,
        }
    })
}

/// The committed text: pretty JSON with a final newline.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// JSON Schema 2020-12 (OpenAPI 3.1's dialect) with definitions under `components/schemas`.
fn generator() -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    settings.into_generator()
}

fn ref_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    let schema = generator.subschema_for::<T>();
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{SCHEMAS}{}", T::schema_name()))
}

/// `components.schemas`, sorted by name.
#[derive(Default)]
struct Components(BTreeMap<String, Value>);

impl Components {
    /// Adds a definition; a name two generators define must mean the same schema.
    fn insert(&mut self, name: String, schema: Value) {
        if let Some(old) = self.0.get(&name) {
            assert_eq!(
                old, &schema,
                "two different schemas are named {name}: give one of the types another name"
            );
        }
        self.0.insert(name, schema);
    }
}

/// The component names of one kind's schemas.
struct KindNames {
    put: String,
    written: String,
    document: String,
    history: String,
    page: String,
    put_change: String,
    patch: String,
    patch_change: String,
}

/// The generic types schemars names without their parameter, and the suffix of their per-kind
/// names: `Segment<Unit>` becomes `UnitSegment`. (The API's own generic types name themselves
/// per kind: `#[schemars(rename = "{A}Put")]`.)
const GENERIC: [(&str, &str); 3] = [
    ("EntityDocument", "Document"),
    ("Segment", "Segment"),
    ("Timeline", "Timeline"),
];

/// Generates one kind's schemas into `components`, with the generic definitions renamed after the
/// kind and its `kind` fields fixed to the kind's word.
fn kind_schemas<A: Attributes>(kind: EntityKind, components: &mut Components) -> KindNames {
    let prefix = A::schema_name();
    let renames: BTreeMap<String, String> = GENERIC
        .iter()
        .map(|(generic, suffix)| ((*generic).to_owned(), format!("{prefix}{suffix}")))
        .collect();
    let named = |schema_ref: String| {
        let name = schema_ref.trim_start_matches(SCHEMAS);
        renames
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    };
    let mut generator = generator();
    let names = KindNames {
        put: named(ref_of::<PutBody<A>>(&mut generator)),
        written: named(ref_of::<Written<A>>(&mut generator)),
        document: named(ref_of::<EntityDocument<A>>(&mut generator)),
        history: named(ref_of::<History<A>>(&mut generator)),
        page: named(ref_of::<Page<A>>(&mut generator)),
        put_change: named(ref_of::<PutChange<A>>(&mut generator)),
        patch: format!("{prefix}Patch"),
        patch_change: format!("{prefix}PatchChange"),
    };
    let cpr = (kind == EntityKind::Person).then(|| ref_of::<Cpr>(&mut generator));
    let own: Vec<String> = renames
        .values()
        .cloned()
        .chain([
            names.put.clone(),
            names.written.clone(),
            names.history.clone(),
            names.page.clone(),
            names.put_change.clone(),
            format!("{prefix}State"),
            format!("{prefix}Registration"),
        ])
        .collect();
    for (name, mut schema) in generator.take_definitions(true) {
        rename_refs(&mut schema, &renames);
        let name = renames.get(&name).cloned().unwrap_or(name);
        let properties = schema
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            .filter(|_| own.contains(&name));
        if let Some(properties) = properties {
            if properties.contains_key("kind") {
                properties.insert("kind".into(), json!({"const": kind.word()}));
            }
            if name == names.put_change {
                properties.insert("op".into(), json!({"const": "put"}));
            }
            // CPR is left out of the event schemas (`#[schemars(skip)]`); the API reads and
            // writes it with the `cpr:<k>` scope.
            if let (Some(cpr), true) = (&cpr, properties.contains_key("given_name")) {
                properties.insert(
                    "cpr".into(),
                    json!({"$ref": cpr, "description": "Sensitive: read and written only with the `cpr:<kommune>` scope; never in events."}),
                );
            }
        }
        components.insert(name, schema);
    }
    patch_schemas(kind, &prefix, &names, components);
    names
}

/// The kind's merge-patch schemas (`PATCH /{kind-path}/{uuid}`, `"op": "patch"` in
/// `/changes`), made from its put schemas: `validity` is required, every attribute optional and
/// nullable (absent keeps its value, `null` clears it).
fn patch_schemas(kind: EntityKind, prefix: &str, names: &KindNames, components: &mut Components) {
    let merge_patch = |components: &Components, source: &str, description: &str| {
        let mut schema = components.0.get(source).cloned().unwrap_or_default();
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            for (field, property) in properties.iter_mut() {
                if field == "validity" || field == "note" {
                    continue;
                }
                if let Some(p) = property.as_object_mut() {
                    p.remove("default");
                }
                *property = nullable(property.take());
            }
        }
        schema["required"] = json!(["validity"]);
        schema["description"] = description.into();
        schema
    };
    let patch = merge_patch(
        components,
        &names.put,
        "The body of `PATCH /{kind-path}/{uuid}`: a JSON merge patch (RFC 7396) over the interval `validity` names, and an optional note. An attribute left out keeps its value in each segment of the interval, `null` clears it; a gap in the interval gets the patch alone, which must then be a whole state. A sourced token may name only what its source owns.",
    );
    components.insert(names.patch.clone(), patch);
    let state = format!("{prefix}PatchState");
    let patch_state = merge_patch(
        components,
        &format!("{prefix}State"),
        "The `state` of a `patch` in `POST /changes`: a JSON merge patch (RFC 7396) over the interval `validity` names.",
    );
    components.insert(state.clone(), patch_state);
    components.insert(
        names.patch_change.clone(),
        json!({
            "description": "A `patch` of one entity in `POST /changes`: a JSON merge patch over its validity.",
            "properties": {
                "kind": {"const": kind.word()},
                "op": {"const": "patch"},
                "state": {"$ref": format!("{SCHEMAS}{state}")},
                "uuid": {"format": "uuid", "type": "string"}
            },
            "required": ["op", "kind", "uuid", "state"],
            "type": "object"
        }),
    );
}

/// `schema` that also admits `null`.
fn nullable(schema: Value) -> Value {
    let admits_null = |s: &Value| match s.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "null"),
        _ => false,
    };
    if admits_null(&schema)
        || schema
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(admits_null))
    {
        return schema;
    }
    let mut schema = schema;
    match schema.get("type").cloned() {
        _ if ["$ref", "enum", "const"]
            .iter()
            .any(|k| schema.get(*k).is_some()) =>
        {
            let description = schema.as_object_mut().and_then(|o| o.remove("description"));
            let mut wrapped = json!({"anyOf": [schema, {"type": "null"}]});
            if let Some(d) = description {
                wrapped["description"] = d;
            }
            wrapped
        }
        Some(Value::String(t)) => {
            schema["type"] = json!([t, "null"]);
            schema
        }
        Some(Value::Array(mut ts)) => {
            ts.push("null".into());
            schema["type"] = Value::Array(ts);
            schema
        }
        _ => {
            let description = schema.as_object_mut().and_then(|o| o.remove("description"));
            let mut wrapped = json!({"anyOf": [schema, {"type": "null"}]});
            if let Some(d) = description {
                wrapped["description"] = d;
            }
            wrapped
        }
    }
}

/// Points `$ref`s at renamed definitions.
fn rename_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "$ref" => {
                        let renamed = s.strip_prefix(SCHEMAS).and_then(|name| renames.get(name));
                        if let Some(new) = renamed {
                            *s = format!("{SCHEMAS}{new}");
                        }
                    }
                    _ => rename_refs(v, renames),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renames)),
        _ => {}
    }
}

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Scope {
    Read,
    Write,
    Admin,
    None,
}

impl Scope {
    fn describe(self) -> &'static str {
        match self {
            Scope::Read => "Scope: `read:<kommune>` (`cpr:<kommune>` to see CPR numbers).",
            Scope::Write => {
                "Scope: `write:<kommune>` (and `cpr:<kommune>` to write a CPR number). A sourced token (one with a `source`) writes a state as a merge patch and is held to what its source owns."
            }
            Scope::Admin => "Scope: `admin`.",
            Scope::None => "No token needed.",
        }
    }
}

/// One operation, filled in step by step.
struct Op(Map<String, Value>);

impl Op {
    fn new(id: String, tag: &str, summary: &str, scope: Scope) -> Self {
        let mut op = Map::new();
        op.insert("operationId".into(), id.into());
        op.insert("tags".into(), json!([tag]));
        op.insert("summary".into(), summary.into());
        op.insert("description".into(), scope.describe().into());
        let security = match scope {
            Scope::None => json!([]),
            _ => json!([{"bearer": []}]),
        };
        op.insert("security".into(), security);
        op.insert("parameters".into(), json!([]));
        op.insert("responses".into(), json!({}));
        Op(op)
    }

    fn param(mut self, name: &str, location: &str, schema: Value, description: &str) -> Self {
        let mut p =
            json!({"name": name, "in": location, "required": location == "path", "schema": schema});
        if !description.is_empty() {
            p["description"] = description.into();
        }
        if let Some(Value::Array(ps)) = self.0.get_mut("parameters") {
            ps.push(p);
        }
        self
    }

    /// The path parameters of `path`, in order.
    fn path_params(mut self, path: &str) -> Self {
        for name in path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        {
            let (schema, description) = match name {
                "kommune" => (
                    json!({"type": "string", "pattern": "^0?[0-9]{3}$"}),
                    "Kommunekode, e.g. 751 for Aarhus",
                ),
                "source" => (
                    json!({"type": "string", "pattern": "^[a-z][a-z0-9-]{0,31}$"}),
                    "The source label",
                ),
                _ => (json!({"type": "string", "format": "uuid"}), ""),
            };
            self = self.param(name, "path", schema, description);
        }
        self
    }

    fn body(mut self, content_type: &str, schema: Value) -> Self {
        self.0.insert(
            "requestBody".into(),
            json!({"required": true, "content": {content_type: {"schema": schema}}}),
        );
        self
    }

    fn json_body(self, schema_ref: &str) -> Self {
        self.body("application/json", json!({"$ref": schema_ref}))
    }

    fn answer(mut self, status: &str, description: &str, content: Option<(&str, Value)>) -> Self {
        let mut r = json!({"description": description});
        if let Some((content_type, schema)) = content {
            r["content"] = json!({content_type: {"schema": schema}});
        }
        if let Some(Value::Object(rs)) = self.0.get_mut("responses") {
            rs.insert(status.into(), r);
        }
        self
    }

    fn json_answer(self, status: &str, description: &str, schema_ref: &str) -> Self {
        self.answer(
            status,
            description,
            Some(("application/json", json!({"$ref": schema_ref}))),
        )
    }

    /// The problem documents an operation can answer with.
    fn problems(self, problem: &str, statuses: &[(&str, &str)]) -> Self {
        statuses.iter().fold(self, |op, (status, description)| {
            op.answer(
                status,
                description,
                Some(("application/problem+json", json!({"$ref": problem}))),
            )
        })
    }

    fn add(self, paths: &mut Map<String, Value>, path: &str, method: &str) {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = Value::Object(self.path_params(path).0);
    }
}

const UNAUTHORISED: (&str, &str) = ("401", "No or unknown token");
const FORBIDDEN: (&str, &str) = ("403", "The token lacks the scope");
const WRITE_FORBIDDEN: (&str, &str) = (
    "403",
    "The token lacks the scope: `write:<kommune>`, or `cpr:<kommune>` for a state that sets a CPR number (then `errors[]` points at its `/cpr`)",
);
const NOT_FOUND: (&str, &str) = ("404", "No such entity or municipality");
const BAD_REQUEST: (&str, &str) = ("400", "Malformed request (JSON, query)");
const CONFLICT: (&str, &str) = (
    "409",
    "Refused by an integrity rule (`urn:orghub:problem:dependents`, a concurrent write), or by ownership: `urn:orghub:problem:ownership` when a sourced token names a field, or ends an entity of a kind, that another source owns (`owner` names that source)",
);
const TOO_LARGE: (&str, &str) = ("413", "The body is over the limit");
const INVALID: (&str, &str) = (
    "422",
    "Validation failed: `errors[]` points at each problem",
);

fn kind_paths(
    kind: EntityKind,
    names: &KindNames,
    refs: &SharedRefs,
    paths: &mut Map<String, Value>,
) {
    let problem = refs.problem.as_str();
    let (word, tag) = (kind.word(), kind.path());
    let collection = format!("/api/v1/{{kommune}}/{tag}");
    let one = format!("{collection}/{{uuid}}");
    let r = |name: &str| format!("{SCHEMAS}{name}");
    let read = [BAD_REQUEST, UNAUTHORISED, FORBIDDEN, NOT_FOUND];
    let write = [
        BAD_REQUEST,
        UNAUTHORISED,
        WRITE_FORBIDDEN,
        NOT_FOUND,
        CONFLICT,
        TOO_LARGE,
        INVALID,
    ];
    let page_params = |op: Op, max: u32| {
        op.param(
            "cursor",
            "query",
            json!({"type": "string"}),
            "The `next_cursor` of the previous page",
        )
        .param(
            "limit",
            "query",
            json!({"type": "integer", "minimum": 1, "maximum": max}),
            "",
        )
    };

    Op::new(
        format!("put_{word}"),
        tag,
        &format!("Write a {word}'s state for one validity interval"),
        Scope::Write,
    )
    .json_body(&r(&names.put))
    .json_answer("200", "Changed, or `changed: false`", &r(&names.written))
    .json_answer("201", "Created", &r(&names.written))
    .problems(problem, &write)
    .add(paths, &one, "put");

    Op::new(
        format!("patch_{word}"),
        tag,
        &format!(
            "Change some of a {word}'s attributes over one validity interval (a JSON merge patch)"
        ),
        Scope::Write,
    )
    .json_body(&r(&names.patch))
    .json_answer("200", "Changed, or `changed: false`", &r(&names.written))
    .json_answer(
        "201",
        "Created: the entity was new, so the patch had to be a whole state",
        &r(&names.written),
    )
    .problems(problem, &write)
    .add(paths, &one, "patch");

    Op::new(
        format!("get_{word}"),
        tag,
        &format!("A {word}'s entity document"),
        Scope::Read,
    )
    .param(
        "at",
        "query",
        json!({"type": "string", "format": "date"}),
        "Valid-time view: `current` is the segment valid on this date",
    )
    .param(
        "as_of",
        "query",
        json!({"type": "string", "format": "date-time"}),
        "Registration-time view: the document as it was registered at this time",
    )
    .json_answer("200", "The document", &r(&names.document))
    .problems(problem, &read)
    .add(paths, &one, "get");

    Op::new(
        format!("delete_{word}"),
        tag,
        &format!("A {word} registered in error: remove it from the present view"),
        Scope::Write,
    )
    .json_answer("200", "Deleted", &r(&names.written))
    .problems(problem, &write)
    .add(paths, &one, "delete");

    Op::new(
        format!("terminate_{word}"),
        tag,
        &format!("End a {word}'s validity at `to` (exclusive)"),
        Scope::Write,
    )
    .json_body(&refs.terminate)
    .json_answer("200", "Terminated, or `changed: false`", &r(&names.written))
    .problems(problem, &write)
    .add(paths, &format!("{one}/terminate"), "post");

    page_params(
        Op::new(
            format!("get_{word}_history"),
            tag,
            &format!("A {word}'s registrations, newest first, paged"),
            Scope::Read,
        ),
        100,
    )
    .json_answer("200", "A page of registrations", &r(&names.history))
    .problems(problem, &read)
    .add(paths, &format!("{one}/history"), "get");

    page_params(
        Op::new(
            format!("list_{tag}"),
            tag,
            &format!("Live {tag} of the municipality in UUID order, paged"),
            Scope::Read,
        ),
        1000,
    )
    .json_answer("200", "A page of documents", &r(&names.page))
    .problems(problem, &read)
    .add(paths, &collection, "get");
}

/// The `$ref`s of the schemas the other paths use.
struct SharedRefs {
    problem: String,
    changes: String,
    terminate: String,
    import: String,
    snapshot_head: String,
    tokens: String,
    new_token_request: String,
    new_token: String,
    revoked: String,
    readiness: String,
    source_declaration: String,
    source_declared: String,
    source_record: String,
    source_list: String,
}

fn shared_paths(refs: &SharedRefs, paths: &mut Map<String, Value>) {
    let problem = refs.problem.as_str();
    let read = [BAD_REQUEST, UNAUTHORISED, FORBIDDEN, NOT_FOUND];
    let write = [
        BAD_REQUEST,
        UNAUTHORISED,
        WRITE_FORBIDDEN,
        NOT_FOUND,
        CONFLICT,
        TOO_LARGE,
        INVALID,
    ];
    let text = |op: Op, description: &str| {
        op.answer(
            "200",
            description,
            Some(("text/plain", json!({"type": "string"}))),
        )
    };

    Op::new(
        "post_changes".into(),
        "changes",
        "Operations on any kinds, applied atomically",
        Scope::Write,
    )
    .param(
        "Idempotency-Key",
        "header",
        json!({"type": "string"}),
        "Makes a retry safe: the same key (per token, kept 24 h) with the same body answers the first answer",
    )
    .body(
        "application/json",
        json!({"type": "array", "items": {"$ref": format!("{SCHEMAS}AnyChange")}}),
    )
    .json_answer("200", "One result per operation", &refs.changes)
    .problems(problem, &write)
    .add(paths, "/api/v1/{kommune}/changes", "post");

    Op::new(
        "post_import".into(),
        "import",
        "An NDJSON stream of `{kind, uuid, state}` lines, applied in batches",
        Scope::Write,
    )
    .param(
        "mode",
        "query",
        json!({"type": "string", "enum": ["partial", "full"]}),
        "`full` also ends the municipality's entities absent from the file",
    )
    .body(
        "application/x-ndjson",
        json!({"type": "string", "format": "binary", "contentMediaType": "application/x-ndjson"}),
    )
    .json_answer(
        "200",
        "Counts per outcome and the refused lines",
        &refs.import,
    )
    .problems(problem, &write)
    .add(paths, "/api/v1/{kommune}/import", "post");

    Op::new(
        "get_snapshot".into(),
        "feed",
        "NDJSON: first line `SnapshotHead` (`{\"sequence\": W}`, the event-log watermark), then every live entity document",
        Scope::Read,
    )
    .answer(
        "200",
        &format!("NDJSON; the first line is a {}", refs.snapshot_head.trim_start_matches(SCHEMAS)),
        Some(("application/x-ndjson", json!({"type": "string"}))),
    )
    .problems(problem, &read)
    .add(paths, "/api/v1/{kommune}/snapshot", "get");

    Op::new(
        "get_events".into(),
        "feed",
        "The municipality's event log after `after`, as a CloudEvents batch",
        Scope::Read,
    )
    .param(
        "after",
        "query",
        json!({"type": "integer", "minimum": 0}),
        "The last sequence already seen",
    )
    .param(
        "limit",
        "query",
        json!({"type": "integer", "minimum": 1}),
        "",
    )
    .answer(
        "200",
        "CloudEvents in structured mode (see contracts/asyncapi.yaml and contracts/schemas/)",
        Some((
            "application/cloudevents-batch+json",
            json!({"type": "array", "items": {"type": "object"}}),
        )),
    )
    .problems(problem, &read)
    .add(paths, "/api/v1/{kommune}/events", "get");

    let admin = [BAD_REQUEST, UNAUTHORISED, FORBIDDEN];
    Op::new("list_tokens".into(), "admin", "List tokens", Scope::Admin)
        .json_answer("200", "Every token, never a secret", &refs.tokens)
        .problems(problem, &admin)
        .add(paths, "/api/v1/admin/tokens", "get");
    Op::new(
        "create_token".into(),
        "admin",
        "Create a token; the secret is shown once",
        Scope::Admin,
    )
    .json_body(&refs.new_token_request)
    .json_answer("201", "The token with its secret", &refs.new_token)
    .problems(problem, &[BAD_REQUEST, UNAUTHORISED, FORBIDDEN, INVALID])
    .add(paths, "/api/v1/admin/tokens", "post");
    Op::new(
        "revoke_token".into(),
        "admin",
        "Revoke a token",
        Scope::Admin,
    )
    .json_answer("200", "Revoked", &refs.revoked)
    .problems(problem, &[BAD_REQUEST, UNAUTHORISED, FORBIDDEN, NOT_FOUND])
    .add(paths, "/api/v1/admin/tokens/{id}", "delete");

    Op::new(
        "list_sources".into(),
        "sources",
        "The municipality's declared source systems: what each owns, its last write and full import",
        Scope::Read,
    )
    .json_answer("200", "Every declared source", &refs.source_list)
    .problems(problem, &read)
    .add(paths, "/api/v1/{kommune}/sources", "get");
    Op::new(
        "get_source".into(),
        "sources",
        "One declared source system",
        Scope::Read,
    )
    .json_answer("200", "The source", &refs.source_record)
    .problems(problem, &read)
    .add(paths, "/api/v1/{kommune}/sources/{source}", "get");
    Op::new(
        "put_source".into(),
        "sources",
        "Declare what a source system owns in the municipality (replaces its declaration)",
        Scope::Admin,
    )
    .json_body(&refs.source_declaration)
    .json_answer("200", "Declared again", &refs.source_declared)
    .json_answer("201", "Declared", &refs.source_declared)
    .problems(
        problem,
        &[
            BAD_REQUEST,
            UNAUTHORISED,
            FORBIDDEN,
            NOT_FOUND,
            (
                "409",
                "`urn:orghub:problem:ownership`: another source already owns an item of the declaration (`owner` names it)",
            ),
            INVALID,
        ],
    )
    .add(paths, "/api/v1/{kommune}/sources/{source}", "put");

    text(
        Op::new("healthz".into(), "operations", "Liveness", Scope::None),
        "`ok`",
    )
    .add(paths, "/healthz", "get");
    Op::new(
        "readyz".into(),
        "operations",
        "Readiness: database and broker reachable",
        Scope::None,
    )
    .json_answer("200", "Ready", &refs.readiness)
    .json_answer("503", "Not ready", &refs.readiness)
    .add(paths, "/readyz", "get");
    text(
        Op::new(
            "metrics".into(),
            "operations",
            "Prometheus metrics",
            Scope::None,
        ),
        "The Prometheus text format",
    )
    .add(paths, "/metrics", "get");
    Op::new("openapi".into(), "operations", "This document", Scope::None)
        .answer(
            "200",
            "OpenAPI 3.1",
            Some(("application/json", json!({"type": "object"}))),
        )
        .add(paths, "/openapi.json", "get");
}

fn tags() -> Value {
    let kinds = EntityKind::ALL.map(|k| {
        json!({"name": k.path(), "description": format!("The {0} entities (dk.orghub.org.{0}.*.v1 events)", k.word())})
    });
    let others = [
        ("changes", "Atomic batches of operations on any kinds"),
        ("import", "Bulk NDJSON import"),
        (
            "sources",
            "Source systems: what each owns (DESIGN §2 *Source systems*)",
        ),
        ("feed", "Snapshot and event log"),
        ("admin", "Tokens"),
        ("operations", "Health, readiness, metrics, this document"),
    ]
    .map(|(name, description)| json!({"name": name, "description": description}));
    Value::Array(kinds.into_iter().chain(others).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_typed_paths_and_unique_operation_ids() {
        let doc = document();
        let mut ids = Vec::new();
        for (_, methods) in doc["paths"].as_object().expect("paths") {
            for (_, op) in methods.as_object().expect("methods") {
                ids.push(op["operationId"].as_str().expect("id").to_owned());
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operationIds repeat");
        for kind in EntityKind::ALL {
            let one = format!("/api/v1/{{kommune}}/{}/{{uuid}}", kind.path());
            let put = &doc["paths"][&one]["put"];
            assert_eq!(put["operationId"], format!("put_{}", kind.word()));
            let body = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .expect("typed body");
            let name = body.trim_start_matches(SCHEMAS);
            assert!(doc["components"]["schemas"][name]["properties"]["validity"].is_object());
            let patch = &doc["paths"][&one]["patch"];
            assert_eq!(patch["operationId"], format!("patch_{}", kind.word()));
            let body = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .expect("typed patch body");
            let schema = &doc["components"]["schemas"][body.trim_start_matches(SCHEMAS)];
            assert_eq!(schema["required"], json!(["validity"]), "{schema}");
            assert_eq!(
                patch["responses"]["409"]["content"]["application/problem+json"]["schema"]["$ref"],
                format!("{SCHEMAS}Problem")
            );
        }
        let unit_patch = &doc["components"]["schemas"]["UnitPatch"]["properties"];
        for field in ["name", "parent", "unit_type"] {
            let p = &unit_patch[field];
            let nullable = p["type"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("null")))
                || p["anyOf"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!({"type": "null"})));
            assert!(nullable, "UnitPatch.{field} is not nullable: {p}");
        }
        assert!(doc["components"]["schemas"]["Problem"]["properties"]["owner"].is_object());
        for path in [
            "/api/v1/{kommune}/sources",
            "/api/v1/{kommune}/sources/{source}",
        ] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        assert_eq!(
            doc["paths"]["/api/v1/{kommune}/sources/{source}"]["put"]["operationId"],
            "put_source"
        );
        let engagement = &doc["components"]["schemas"]["EngagementPut"]["properties"];
        assert!(engagement["job_title"].is_object(), "{engagement}");
        let person = &doc["components"]["schemas"]["PersonPut"]["properties"];
        assert!(person["cpr"].is_object(), "{person}");
        assert_eq!(
            doc["components"]["schemas"]["UnitDocument"]["properties"]["kind"]["const"],
            "unit"
        );
    }
}
