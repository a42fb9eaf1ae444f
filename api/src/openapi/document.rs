//! Assembling the OpenAPI 3.1 document from the route tables and the operations.

use super::operation::{self, Answer, Body, Operation, Param, ParamKind};
use crate::route::{self, Endpoint};
use axum::http::Method;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Where the agent serves the document.
pub const PATH: &str = "/v1/legate/openapi.json";

/// The answer to `GET` of `PATH`.
pub fn answer() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}

/// The document as JSON, built on first use.
pub fn document() -> &'static [u8] {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_vec(&build()).expect("the document serialises"))
}

/// Methods in the order the document lists them.
const METHODS: [Method; 4] = [Method::GET, Method::PUT, Method::POST, Method::DELETE];

fn build() -> Value {
    // JSON Schema 2020-12, which OpenAPI 3.1 uses, with shared shapes under components.
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();

    let mut paths = Map::new();
    let exact = route::EXACT
        .iter()
        .map(|(path, endpoint)| ((*path).to_owned(), endpoint.clone(), None));
    let prefixed = route::PREFIXES.iter().map(|(prefix, build)| {
        let endpoint = build(String::new());
        let name = operation::argument(&endpoint);
        (format!("{prefix}{{{name}}}"), endpoint, Some(name))
    });
    for (path, endpoint, argument) in exact.chain(prefixed) {
        let mut item = Map::new();
        for method in methods(&endpoint) {
            if let Some(described) = operation::describe(&endpoint, &method) {
                let value = operation_json(&described, argument, &mut generator);
                item.insert(method.as_str().to_ascii_lowercase(), value);
            }
        }
        if !item.is_empty() {
            paths.insert(path, Value::Object(item));
        }
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Legate HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Consul's /v1 HTTP API as Legate serves it. Errors are plain text \
                            with Consul's status codes.",
        },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

/// The methods an endpoint documents: its own, or for the endpoints that take any (the
/// handler decides), the ones `describe` knows.
fn methods(endpoint: &Endpoint) -> Vec<Method> {
    match endpoint.methods() {
        Some(methods) => methods.to_vec(),
        None => METHODS.to_vec(),
    }
}

fn operation_json(
    operation: &Operation,
    argument: Option<&str>,
    generator: &mut SchemaGenerator,
) -> Value {
    let mut parameters: Vec<Value> = Vec::new();
    if let Some(name) = argument {
        parameters.push(json!({
            "name": name,
            "in": "path",
            "required": true,
            "schema": { "type": "string", "minLength": 1 },
        }));
    }
    parameters.extend(operation.params.iter().map(param_json));
    let mut value = json!({
        "summary": operation.summary,
        "operationId": operation.id,
        "parameters": parameters,
        "responses": responses(operation, generator),
    });
    let body = match &operation.body {
        Body::None => None,
        Body::Json(schema) => Some(json!({ "application/json": { "schema": schema(generator) } })),
        Body::Bytes => Some(json!({
            "application/octet-stream": { "schema": { "type": "string", "format": "binary" } }
        })),
    };
    if let Some(content) = body {
        value["requestBody"] = json!({ "required": false, "content": content });
    }
    value
}

fn param_json(param: &Param) -> Value {
    let schema = match param.kind {
        ParamKind::Flag => json!({ "type": "string" }),
        ParamKind::Integer => json!({ "type": "integer", "minimum": 0 }),
        ParamKind::Text => json!({ "type": "string" }),
        ParamKind::Duration => json!({ "type": "string", "pattern": "^[0-9]+(ns|us|ms|s|m|h)?$" }),
    };
    let mut value = json!({
        "name": param.name,
        "in": "query",
        "required": false,
        "schema": schema,
        "description": param.description,
    });
    if matches!(param.kind, ParamKind::Flag) {
        // `?stale` and `?stale=` count as set, as in Consul.
        value["allowEmptyValue"] = Value::Bool(true);
    }
    value
}

fn responses(operation: &Operation, generator: &mut SchemaGenerator) -> Value {
    let text = json!({ "text/plain": { "schema": { "type": "string" } } });
    let ok = match &operation.ok {
        Answer::Json(schema) => json!({
            "description": "Success",
            "content": { "application/json": { "schema": schema(generator) } },
        }),
        Answer::Empty => json!({ "description": "Success, with an empty body" }),
        Answer::JsonOrRaw(schema) => json!({
            "description": "Success: JSON, or raw bytes or text as the query asks",
            "content": {
                "application/json": { "schema": schema(generator) },
                "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
                "text/plain": { "schema": { "type": "string" } },
            },
        }),
    };
    let mut responses = json!({
        "200": ok,
        "default": { "description": "An error, in plain text", "content": text },
    });
    if operation.not_found {
        responses["404"] = json!({ "description": "No such item (an empty body)" });
    }
    responses
}
