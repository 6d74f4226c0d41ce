//! API Gateway (REST and HTTP API) and Function URL events through the one router: the stage
//! taken off the path on the way in and put back on the links of the answer, and the caller
//! API Gateway vouched for handed to the gateway authorizer when the service trusts it.

use std::convert::Infallible;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use lambda_http::{RequestExt, service_fn};
use serde_json::{Map, Value};
use tower::ServiceExt;

use crate::api::{ApiError, AppState, app};
use crate::auth::{GatewayIdentity, SignInProvider};

pub(super) async fn run(state: AppState, trusts_gateway: bool) -> Result<(), String> {
    let router = app(state);
    let handler = service_fn(move |event: lambda_http::Request| {
        let router = router.clone();
        async move { Ok::<_, Infallible>(handle(router, event, trusts_gateway).await) }
    });
    lambda_http::run(handler)
        .await
        .map_err(|e| format!("the Lambda runtime stopped: {e}"))
}

/// Where the event's request sits: the path the router serves and the prefix (`/<stage>`) the
/// caller sees in front of it.
#[derive(Debug, PartialEq, Eq)]
struct Placement {
    path: String,
    prefix: String,
}

fn placement(context: Option<&RequestContext>, raw_path: &str) -> Placement {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    let (public, stage) = match context {
        // REST APIs give the path below the stage, and the whole one in the context.
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            let public = ctx.path.clone().unwrap_or_else(|| raw.to_owned());
            let prefix = public.strip_suffix(raw).unwrap_or("").to_owned();
            return Placement {
                path: raw.to_owned(),
                prefix,
            };
        }
        // HTTP APIs give the whole path, with a named stage at its start.
        Some(RequestContext::ApiGatewayV2(ctx)) => (raw, ctx.stage.as_deref()),
        _ => (raw, None),
    };
    match stage {
        Some(stage) if stage != "$default" => {
            let prefix = format!("/{stage}");
            match public.strip_prefix(&prefix) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => Placement {
                    path: if rest.is_empty() {
                        "/".into()
                    } else {
                        rest.into()
                    },
                    prefix,
                },
                _ => Placement {
                    path: public.to_owned(),
                    prefix: String::new(),
                },
            }
        }
        _ => Placement {
            path: public.to_owned(),
            prefix: String::new(),
        },
    }
}

/// The user pool's sign-in that the stage's variables name (a stack that made the pool sets them;
/// only API Gateway sets stage variables, never the caller).
fn stage_sign_in(extensions: &axum::http::Extensions) -> Option<SignInProvider> {
    use crate::auth::stage_variables as var;
    let variables = extensions.stage_variables_ref()?;
    let (client, domain, issuer) = (
        variables.first(var::CLIENT_ID)?,
        variables.first(var::DOMAIN)?,
        variables.first(var::ISSUER)?,
    );
    SignInProvider::cognito(domain, client, issuer)
        .inspect_err(|why| tracing::warn!(%why, "the stage's sign-in variables name no sign-in"))
        .ok()
}

/// What API Gateway's authorizer left in the request context.
fn identity(context: Option<&RequestContext>) -> GatewayIdentity {
    let mut identity = GatewayIdentity::default();
    let mut take_fields = |fields: &std::collections::HashMap<String, Value>| {
        for (key, value) in fields {
            match (key.as_str(), value) {
                ("principalId", Value::String(p)) => identity.principal_id = Some(p.clone()),
                ("claims", Value::Object(claims)) => identity.claims = claims.clone(),
                ("integrationLatency", _) => {}
                _ => {
                    identity.context.insert(key.clone(), value.clone());
                }
            }
        }
    };
    match context {
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            take_fields(&ctx.authorizer.fields);
            identity.user_arn = ctx.identity.user_arn.clone();
        }
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            if let Some(authorizer) = &ctx.authorizer {
                take_fields(&authorizer.fields);
                if let Some(jwt) = &authorizer.jwt {
                    identity.claims = jwt
                        .claims
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect::<Map<_, _>>();
                }
                if let Some(iam) = &authorizer.iam {
                    identity.user_arn = iam.user_arn.clone();
                }
            }
        }
        _ => {}
    }
    identity
}

/// The caller's address as API Gateway saw it (`sourceIp`): what the login throttle counts per
/// address under Lambda, where there is no connection to read it from.
fn source_ip(context: Option<&RequestContext>) -> Option<std::net::IpAddr> {
    let text = match context {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.as_deref(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref(),
        _ => None,
    };
    text?.parse().ok()
}

fn request_id(context: Option<&RequestContext>) -> Option<String> {
    match context {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
}

async fn handle(router: Router, event: lambda_http::Request, trusts_gateway: bool) -> Response {
    let started = Instant::now();
    let (mut parts, body) = event.into_parts();
    let context = parts.extensions.request_context_ref();
    let place = placement(context, parts.extensions.raw_http_path());
    let request_id = request_id(context).unwrap_or_default();
    let source = source_ip(context);
    // Only a service configured for a gateway authorizer looks at what the gateway says;
    // otherwise nothing of it reaches the router.
    if trusts_gateway {
        let identity = identity(context);
        parts.extensions.insert(identity);
    }
    if let Some(provider) = stage_sign_in(&parts.extensions) {
        parts.extensions.insert(provider);
    }
    if let Some(ip) = source {
        parts
            .extensions
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(ip, 0)));
    }
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{}?{query}", place.path),
        None => place.path.clone(),
    };
    parts.uri = match Uri::try_from(path_and_query) {
        Ok(uri) => uri,
        Err(_) => {
            return ApiError::BadRequest("the request path is not a valid URI path".into())
                .into_response();
        }
    };
    let body = match body {
        lambda_http::Body::Empty => Body::empty(),
        lambda_http::Body::Text(text) => Body::from(text),
        lambda_http::Body::Binary(bytes) => Body::from(bytes),
        _ => Body::empty(),
    };
    let method = parts.method.clone();
    // API Gateway's id is the request's id, unless the caller brought one.
    if !request_id.is_empty()
        && let Ok(id) = HeaderValue::from_str(&request_id)
    {
        parts.headers.entry("x-request-id").or_insert(id);
    }
    let request = axum::extract::Request::from_parts(parts, body);
    let Ok(mut response) = router.oneshot(request).await;
    if !place.prefix.is_empty() {
        prefix_links(&mut response, &place.prefix);
    }
    tracing::info!(
        request_id,
        %method,
        path = %place.path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// `Location: /todos/…`, `Link: </todos?…>` and a cookie's `Path=/refresh` name paths below the
/// stage: the caller needs them with it.
fn prefix_links(response: &mut Response, prefix: &str) {
    let headers = response.headers_mut();
    let rewrite = |value: &HeaderValue, from: &str, to: &str| {
        value
            .to_str()
            .ok()
            .filter(|text| text.starts_with(from))
            .and_then(|text| HeaderValue::from_str(&format!("{to}{}", &text[from.len()..])).ok())
    };
    if let Some(new) = headers
        .get(header::LOCATION)
        .and_then(|v| rewrite(v, "/", &format!("{prefix}/")))
    {
        headers.insert(header::LOCATION, new);
    }
    if let Some(new) = headers
        .get(header::LINK)
        .and_then(|v| rewrite(v, "</", &format!("<{prefix}/")))
    {
        headers.insert(header::LINK, new);
    }
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|cookie| {
            cookie
                .to_str()
                .ok()
                .map(|text| text.replace("; Path=/", &format!("; Path={prefix}/")))
                .and_then(|text| HeaderValue::from_str(&text).ok())
                .unwrap_or_else(|| cookie.clone())
        })
        .collect();
    if !cookies.is_empty() {
        headers.remove(header::SET_COOKIE);
        for cookie in cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(stage: &str) -> RequestContext {
        let event = serde_json::json!({
            "routeKey": "$default", "stage": stage, "requestId": "r",
            "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"},
            "timeEpoch": 0
        });
        RequestContext::ApiGatewayV2(serde_json::from_value(event).unwrap())
    }

    #[test]
    fn a_named_http_api_stage_comes_off_the_path_and_back_on_the_links() {
        let place = placement(Some(&v2("dev")), "/dev/todos");
        assert_eq!(place.path, "/todos");
        assert_eq!(place.prefix, "/dev");
        let place = placement(Some(&v2("$default")), "/todos");
        assert_eq!(place.path, "/todos");
        assert_eq!(place.prefix, "");
        // A path that only starts with the stage's letters is not under it.
        let place = placement(Some(&v2("dev")), "/devices");
        assert_eq!(place.path, "/devices");
        assert_eq!(place.prefix, "");
    }
}
