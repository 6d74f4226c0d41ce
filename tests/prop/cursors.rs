//! List cursors: only what the sealer made opens, for its own list, and a changed cursor never
//! opens to another position. Through the API: a bad cursor is a 400, never a failure.

use axum::body::Body;
use axum::http::{StatusCode, header};
use checkoff::api::Cursors;
use checkoff::auth::JwtSecret;
use proptest::prelude::*;

use crate::config;
use crate::service::service;

fn cursors(fill: char) -> Cursors {
    Cursors::new(&JwtSecret::from_base64(&fill.to_string().repeat(44)).unwrap())
}

/// Text that looks like a cursor (`<base64url>.<base64url>`) and text that does not.
fn cursor_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,30}",
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{22}",
        "[A-Za-z0-9_=+/.-]{0,60}",
    ]
}

/// `text` with the character at `at` replaced by `by`, when that changes it.
fn replaced(text: &str, at: prop::sample::Index, by: char) -> Option<String> {
    let (i, old) = text.char_indices().nth(at.index(text.chars().count()))?;
    (old != by).then(|| format!("{}{by}{}", &text[..i], &text[i + old.len_utf8()..]))
}

/// A character a changed cursor may carry: mostly its own alphabet, sometimes anything.
fn cursor_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::ranges(vec!['A'..='Z', 'a'..='z', '0'..='9', '-'..='-', '_'..='_', '.'..='.'].into()),
        1 => any::<char>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_the_sealer_did_not_make_never_opens(scope in ".{0,20}", cursor in cursor_like()) {
        prop_assert!(cursors('A').open(&scope, &cursor).is_err(), "{:?}", cursor);
    }

    #[test]
    fn a_sealed_position_opens_for_its_own_list_only(
        scope in ".{0,30}",
        other in ".{0,30}",
        position in any::<String>(),
    ) {
        let sealed = cursors('A').seal(&scope, &position);
        prop_assert_eq!(cursors('A').open(&scope, &sealed).ok(), Some(position));
        if other != scope {
            prop_assert!(cursors('A').open(&other, &sealed).is_err());
        }
        prop_assert!(cursors('B').open(&scope, &sealed).is_err(), "another key");
    }

    #[test]
    fn a_changed_cursor_never_opens_to_another_position(
        scope in ".{0,20}",
        position in any::<String>(),
        at in any::<prop::sample::Index>(),
        by in cursor_char(),
        cut in any::<prop::sample::Index>(),
    ) {
        let c = cursors('A');
        let sealed = c.seal(&scope, &position);
        if let Some(changed) = replaced(&sealed, at, by) {
            // Refused, or (were base64 ever read loosely) the very same position.
            if let Ok(opened) = c.open(&scope, &changed) {
                prop_assert_eq!(opened, position.clone(), "{:?}", changed);
            }
        }
        let cut = cut.index(sealed.len());
        prop_assert!(c.open(&scope, &sealed[..cut]).is_err(), "cut to {}", cut);
        let longer = format!("{sealed}A");
        prop_assert!(c.open(&scope, &longer).is_err());
    }
}

/// A cursor of the first page of `GET /todos?limit=1`, from its `Link` header.
fn next_cursor() -> String {
    let s = service();
    for n in 0..2 {
        s.create_todo(&format!("for a cursor {n}"));
    }
    let first = s.send(
        s.authed("GET", "/todos?limit=1")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(first.status, StatusCode::OK);
    let link = first.headers[header::LINK].to_str().unwrap();
    let cursor = link.split("cursor=").nth(1).unwrap();
    cursor[..cursor.find('>').unwrap()].to_owned()
}

fn list_with_cursor(cursor: &str, state: Option<&str>) -> StatusCode {
    let s = service();
    let mut uri = format!("/todos?limit=1&cursor={cursor}");
    if let Some(state) = state {
        uri.push_str(&format!("&state={state}"));
    }
    let answer = s.send(s.authed("GET", &uri).body(Body::empty()).unwrap());
    answer.check().unwrap();
    answer.status
}

#[test]
fn the_api_opens_the_cursors_it_hands_out() {
    let cursor = next_cursor();
    assert_eq!(list_with_cursor(&cursor, None), StatusCode::OK);
    assert_eq!(
        list_with_cursor(&cursor, Some("started")),
        StatusCode::BAD_REQUEST,
        "a cursor is for the list it came from"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_api_refuses_a_changed_cursor_with_400(
        at in any::<prop::sample::Index>(),
        by in proptest::char::ranges(vec!['A'..='Z', 'a'..='z', '0'..='9', '-'..='-', '_'..='_', '.'..='.'].into()),
    ) {
        static CURSOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let cursor = CURSOR.get_or_init(next_cursor);
        if let Some(changed) = replaced(cursor, at, by) {
            prop_assert_eq!(list_with_cursor(&changed, None), StatusCode::BAD_REQUEST, "{:?}", changed);
        }
    }
}
