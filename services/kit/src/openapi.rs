//! The API document's builder. Paths come from the services' route tables (every route
//! is in, with the answers its kind of route can give: 400, 401/403 behind a token,
//! 413 with a body, 503 when storage fails), operations from each service's
//! [`Documented`] endpoints (an exhaustive `match`, so an endpoint cannot go
//! undocumented), and schemas from the handlers' types through `schemars` (a field
//! added to a body is in the document with the bounds its type declares).

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::auth::Access;
use crate::root;
use crate::routes::{BodyLimit, Route};

/// What a route does, beyond its place in the table.
pub struct Operation {
    /// Who may call it and what it guarantees (the route's summary is the first line).
    pub description: &'static str,
    /// The JSON body's schema, when the route takes one.
    pub request: Option<Value>,
    pub ok: Answer,
    pub params: Vec<Param>,
    /// Answers beyond those every route of its kind gives.
    pub errors: &'static [(u16, &'static str)],
}

/// The successful answer.
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub schema: Value,
    /// OpenAPI links from this answer to the operations it leads to.
    pub links: Option<Value>,
    /// Other statuses answered with the same body (`/health`'s 503), and why.
    pub also: Option<(u16, &'static str)>,
}

impl Answer {
    /// `200` with `schema`.
    pub fn ok(description: &'static str, schema: Value) -> Answer {
        Answer {
            status: 200,
            description,
            schema,
            links: None,
            also: None,
        }
    }

    /// `200` with a text body of `media_type` (not JSON), such as the Prometheus
    /// exposition.
    pub fn text(description: &'static str, media_type: &'static str) -> Answer {
        Answer::ok(
            description,
            json!({ "type": "string", TEXT_MEDIA_TYPE: media_type }),
        )
    }

    /// `200` as NDJSON, one JSON object a line, streamed (an export:
    /// [`crate::export::Export`]).
    pub fn ndjson(description: &'static str) -> Answer {
        Answer::text(description, "application/x-ndjson")
    }

    /// `200` as server-sent events, each described by `event` (the fields of one event:
    /// `event`, `data`, `id`, `retry`).
    pub fn events(description: &'static str, mut event: Value) -> Answer {
        event[TEXT_MEDIA_TYPE] = json!("text/event-stream");
        Answer::ok(description, event)
    }

    pub fn also(mut self, status: u16, description: &'static str) -> Answer {
        self.also = Some((status, description));
        self
    }

    pub fn with_links(mut self, links: Value) -> Answer {
        self.links = Some(links);
        self
    }
}

/// The `from` and `to` of an export ([`crate::export::Export::asked`]).
pub fn export_params() -> Vec<Param> {
    let instant = json!({ "anyOf": [
        { "type": "string", "format": "date" },
        { "type": "string", "format": "date-time" },
    ] });
    vec![
        Param {
            description: Some(
                "Inclusive: a day (2026-11-25, from its start in UTC) or an RFC 3339 time; the beginning when absent",
            ),
            ..Param::query("from", instant.clone())
        },
        Param {
            description: Some(
                "Exclusive: a day or an RFC 3339 time; just after the time of the request when absent. A window that ends before it starts holds nothing",
            ),
            ..Param::query("to", instant)
        },
    ]
}

/// A path, query or header parameter.
pub struct Param {
    pub name: &'static str,
    pub location: &'static str,
    pub required: bool,
    pub description: Option<&'static str>,
    pub schema: Value,
}

impl Param {
    pub fn path(name: &'static str, schema: Value) -> Param {
        Param {
            name,
            location: "path",
            required: true,
            description: None,
            schema,
        }
    }

    pub fn query(name: &'static str, schema: Value) -> Param {
        Param {
            name,
            location: "query",
            required: false,
            description: None,
            schema,
        }
    }

    pub fn header(name: &'static str, schema: Value) -> Param {
        Param {
            name,
            location: "header",
            required: false,
            description: None,
            schema,
        }
    }

    pub fn described(mut self, description: &'static str) -> Param {
        self.description = Some(description);
        self
    }

    pub fn required(mut self) -> Param {
        self.required = true;
        self
    }
}

/// `T` or null, in a field that is always there (an answer's `"rule": null`): the
/// schema `Option<T>` would give, for a field that is required.
pub struct Nullable<T>(std::marker::PhantomData<T>);

impl<T: JsonSchema> JsonSchema for Nullable<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Nullable_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [generator.subschema_for::<T>(), { "type": "null" }],
        })
    }
}

/// A service's endpoints, documented.
pub trait Documented: Copy + 'static {
    fn operation(self, doc: &mut Doc) -> Operation;
}

/// The document being built.
pub struct Doc {
    generator: SchemaGenerator,
    named: BTreeMap<String, Value>,
    paths: BTreeMap<&'static str, Map<String, Value>>,
    /// What Agency itself sends (OpenAPI's `webhooks`), by name.
    webhooks: BTreeMap<String, Value>,
}

impl Default for Doc {
    fn default() -> Self {
        Doc::new()
    }
}

fn error_answer(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    })
}

impl Doc {
    pub fn new() -> Doc {
        let generator = SchemaSettings::draft2020_12()
            .with(|s| s.definitions_path = "/components/schemas".into())
            .into_generator();
        let mut doc = Doc {
            generator,
            named: BTreeMap::new(),
            paths: BTreeMap::new(),
            webhooks: BTreeMap::new(),
        };
        doc.named(
            "Error",
            json!({
                "type": "object",
                "required": ["error"],
                "properties": { "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "type": "string" },
                        "message": { "type": "string" },
                        "details": {}
                    }
                } }
            }),
        );
        doc.routes(root::ROUTES);
        doc
    }

    /// `T`'s schema: a reference to its named schema, or inline.
    pub fn schema<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    /// A schema written out here, not derived from a type (for answers the handler
    /// shapes as JSON); a reference to it.
    pub fn named(&mut self, name: &str, schema: Value) -> Value {
        self.named.insert(name.to_owned(), schema);
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// Documents a request Agency sends (to the gateway): OpenAPI's `webhooks`, signed
    /// as Standard Webhooks.
    pub fn webhook(&mut self, name: &str, summary: &str, description: &str, body: Value) {
        let signed = |name: &str, what: &str| {
            json!({ "name": name, "in": "header", "required": true,
                    "schema": { "type": "string" }, "description": what })
        };
        self.webhooks.insert(
            name.to_owned(),
            json!({ "post": {
                "summary": summary,
                "description": description,
                "security": [],
                "parameters": [
                    signed("webhook-id", "The delivery's id: the same on every retry; deduplicate on it"),
                    signed("webhook-timestamp", "Seconds since the epoch"),
                    signed("webhook-signature", "`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the gateway's `whsec_` secret"),
                ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
                "responses": {
                    "2XX": { "description": "Received: not sent again" },
                    "410": { "description": "Gone: not sent again" },
                    "default": { "description": "Sent again later, honouring Retry-After" },
                },
            } }),
        );
    }

    /// Documents every route of `table`.
    pub fn routes<E: Documented>(&mut self, table: &'static [Route<E>]) {
        for route in table {
            let op = route.endpoint.operation(self);
            let method = route.method.as_str().to_ascii_lowercase();
            let value = operation_json(route, op);
            self.paths
                .entry(route.path)
                .or_default()
                .insert(method, value);
        }
    }

    /// The whole document.
    pub fn finish(mut self, info: Value) -> Value {
        let mut schemas: Map<String, Value> =
            self.generator.take_definitions(true).into_iter().collect();
        for (name, schema) in std::mem::take(&mut self.named) {
            // Two schemas under one name would make every reference to it lie.
            if let Some(derived) = schemas.insert(name.clone(), schema) {
                panic!("two schemas are named {name}: {derived}");
            }
        }
        if let Some(dup) = schemas.keys().find(|k| k.ends_with('2')) {
            panic!("schemars renamed a second type to {dup}: give one of them another name");
        }
        let paths: Map<String, Value> = std::mem::take(&mut self.paths)
            .into_iter()
            .map(|(p, ops)| (p.to_owned(), Value::Object(ops)))
            .collect();
        let webhooks: Map<String, Value> = std::mem::take(&mut self.webhooks).into_iter().collect();
        json!({
            "openapi": "3.1.0",
            "info": info,
            "servers": [{ "url": "http://127.0.0.1:8787" }],
            "security": [{ "bearer": [] }],
            "paths": paths,
            "webhooks": webhooks,
            "components": {
                "securitySchemes": { "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Tokens have one of three roles: gateway, operator, viewer."
                } },
                "schemas": schemas,
            },
        })
    }
}

/// Marks an answer's schema as text of a media type ([`Answer::text`]); the document
/// shows it under that media type instead of `application/json`.
const TEXT_MEDIA_TYPE: &str = "x-agency-media-type";

fn operation_json<E>(route: &Route<E>, op: Operation) -> Value {
    let mut responses = Map::new();
    let mut schema = op.ok.schema;
    let media = schema
        .as_object_mut()
        .and_then(|o| o.remove(TEXT_MEDIA_TYPE))
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "application/json".to_owned());
    let mut ok = json!({
        "description": op.ok.description,
        "content": { media: { "schema": schema } },
    });
    if let Some(links) = op.ok.links {
        ok["links"] = links;
    }
    if let Some((status, description)) = op.ok.also {
        let mut other = ok.clone();
        other["description"] = json!(description);
        responses.insert(status.to_string(), other);
    }
    responses.insert(op.ok.status.to_string(), ok);
    let service = route.access != Access::Public;
    let mut standard: Vec<(u16, &str)> = Vec::new();
    if service {
        standard.extend([
            (400, "Invalid JSON, fields or parameters"),
            (401, "Missing or unknown token"),
            (403, "The token's role may not do this"),
            (503, "Storage unavailable"),
        ]);
    }
    if route.body != BodyLimit::None {
        standard.push((413, "Body over the limit"));
    }
    for (status, description) in standard.into_iter().chain(op.errors.iter().copied()) {
        let answer = match status {
            // Not modified: no body.
            300..=399 => json!({ "description": description }),
            _ => error_answer(description),
        };
        responses.insert(status.to_string(), answer);
    }
    let mut v = json!({
        "summary": route.summary,
        "operationId": operation_id(route),
        "responses": responses,
    });
    if !op.description.is_empty() {
        v["description"] = json!(op.description);
    }
    if !service {
        v["security"] = json!([]);
    }
    if let Some(schema) = op.request {
        v["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": schema } },
        });
    }
    if !op.params.is_empty() {
        v["parameters"] = op
            .params
            .into_iter()
            .map(|p| {
                let mut j = json!({
                    "name": p.name,
                    "in": p.location,
                    "required": p.required,
                    "schema": p.schema,
                });
                if let Some(d) = p.description {
                    j["description"] = json!(d);
                }
                j
            })
            .collect();
    }
    v
}

/// `get_api_approvals_id`: unique per method and path.
fn operation_id<E>(route: &Route<E>) -> String {
    let path: String = route
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut id = format!("{}_{}", route.method.as_str().to_ascii_lowercase(), path);
    while id.contains("__") {
        id = id.replace("__", "_");
    }
    id.trim_end_matches('_').to_owned()
}

impl Documented for root::Endpoint {
    fn operation(self, doc: &mut Doc) -> Operation {
        match self {
            root::Endpoint::Health => Operation {
                description: "Every part's health; 503 when one is unhealthy.",
                request: None,
                ok: Answer::ok(
                    "Healthy",
                    doc.named(
                        "Health",
                        json!({
                            "type": "object",
                            "required": ["status", "version", "parts"],
                            "properties": {
                                "status": { "type": "string", "enum": ["ok", "degraded"] },
                                "version": { "type": "string" },
                                "parts": { "type": "object" }
                            }
                        }),
                    ),
                )
                .also(503, "A part is unhealthy"),
                params: Vec::new(),
                errors: &[],
            },
            root::Endpoint::OpenApi => Operation {
                description: "",
                request: None,
                ok: Answer::ok("OpenAPI 3.1 document", json!({ "type": "object" })),
                params: Vec::new(),
                errors: &[],
            },
        }
    }
}
