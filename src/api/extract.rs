//! Extractors that turn a request into validated values, failing with our error shape.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_LENGTH, IF_MATCH};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use crate::api::{AppState, MAX_BODY_BYTES};
use crate::auth::Decision;
use crate::domain::{ListId, Username};

/// A JSON body. Content-Type is not insisted on (`curl -d` works); the body must parse as `T`,
/// which for our request types also validates every field and refuses unknown ones.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        parse_object(&read_body(req).await?).map(ApiJson)
    }
}

/// The whole body, within [`MAX_BODY_BYTES`]: the limit kept here, where every body is read,
/// rather than by a layer putting it into every request's extensions.
async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    // A body announced too large is refused before any of it is waited for.
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge),
        Err(_) => Err(ApiError::BadRequest(
            "could not read the request body".into(),
        )),
    }
}

/// The 400 of a JSON value that does not read as what was asked: the field's path leads the
/// message (`list: UUID parsing failed…`), so a value of the wrong kind deep in a body is found
/// without counting columns.
fn unreadable<E: std::fmt::Display>(what: &str, e: serde_path_to_error::Error<E>) -> ApiError {
    match e.path().to_string().as_str() {
        // At the top, or where no field could be told (a key cut short).
        "." | "?" => ApiError::BadRequest(format!("{what}: {}", e.inner())),
        path => ApiError::BadRequest(format!("{what}: {path}: {}", e.inner())),
    }
}

/// A body that is a JSON object parsing as `T`.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body is an object; serde would otherwise also read a struct from an array.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "request body must be a JSON object".into(),
        ));
    }
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
        .map_err(|e| unreadable("invalid request body", e))
}

/// As [`ApiJson`], for a request whose body may be left out (empty: `None`).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req).await?;
        // Left out, or `null` (as the document's optional body allows): nothing sent.
        if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" {
            return Ok(Self(None));
        }
        parse_object(&bytes).map(|value| Self(Some(value)))
    }
}

/// For an optional field of a request body: left out it is `None`, and `null` is refused like
/// any other wrong type (the document promises no nulls, and a null meaning "keep" or "clear"
/// would be a guess). Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    match <Option<T> as serde::Deserialize>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "null is not a value here: leave the field out to keep what it is",
        )),
    }
}

/// For an optional field of a change that `null` removes: left out it stays as it is.
pub fn clearable<'de, D, T>(deserializer: D) -> Result<crate::domain::Change<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(
        match <Option<T> as serde::Deserialize>::deserialize(deserializer)? {
            Some(value) => crate::domain::Change::Set(value),
            None => crate::domain::Change::Clear,
        },
    )
}

/// Query parameters; a malformed query string is a 400 in our shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::BadRequest(format!("invalid query string: {}", e.body_text())))
    }
}

/// The caller, as the authorizer decided, already checked against the route being called:
/// handlers that take it are the protected ones.
#[derive(Debug, Clone)]
pub struct Principal(pub Decision);

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        decide(parts, app).await.map(Principal)
    }
}

async fn decide(parts: &Parts, app: &AppState) -> Result<Decision, ApiError> {
    let decision = match app.authorizer.decide_now(parts) {
        Some(decided) => decided?,
        None => app.authorizer.authorize(parts).await?,
    };
    if !decision.routes.allows(&parts.method, parts.uri.path()) {
        return Err(ApiError::Forbidden);
    }
    Ok(decision)
}

/// The caller of a read whose answer needs nothing of their profile (a todo, a page of todos).
/// Where every decision reads the caller's profile from the store (profiles not kept: DynamoDB,
/// an extra round trip per request), the read starts beside that check, for the owner the
/// token names: [`Authorizing::read`].
pub enum Authorizing {
    Decided(Decision),
    Claimed { owner: Username, parts: Parts },
}

impl FromRequestParts<AppState> for Authorizing {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if app.read_beside_check
            && let Some(owner) = app.authorizer.claimed_owner(parts)
        {
            return Ok(Self::Claimed {
                owner,
                parts: parts.clone(),
            });
        }
        decide(parts, app).await.map(Self::Decided)
    }
}

impl Authorizing {
    /// What `read` answers for the caller, then `then` given the caller as decided and that
    /// answer (to look further for the caller where the owner's own data had nothing). Begun
    /// beside the check, `read` is answered only if the check passes for the same owner;
    /// otherwise the check's refusal is the answer, whatever the read found — as when the check
    /// comes first.
    pub async fn read_then<T, U>(
        self,
        app: &AppState,
        read: impl AsyncFnOnce(&Username) -> ApiResult<T>,
        then: impl AsyncFnOnce(&Decision, ApiResult<T>) -> ApiResult<U>,
    ) -> ApiResult<U> {
        match self {
            Self::Decided(caller) => {
                let answer = read(&caller.owner).await;
                then(&caller, answer).await
            }
            Self::Claimed { owner, parts } => {
                let (decided, answer) = tokio::join!(decide(&parts, app), read(&owner));
                let caller = decided?;
                if caller.owner != owner {
                    // Both come from the same token; a difference is a bug, never an answer.
                    return Err(ApiError::from(crate::auth::AuthError::InvalidToken));
                }
                then(&caller, answer).await
            }
        }
    }
}

/// The client's address when the server knows it (not in in-process tests): the connection's
/// peer, or what a trusted proxy says (`--trusted-proxy`); under Lambda, API Gateway's
/// `sourceIp`.
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
        else {
            return Ok(ClientAddr(None));
        };
        let forwarded = parts
            .headers
            .get_all(&app.proxies.header)
            .iter()
            .filter_map(|value| value.to_str().ok());
        Ok(ClientAddr(Some(app.proxies.client(peer, forwarded))))
    }
}

/// The `{uid}` of a todo route. Anything that is not a UUID names no todo: 404, like an absent one.
pub struct TodoUid(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for TodoUid {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        path_uuid(parts, state, "Todo not found").await.map(Self)
    }
}

/// The `{id}` of a list route, read as a todo's uid is.
pub struct ListPath(pub ListId);

impl<S: Send + Sync> FromRequestParts<S> for ListPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let id = path_uuid(parts, state, "List not found").await?;
        Ok(Self(ListId::from(id)))
    }
}

/// The one path parameter of a route, as a UUID; anything else is `missing` (404).
async fn path_uuid<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    missing: &'static str,
) -> Result<Uuid, ApiError> {
    // Parsed from the decoded segment as it stands (no copy of it first); a segment that is not
    // a uuid names nothing, as a uuid that matches nothing.
    Path::<Uuid>::from_request_parts(parts, state)
        .await
        .map(|Path(id)| id)
        .map_err(|_| ApiError::NotFound(missing))
}

/// `If-Match`: absent or `*` asks only that the item exists; a list of `"<version>"` tags that it
/// is at one of those versions (RFC 9110). A weak tag never matches under If-Match's strong
/// comparison, and neither does a tag of another shape: both stand for no version.
///
/// A header that is there but names nothing usable (empty, blank, not text, malformed) is a 400,
/// never read as absent: the client asked for a conditional write, and doing it anyway could
/// overwrite a change it has not seen.
pub struct IfMatch(pub Option<Vec<u64>>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut lines = parts.headers.get_all(IF_MATCH).iter().peekable();
        if lines.peek().is_none() {
            return Ok(IfMatch(None));
        }
        // Several If-Match lines are one list (RFC 9110 5.3).
        let text = lines
            .map(|value| value.to_str().map(str::trim))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| if_match_malformed())?
            .join(", ");
        Self::parse(&text)
    }
}

fn if_match_malformed() -> ApiError {
    ApiError::BadRequest(
        "If-Match must be entity tags such as \"3\" (from ETag), separated by commas, or *".into(),
    )
}

impl IfMatch {
    /// An `If-Match` value (a header's, or a batch operation's `if_match`).
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let text = text.trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        if text.trim_matches([',', ' ', '\t']).is_empty() {
            return Err(ApiError::BadRequest(
                "If-Match is empty: send the ETag you read (such as \"3\"), or *, or leave the \
                 header out"
                    .into(),
            ));
        }
        let versions = entity_tags(text)
            .ok_or_else(if_match_malformed)?
            .into_iter()
            .map(|(weak, tag)| match (weak, tag.parse()) {
                (false, Ok(version)) => version,
                _ => u64::MAX,
            })
            .collect();
        Ok(IfMatch(Some(versions)))
    }
}

/// The entity tags of a list such as `"3", W/"x,y"` as (weak, text between the quotes): RFC
/// 9110's `#entity-tag`, where a tag may hold a comma and holds only visible ASCII but `"`.
/// `None` when the list is malformed.
fn entity_tags(list: &str) -> Option<Vec<(bool, &str)>> {
    let blank = [' ', '\t'];
    let mut tags = Vec::new();
    let mut rest = list.trim_start_matches(blank);
    loop {
        let (weak, tag) = match rest.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, rest),
        };
        let quoted = tag.strip_prefix('"')?;
        let end = quoted.find('"')?;
        let inner = &quoted[..end];
        if !inner.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        tags.push((weak, inner));
        rest = quoted[end + 1..].trim_start_matches(blank);
        match rest.strip_prefix(',') {
            Some(more) => rest = more.trim_start_matches(blank),
            None => return rest.is_empty().then_some(tags),
        }
    }
}

/// What [`IfMatch::parse`] reads, for the OpenAPI document.
pub const IF_MATCH_PATTERN: &str =
    r#"^(\*|(W/)?"[\x21\x23-\x7e]*"([ \t]*,[ \t]*(W/)?"[\x21\x23-\x7e]*")*)$"#;

impl utoipa::IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            "If-Match",
            "The item's `ETag` (or several, comma-separated, or `*`): the request applies only \
             at that version",
            IF_MATCH_PATTERN,
            Some(1),
        )]
    }
}

/// An optional header's place in the OpenAPI document: a string of this `pattern`.
pub fn header_parameter(
    name: &str,
    description: &str,
    pattern: &str,
    min_length: Option<usize>,
) -> Parameter {
    let schema = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(pattern))
        .min_length(min_length);
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// A todo's `ETag`: its version, quoted.
pub fn etag(version: u64) -> HeaderValue {
    // Digits in quotes are always a valid header value; the fallback is never taken.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

#[cfg(test)]
mod tests {
    use super::entity_tags;

    #[test]
    fn entity_tag_lists_are_read_as_rfc_9110_writes_them() {
        assert_eq!(entity_tags(r#""3""#), Some(vec![(false, "3")]));
        assert_eq!(
            entity_tags("W/\"a,b\" \t, \"4\""),
            Some(vec![(true, "a,b"), (false, "4")])
        );
        assert_eq!(entity_tags(r#""""#), Some(vec![(false, "")]));
        for malformed in [
            r#"3"#,
            r#""3"#,
            r#""3","#,
            r#""3" "4""#,
            r#"w/"3""#,
            "\"a b\"",
            r#","3""#,
        ] {
            assert_eq!(entity_tags(malformed), None, "{malformed}");
        }
    }
}
