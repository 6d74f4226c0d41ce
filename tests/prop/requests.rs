//! Request parsing through the real router: whatever a client sends, the answer is a success or
//! a refusal in our error shape, never a server failure; and well-formed requests get the answer
//! the domain rules say.

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, Uri, header};
use checkoff::domain::{Description, Metadata, TodoState};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::service::service;
use crate::{config, config_share};

/// Bodies of every kind: bytes, text, JSON objects with the fields the API reads (and some it
/// does not), and such objects with a byte changed.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just("description"),
        Just("state"),
        Just("metadata"),
        Just("username"),
        Just("password"),
        Just("refresh_token"),
        Just("other"),
    ];
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
        Just(json!("started")),
        Just(json!({ "a": [1, { "b": null }] })),
        Just(json!([])),
    ];
    let object = proptest::collection::btree_map(field, value, 0..4)
        .prop_map(|m| json!(m).to_string().into_bytes());
    prop_oneof![
        vec(any::<u8>(), 0..64),
        any::<String>().prop_map(String::into_bytes),
        object.clone(),
        (object, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut bytes, at, b)| {
            let at = at.index(bytes.len());
            bytes[at] = b;
            bytes
        }),
        Just(b"{\"description\": \"x\", \"metadata\": {\"k\": [[[[[[[[[1]]]]]]]]]}}".to_vec()),
        Just(b"  {\"description\": \"\\ud800\"}".to_vec()),
    ]
}

/// Header values of every kind a header can carry (visible ASCII, spaces, bytes past ASCII).
fn header_value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        vec(any::<u8>(), 0..40),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        "(W/)?\"[0-9]{0,21}\"(, ?(W/)?\"[0-9a-z]{0,3}\"){0,3}".prop_map(String::into_bytes),
        Just(b"*".to_vec()),
    ]
    .prop_filter_map("not a header value", |bytes| {
        HeaderValue::from_bytes(&bytes).ok()
    })
}

/// Text percent-encoded for a query string or a path segment.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn send_body(method: &str, uri: &str, body: Vec<u8>, json_type: bool) -> crate::service::Answer {
    let s = service();
    let mut request = s.authed(method, uri);
    if json_type {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    s.send(request.body(Body::from(body)).unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_body_for_a_new_todo_is_created_or_refused(body in body(), json_type in any::<bool>()) {
        let answer = send_body("POST", "/todos", body.clone(), json_type);
        prop_assert!(answer.check().is_ok(), "{:?}: {:?}", String::from_utf8_lossy(&body), answer.check());
        prop_assert!(answer.status == StatusCode::CREATED || answer.status.is_client_error());
    }

    /// A body of known fields is created exactly when each field keeps its rules.
    #[test]
    fn a_new_todo_is_created_exactly_when_its_fields_keep_the_rules(
        description in prop_oneof![".{0,30}", "[ \\t\\n\\x00\\x1ba-z]{0,10}", "a{995,1005}"],
        metadata in prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            Just(Some(json!({}))),
            Just(Some(json!([]))),
            ".{0,5}".prop_map(|s| Some(json!(s))),
            (0usize..12).prop_map(|depth| Some((0..depth).fold(json!({}), |v, _| json!({ "k": v })))),
        ],
    ) {
        let mut body = json!({ "description": description });
        if let Some(metadata) = &metadata {
            body["metadata"] = metadata.clone();
        }
        let keeps = Description::parse(&description).is_ok()
            && metadata.iter().filter(|m| !m.is_null()).all(|m| Metadata::parse(m.clone()).is_ok());
        let answer = send_body("POST", "/todos", body.to_string().into_bytes(), true);
        prop_assert!(answer.check().is_ok(), "{:?}", answer.check());
        let expected = if keeps { StatusCode::CREATED } else { StatusCode::BAD_REQUEST };
        prop_assert_eq!(answer.status, expected, "{}", body);
    }

    #[test]
    fn any_body_for_a_change_is_applied_or_refused(body in body(), json_type in any::<bool>()) {
        static TODO: std::sync::OnceLock<uuid::Uuid> = std::sync::OnceLock::new();
        let uid = TODO.get_or_init(|| service().create_todo("changed by anything"));
        let answer = send_body("PUT", &format!("/todos/{uid}"), body.clone(), json_type);
        prop_assert!(answer.check().is_ok(), "{:?}: {:?}", String::from_utf8_lossy(&body), answer.check());
        prop_assert!(answer.status == StatusCode::OK || answer.status.is_client_error());
    }

    #[test]
    fn a_change_of_state_is_applied_exactly_when_the_state_is_one_of_ours(
        state in prop_oneof![".{0,12}", "(un)?(started|completed|Started|done)"],
    ) {
        static TODO: std::sync::OnceLock<uuid::Uuid> = std::sync::OnceLock::new();
        let uid = TODO.get_or_init(|| service().create_todo("state changed by anything"));
        let body = json!({ "state": state }).to_string().into_bytes();
        let answer = send_body("PUT", &format!("/todos/{uid}"), body, true);
        prop_assert!(answer.check().is_ok(), "{:?}", answer.check());
        let expected = if state.parse::<TodoState>().is_ok() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        prop_assert_eq!(answer.status, expected, "{:?}", state);
    }

    /// Any `If-Match`: a change, a 412 or a 400, and a list of strong tags is a change exactly
    /// when it names the item's version.
    #[test]
    fn any_if_match_is_a_change_a_precondition_failure_or_a_refusal(if_match in header_value()) {
        let s = service();
        let uid = s.create_todo("guarded");
        let answer = s.send(
            s.authed("PUT", &format!("/todos/{uid}"))
                .header(header::IF_MATCH, if_match.clone())
                .body(Body::from(r#"{"state":"started"}"#))
                .unwrap(),
        );
        prop_assert!(answer.check().is_ok(), "{:?}: {:?}", if_match, answer.check());
        let ok = [StatusCode::OK, StatusCode::PRECONDITION_FAILED, StatusCode::BAD_REQUEST];
        prop_assert!(ok.contains(&answer.status), "{:?}: {}", if_match, answer.status);
        let text = if_match.to_str().unwrap_or("").trim();
        // Present but naming nothing (blank, or not text): refused, never read as absent.
        if text.is_empty() {
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", if_match);
        }
        let strong: Option<Vec<&str>> = text
            .split(',')
            .map(|t| t.trim().strip_prefix('"')?.strip_suffix('"'))
            .collect();
        let etagc = |t: &&str| t.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
        if let Some(tags) = strong.filter(|tags| tags.iter().all(etagc)) {
            // A fresh item is at version 1 ("01" is not the tag "1", but reads as it).
            let names_it = tags.iter().any(|t| t.parse::<u64>() == Ok(1));
            let expected = if names_it { StatusCode::OK } else { StatusCode::PRECONDITION_FAILED };
            prop_assert_eq!(answer.status, expected, "{:?}", if_match);
        }
    }

    /// Any query string on the list: the list or a 400; and with the parameters it reads, the
    /// list exactly when each keeps its rules.
    #[test]
    fn any_query_on_the_list_is_answered_or_refused(
        raw in "[A-Za-z0-9%&=+._~!$'()*,;:@/?-]{0,60}",
        limit in prop_oneof![Just(None), ".{0,6}".prop_map(Some), (0u64..1100).prop_map(|n| Some(n.to_string()))],
        state in prop_oneof![Just(None), ".{0,10}".prop_map(Some), Just(Some("completed".to_owned()))],
        cursor in prop_oneof![3 => Just(None), 1 => ".{0,30}".prop_map(Some)],
    ) {
        let s = service();
        if let Ok(uri) = Uri::try_from(format!("/todos?{raw}")) {
            let answer = s.send(s.authed("GET", &uri.to_string()).body(Body::empty()).unwrap());
            prop_assert!(answer.check().is_ok(), "{:?}: {:?}", raw, answer.check());
            prop_assert!(answer.status == StatusCode::OK || answer.status == StatusCode::BAD_REQUEST);
        }
        let params: Vec<String> = [("limit", &limit), ("state", &state), ("cursor", &cursor)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encoded(v))))
            .collect();
        let uri = format!("/todos?{}", params.join("&"));
        let answer = s.send(s.authed("GET", &uri).body(Body::empty()).unwrap());
        prop_assert!(answer.check().is_ok(), "{}: {:?}", uri, answer.check());
        let keeps = limit.as_ref().is_none_or(|l| l.parse::<u32>().is_ok_and(|n| (1..=1000).contains(&n)))
            && state.as_ref().is_none_or(|s| s.parse::<TodoState>().is_ok())
            // An empty cursor is no cursor (the first page); any other made-up one is refused.
            && cursor.as_ref().is_none_or(String::is_empty);
        let expected = if keeps { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        prop_assert_eq!(answer.status, expected, "{}", uri);
    }

    #[test]
    fn any_todo_path_names_no_todo_or_the_one_it_names(segment in prop_oneof![
        any::<String>(),
        "[0-9a-fA-F-]{30,40}",
        any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
    ]) {
        let s = service();
        prop_assume!(segment != "events");
        let answer = s.send(s.authed("GET", &format!("/todos/{}", encoded(&segment))).body(Body::empty()).unwrap());
        prop_assert!(answer.check().is_ok(), "{:?}: {:?}", segment, answer.check());
        prop_assert_eq!(answer.status, StatusCode::NOT_FOUND, "{:?}", segment);
    }

    #[test]
    fn any_authorization_header_but_ours_is_unauthorized(value in header_value()) {
        let s = service();
        let answer = s.send(
            Request::get("/todos")
                .header(header::AUTHORIZATION, value.clone())
                .body(Body::empty())
                .unwrap(),
        );
        prop_assert!(answer.check().is_ok(), "{:?}: {:?}", value, answer.check());
        prop_assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", value);
    }
}

proptest! {
    // Every login that reads costs a password hash.
    #![proptest_config(config_share(4))]

    #[test]
    fn any_body_for_a_login_is_refused(body in body(), json_type in any::<bool>()) {
        let s = service();
        let mut request = Request::post("/login");
        if json_type {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let answer = s.send(request.body(Body::from(body.clone())).unwrap());
        prop_assert!(answer.check().is_ok(), "{:?}: {:?}", String::from_utf8_lossy(&body), answer.check());
        let refused = [StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS];
        prop_assert!(refused.contains(&answer.status), "{}", answer.status);
    }

    #[test]
    fn a_login_with_any_name_and_password_is_refused(
        username in prop_oneof![".{0,12}", "[a-z]{1,8}", Just(crate::service::USER.to_owned())],
        password in prop_oneof![".{0,16}", Just(String::new()), "a{1020,1030}"],
    ) {
        prop_assume!(password != crate::service::PASSWORD);
        let s = service();
        let answer = s.send(
            Request::post("/login")
                .body(Body::from(json!({ "username": username, "password": password }).to_string()))
                .unwrap(),
        );
        prop_assert!(answer.check().is_ok(), "{:?}", answer.check());
        let expected: &[StatusCode] = if password.is_empty() || password.len() > 1024 {
            &[StatusCode::BAD_REQUEST]
        } else {
            &[StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]
        };
        prop_assert!(expected.contains(&answer.status), "{}", answer.status);
    }
}
