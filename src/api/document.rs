//! The OpenAPI document: what each handler's annotation says, completed with what every route
//! shares (the error shape, request ids, the answers of the auth check, the body limit and the
//! deadline), so that the document says exactly what the server does.

use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;

use crate::config::OidcSettings;

pub fn info() -> OpenApi {
    OpenApi::builder()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("checkoff")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("A Todo REST API"))
                .build(),
        )
        .build()
}

/// The document of the route table `annotated` (as its handlers' annotations give it),
/// completed; with an OIDC issuer, its tokens are a second way to call the protected routes.
pub fn complete(annotated: OpenApi, oidc: Option<&OidcSettings>) -> Value {
    let mut doc = serde_json::to_value(annotated).unwrap_or_default();
    let schemes = &mut doc["components"]["securitySchemes"];
    schemes["token"] = json!({
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token from POST /login (or `checkoff tokens issue`), as `Authorization: Bearer <token>`; \
                        the bare token is also taken. Tokens expire (`expires_in`); a refused one is a 401 \
                        with `WWW-Authenticate: Bearer error=\"invalid_token\"`.",
    });
    if let Some(oidc) = oidc {
        schemes["oidc"] = json!({
            "type": "openIdConnect",
            "openIdConnectUrl": format!("{}/.well-known/openid-configuration", oidc.issuer.trim_end_matches('/')),
            "description": format!("An RS256/ES256 token of {} for the client {}, as `Authorization: Bearer <token>`.",
                oidc.issuer, oidc.audience),
        });
    }
    doc["components"]["schemas"]["Error"] = json!({
        "type": "object",
        "description": "Every error answer: a sentence saying what went wrong.",
        "required": ["message"],
        "properties": { "message": { "type": "string" } },
    });
    doc["components"]["headers"] = shared_headers();
    link_items(&mut doc);
    if let Some(paths) = doc["paths"].as_object_mut() {
        let mut operation_ids = std::collections::HashSet::new();
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for method in METHODS {
                if let Some(operation) = item.get_mut(method) {
                    complete_operation(operation, oidc.is_some());
                    // One handler can serve two methods (PUT and PATCH): each needs its own id.
                    if let Some(id) = operation["operationId"].as_str().map(str::to_owned)
                        && !operation_ids.insert(id.clone())
                    {
                        operation["operationId"] = format!("{id}_{method}").into();
                    }
                }
            }
        }
    }
    doc
}

/// How an answer that carries a todo feeds the next request (OpenAPI links, which clients and
/// schemathesis's stateful tests follow): its `uid` names it in the item routes, and its `ETag`
/// is the `If-Match` of a change that must not lose another.
fn link_items(doc: &mut Value) {
    const ITEM_OPERATIONS: [(&str, bool); 4] = [
        ("get_todo", false),
        ("update_todo", true),
        ("update_todo_patch", true),
        ("delete_todo", true),
    ];
    let answers = [
        ("/todos", "post", "201"),
        ("/todos/{uid}", "get", "200"),
        ("/todos/{uid}", "put", "200"),
        ("/todos/{uid}", "patch", "200"),
    ];
    for (path, method, status) in answers {
        let Some(response) = doc["paths"]
            .get_mut(path)
            .and_then(|item| item.get_mut(method))
            .and_then(|operation| operation["responses"].get_mut(status))
        else {
            continue;
        };
        let links: Map<String, Value> = ITEM_OPERATIONS
            .iter()
            .map(|&(operation, conditional)| {
                let mut parameters = json!({ "path.uid": "$response.body#/uid" });
                if conditional {
                    parameters["header.If-Match"] = "$response.header.ETag".into();
                }
                let link = json!({ "operationId": operation, "parameters": parameters });
                (operation.to_owned(), link)
            })
            .collect();
        response["links"] = links.into();
    }
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn shared_headers() -> Value {
    let string =
        |description: &str| json!({ "description": description, "schema": { "type": "string" } });
    json!({
        "X-Request-Id": string("The request's id (the caller's own `x-request-id`, or one made here): quote it when reporting a problem."),
        "Retry-After": { "description": "Seconds to wait before trying again.", "schema": { "type": "integer", "minimum": 1 } },
        "WWW-Authenticate": string("`Bearer`, or `Bearer error=\"invalid_token\"` when a token was sent and refused."),
        "ETag": string("The version as an entity tag, e.g. `\"3\"`: send it back in `If-Match` (items) or `If-None-Match` (lists)."),
        "Location": string("Where the new resource is."),
        "Link": string("`<…>; rel=\"next\"` when another page follows; absent on the last page."),
    })
}

fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

fn complete_operation(operation: &mut Value, oidc: bool) {
    let protected = operation["security"]
        .as_array()
        .is_some_and(|s| !s.is_empty());
    if protected && oidc {
        operation["security"] = json!([{ "token": [] }, { "oidc": [] }]);
    }
    let parameters = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut);
    for parameter in parameters.into_iter().flatten() {
        as_sent(parameter);
    }
    let takes_body = operation.get("requestBody").is_some();
    let responses = operation["responses"]
        .as_object_mut()
        .expect("every operation has responses");
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "description": description }));
    };
    if protected {
        add(
            "401",
            "No token, or a token that is refused (expired, revoked, forged)",
        );
        add("403", "The token does not grant this route");
    }
    if takes_body {
        add(
            "400",
            "The body is not JSON, or a field is missing, unknown or invalid",
        );
        add("413", "The body is larger than 64 KiB");
        add(
            "408",
            "The body stopped coming before the request's deadline",
        );
    }
    // Every route has a deadline, and every route but the static ones reads the store.
    add(
        "503",
        "The store did not answer in time; try again after `Retry-After`",
    );
    for (status, response) in responses.iter_mut() {
        complete_response(status, response);
    }
}

/// An optional parameter is left out, never sent as null: the document says what a client may
/// send, whatever Rust type the handler reads it into. A path's parameters are always there.
fn as_sent(parameter: &mut Value) {
    if parameter["in"] == "path" {
        parameter["required"] = true.into();
    }
    if let Some(types) = parameter["schema"]["type"].as_array() {
        let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if kept.len() == 1 {
            parameter["schema"]["type"] = kept[0].clone();
        }
    }
}

fn complete_response(status: &str, response: &mut Value) {
    let Some(response) = response.as_object_mut() else {
        return;
    };
    if response
        .get("description")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        response.insert("description".into(), reason(status).into());
    }
    let headers = response
        .entry("headers")
        .or_insert_with(|| Value::Object(Map::new()));
    // Headers a handler names (`ETag`, `Location`, `Link`) are described once, in components.
    for (name, header) in headers.as_object_mut().into_iter().flatten() {
        *header = header_ref(name);
    }
    headers["X-Request-Id"] = header_ref("X-Request-Id");
    match status {
        "401" => headers["WWW-Authenticate"] = header_ref("WWW-Authenticate"),
        "429" | "503" => headers["Retry-After"] = header_ref("Retry-After"),
        _ => {}
    }
    if status.starts_with('4') || status.starts_with('5') {
        response.insert(
            "content".into(),
            json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }),
        );
    }
}

fn reason(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Answer")
}
