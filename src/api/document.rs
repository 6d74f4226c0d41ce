//! The OpenAPI document: what each handler's annotation says, completed with what every route
//! shares (the error shape, request ids, the answers of the auth check, the body limit and the
//! deadline), so that the document says exactly what the server does. The completion works on
//! utoipa's types, so the compiler checks every shape it adds.

use std::collections::{BTreeMap, HashSet};

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{
    HttpAuthScheme, HttpBuilder, OpenIdConnect, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi, Paths, Ref, RefOr, Required, Response};

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

/// The document of the route table `doc` (as its handlers' annotations give it), completed;
/// with an OIDC issuer, its tokens are a second way to call the protected routes.
pub fn complete(mut doc: OpenApi, oidc: Option<&OidcSettings>) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    let token = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "A token from POST /login (or `checkoff tokens issue`), as `Authorization: Bearer <token>`; \
             the bare token is also taken. Tokens expire (`expires_in`); a refused one is a 401 \
             with `WWW-Authenticate: Bearer error=\"invalid_token\"`.",
        ))
        .build();
    let schemes = &mut components.security_schemes;
    schemes.insert("token".into(), RefOr::T(SecurityScheme::Http(token)));
    if let Some(oidc) = oidc {
        let url = format!(
            "{}/.well-known/openid-configuration",
            oidc.issuer.trim_end_matches('/')
        );
        let description = format!(
            "An RS256/ES256 token of {} for the client {}, as `Authorization: Bearer <token>`.",
            oidc.issuer, oidc.audience
        );
        let scheme = OpenIdConnect::with_description(url, description);
        schemes.insert(
            "oidc".into(),
            RefOr::T(SecurityScheme::OpenIdConnect(scheme)),
        );
    }
    components.schemas.insert("Error".into(), error_schema());
    closed_variants(components.schemas.get_mut("Operation"));
    components.headers = shared_headers();
    link_items(&mut doc.paths);
    let mut operation_ids = HashSet::new();
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            complete_operation(operation, oidc.is_some());
            // One handler can serve two methods (PUT and PATCH): each needs its own id.
            if let Some(id) = &operation.operation_id
                && !operation_ids.insert(id.clone())
            {
                operation.operation_id = Some(format!("{id}_{method}"));
            }
        }
    }
    doc
}

/// Marks each variant of a tagged enum's schema as taking no other fields, as its
/// `deny_unknown_fields` reads it (the derive says so of structs only).
fn closed_variants(schema: Option<&mut RefOr<Schema>>) {
    let Some(RefOr::T(Schema::OneOf(one_of))) = schema else {
        return;
    };
    for variant in &mut one_of.items {
        if let RefOr::T(Schema::Object(object)) = variant {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// An item's operations, in the order that decides which of two sharing an id keeps it.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
}

fn error_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Every error answer: a sentence saying what went wrong.",
        ))
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .required("message")
        .into()
}

/// How an answer that carries a todo or a list feeds the next request (OpenAPI links, which
/// clients and schemathesis's stateful tests follow): its id names it in the item routes, and
/// its `ETag` is the `If-Match` of a change that must not lose another.
fn link_items(paths: &mut Paths) {
    link_resource(
        paths,
        &[
            ("/todos", "post", "201"),
            ("/todos/{uid}", "get", "200"),
            ("/todos/{uid}", "put", "200"),
            ("/todos/{uid}", "patch", "200"),
        ],
        &[
            ("get_todo", false),
            ("update_todo", true),
            ("update_todo_patch", true),
            ("delete_todo", true),
        ],
        "uid",
    );
    link_resource(
        paths,
        &[
            ("/lists", "post", "201"),
            ("/lists/{id}", "get", "200"),
            ("/lists/{id}", "patch", "200"),
        ],
        &[
            ("get_list", false),
            ("rename_list", true),
            ("delete_list", true),
        ],
        "id",
    );
}

/// Links each of `answers` (path, method, status) to the item `operations` (id, whether
/// conditional), the path parameter `id` taken from the body's field of that name.
fn link_resource(
    paths: &mut Paths,
    answers: &[(&str, &str, &str)],
    operations_of_item: &[(&str, bool)],
    id: &str,
) {
    for (path, method, status) in answers {
        let Some(RefOr::T(response)) = paths
            .paths
            .get_mut(*path)
            .and_then(|item| operations(item).find(|(m, _)| m == method))
            .and_then(|(_, operation)| operation.responses.responses.get_mut(*status))
        else {
            continue;
        };
        for (operation, conditional) in operations_of_item {
            let mut link = LinkBuilder::new()
                .operation_id(*operation)
                .parameter(format!("path.{id}"), format!("$response.body#/{id}"));
            if *conditional {
                link = link.parameter("header.If-Match", "$response.header.ETag");
            }
            response
                .links
                .insert((*operation).into(), link.build().into());
        }
    }
}

fn shared_headers() -> BTreeMap<String, RefOr<Header>> {
    let string = |description: &str| {
        HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some(description))
            .build()
    };
    let seconds = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .description(Some("Seconds to wait before trying again."))
        .build();
    [
        ("X-Request-Id", string("The request's id (the caller's own `x-request-id`, or one made here): quote it when reporting a problem.")),
        ("Retry-After", seconds),
        ("WWW-Authenticate", string("`Bearer`, or `Bearer error=\"invalid_token\"` when a token was sent and refused.")),
        ("ETag", string("The version as an entity tag, e.g. `\"3\"`: send it back in `If-Match` (items) or `If-None-Match` (lists).")),
        ("Location", string("Where the new resource is.")),
        ("Link", string("`<…>; rel=\"next\"` when another page follows; absent on the last page.")),
    ]
    .into_iter()
    .map(|(name, header)| (name.to_owned(), RefOr::T(header)))
    .collect()
}

fn header_ref(name: &str) -> RefOr<Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

fn complete_operation(operation: &mut Operation, oidc: bool) {
    let protected = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    if protected && oidc {
        operation.security = Some(vec![
            SecurityRequirement::new("token", Vec::<String>::new()),
            SecurityRequirement::new("oidc", Vec::<String>::new()),
        ]);
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter {
            as_sent(parameter);
        }
    }
    let takes_body = operation.request_body.is_some();
    let responses = &mut operation.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.into())
            .or_insert_with(|| Response::new(description).into());
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
        "The store did not answer in time; try again after `Retry-After`. A change whose \
         outcome is unknown says it may have happened: read before repeating it, or repeat it \
         with the same `Idempotency-Key`",
    );
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response {
            complete_response(status, response);
        }
    }
}

/// An optional parameter is left out, never sent as null: the document says what a client may
/// send, whatever Rust type the handler reads it into. A path's parameters are always there.
fn as_sent(parameter: &mut utoipa::openapi::path::Parameter) {
    if parameter.parameter_in == ParameterIn::Path {
        parameter.required = Required::True;
    }
    if let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema
        && let SchemaType::Array(types) = &schema.schema_type
        && let [one] = types
            .iter()
            .filter(|t| **t != Type::Null)
            .collect::<Vec<_>>()[..]
    {
        schema.schema_type = SchemaType::Type(one.clone());
    }
}

fn complete_response(status: &str, response: &mut Response) {
    if response.description.is_empty() {
        response.description = reason(status).into();
    }
    // Headers a handler names (`ETag`, `Location`, `Link`) are described once, in components.
    for (name, header) in response.headers.iter_mut() {
        *header = header_ref(name);
    }
    let headers = &mut response.headers;
    headers.insert("X-Request-Id".into(), header_ref("X-Request-Id"));
    match status {
        "401" => {
            headers.insert("WWW-Authenticate".into(), header_ref("WWW-Authenticate"));
        }
        "429" | "503" => {
            headers.insert("Retry-After".into(), header_ref("Retry-After"));
        }
        _ => {}
    }
    if status.starts_with('4') || status.starts_with('5') {
        let error = Content::new(Some(Ref::from_schema_name("Error")));
        response
            .content
            .insert("application/json".into(), RefOr::T(error));
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
