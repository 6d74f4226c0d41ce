//! List cursors: the store's own position, sealed with an HMAC over who asked and what they
//! listed, so a cursor only works for the caller and the list it came from.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

use axum::http::HeaderValue;

use super::error::{ApiError, ApiResult};
use super::json::Items;
use super::kept::Listed;
use crate::auth::JwtSecret;
use crate::domain::TodoState;
use crate::store::PageRequest;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// The `state` filter of a list: absent, or one of the states (400 otherwise).
pub fn state_of(raw: Option<&str>) -> ApiResult<Option<TodoState>> {
    Ok(raw.map(str::parse).transpose()?)
}

/// The `limit` of a paged list: 1–1000, 100 when absent.
pub fn limit_of(raw: Option<&str>) -> ApiResult<u32> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
            }),
    }
}

/// One request for a page of a list: how many, from where, and how to link to the next page.
/// Cursors are sealed to the list's scope (who lists what), so one works only where it came from.
pub struct Paging {
    pub request: PageRequest,
    path: &'static str,
    /// The query parameters every page keeps (the list's filter and order), each as
    /// `&name=value`.
    filter: String,
    scope: String,
}

impl Paging {
    /// From the `limit` and `cursor` a client sent to `path`, with the list's `filter` and
    /// `scope`.
    pub fn new(
        cursors: &Cursors,
        path: &'static str,
        filter: String,
        scope: String,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> ApiResult<Self> {
        let limit = limit_of(limit)?;
        let after = cursors.resume(&scope, cursor)?;
        Ok(Self {
            request: PageRequest { limit, after },
            path,
            filter,
            scope,
        })
    }

    /// [`Paging::new`] for a list with `filter`: kept in every link and sealed into the cursors
    /// with `scope`.
    pub fn filtered(
        cursors: &Cursors,
        path: &'static str,
        scope: &[&str],
        filter: Filter,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> ApiResult<Self> {
        // The parts and the filter, each followed by a space (as `format!` would have put
        // them, at a third of its cost on every list).
        let mut sealed = String::with_capacity(
            scope.iter().map(|part| part.len() + 1).sum::<usize>() + filter.0.len(),
        );
        for part in scope {
            sealed.push_str(part);
            sealed.push(' ');
        }
        sealed.push_str(&filter.0);
        let scope = sealed;
        Self::new(cursors, path, filter.0, scope, limit, cursor)
    }

    /// A page as sent: `items` as JSON and, when more follow `next`, the `Link` to them (the
    /// list's path with the query every page keeps, e.g. `/todos?limit=10&state=started`).
    pub fn listed<T: Items>(
        &self,
        cursors: &Cursors,
        items: &[T],
        next: Option<String>,
    ) -> ApiResult<Listed> {
        let next = next
            .map(|position| {
                let link = format!("{}?limit={}{}", self.path, self.request.limit, self.filter);
                cursors.next_link(&link, &self.scope, &position)
            })
            .transpose()?;
        Listed::json(items, next)
    }
}

/// A list's [`Paging`], made only when it is needed: at once when the client sent a cursor to
/// open, else only for a page with a next one to link to. Its filter and the scope sealed into
/// cursors cost a twentieth of a kept list's instructions, and a kept first page needs neither.
pub struct LazyPaging<F> {
    pub request: PageRequest,
    made: Option<Paging>,
    make: F,
}

impl<F: Fn() -> ApiResult<Paging>> LazyPaging<F> {
    /// The page asked for with `limit` and `cursor`; `make` makes the list's paging from them.
    pub fn new(limit: Option<&str>, cursor: Option<&str>, make: F) -> ApiResult<Self> {
        let made = cursor.is_some().then(&make).transpose()?;
        let request = match &made {
            Some(paging) => paging.request.clone(),
            None => PageRequest::first(limit_of(limit)?),
        };
        Ok(Self {
            request,
            made,
            make,
        })
    }

    /// [`Paging::listed`].
    pub fn listed<T: Items>(
        &self,
        cursors: &Cursors,
        items: &[T],
        next: Option<String>,
    ) -> ApiResult<Listed> {
        match (&self.made, next) {
            (Some(paging), next) => paging.listed(cursors, items, next),
            (None, None) => Listed::json(items, None),
            (None, next) => (self.make)()?.listed(cursors, items, next),
        }
    }

    /// The paging itself, made now if it was not.
    pub fn made(self) -> ApiResult<Paging> {
        self.made.map_or_else(self.make, Ok)
    }
}

/// The query parameters a list keeps from page to page, in a fixed order, each value
/// percent-encoded.
#[derive(Debug, Clone, Default)]
pub struct Filter(String);

/// What a kept parameter's value keeps as it is; every other byte is percent-encoded.
const KEPT_AS_IS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b':');

impl Filter {
    /// With `name=value`, when there is a value.
    pub fn with(mut self, name: &str, value: Option<&str>) -> Self {
        if let Some(value) = value {
            // Room for a few more at the first, where growing by each would move it each time.
            let needed = name.len() + value.len() + 2;
            self.0.reserve(if self.0.is_empty() {
                needed.max(64)
            } else {
                needed
            });
            self.0.push('&');
            self.0.push_str(name);
            self.0.push('=');
            self.0.extend(utf8_percent_encode(value, KEPT_AS_IS));
        }
        self
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the tag kept in a cursor: 128 bits is beyond guessing and keeps links short.
const TAG_BYTES: usize = 16;

/// Seals positions into cursors (and sync tokens) that only this service can read or make: the
/// position is hidden (XORed with a stream keyed by its own tag, as in SIV) and the tag, an HMAC
/// of the scope and the position, proves it was made here for that scope. A client can neither
/// make one nor read what it holds (a sync token's change-log point counts every write in the
/// store, which is nobody's business).
pub struct Cursors {
    key: [u8; 32],
    stream_key: [u8; 32],
}

impl Cursors {
    /// Derives the cursor keys from the signing secret, so no second secret needs managing.
    pub fn new(secret: &JwtSecret) -> Self {
        let derive = |purpose: &[u8]| -> [u8; 32] {
            let mut mac =
                HmacSha256::new_from_slice(secret.bytes()).expect("HMAC takes any key length");
            mac.update(purpose);
            mac.finalize().into_bytes().into()
        };
        Self {
            key: derive(b"checkoff cursor key v1"),
            stream_key: derive(b"checkoff cursor stream key v1"),
        }
    }

    /// `bytes` XORed with the stream of `tag` (HMAC of the tag and a block counter).
    fn hide(&self, tag: &[u8], bytes: &mut [u8]) {
        for (block, chunk) in bytes.chunks_mut(32).enumerate() {
            let mut mac =
                HmacSha256::new_from_slice(&self.stream_key).expect("HMAC takes any key length");
            mac.update(tag);
            mac.update(&(block as u32).to_be_bytes());
            let stream = mac.finalize().into_bytes();
            chunk.iter_mut().zip(stream).for_each(|(b, s)| *b ^= s);
        }
    }

    fn mac(&self, scope: &str, position: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(position);
        mac
    }

    pub fn seal(&self, scope: &str, position: &str) -> String {
        let tag = self.mac(scope, position.as_bytes()).finalize().into_bytes();
        let tag = &tag[..TAG_BYTES];
        let mut hidden = position.as_bytes().to_vec();
        self.hide(tag, &mut hidden);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(hidden),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The `Link` header to the next page: `path` with its query so far (e.g.
    /// `/todos?limit=10&state=started`) and the sealed cursor.
    pub fn next_link(&self, path: &str, scope: &str, position: &str) -> ApiResult<HeaderValue> {
        let cursor = self.seal(scope, position);
        HeaderValue::from_str(&format!("<{path}&cursor={cursor}>; rel=\"next\""))
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Where a list resumes: after the position of `cursor`, or from the start without one (an
    /// empty `cursor=` is no cursor, like any empty optional parameter).
    pub fn resume(&self, scope: &str, cursor: Option<&str>) -> ApiResult<Option<String>> {
        cursor
            .filter(|c| !c.is_empty())
            .map(|c| self.open(scope, c))
            .transpose()
    }

    pub fn open(&self, scope: &str, cursor: &str) -> Result<String, ApiError> {
        let invalid = || ApiError::BadRequest("cursor is not valid for this list".into());
        let (hidden, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let mut position = URL_SAFE_NO_PAD.decode(hidden).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if tag.len() != TAG_BYTES {
            return Err(invalid());
        }
        self.hide(&tag, &mut position);
        self.mac(scope, &position)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        String::from_utf8(position).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursors(fill: char) -> Cursors {
        Cursors::new(&JwtSecret::from_base64(&fill.to_string().repeat(44)).unwrap())
    }

    #[test]
    fn a_filter_keeps_each_value_percent_encoded_in_order() {
        let filter = Filter::default()
            .with("q", Some("café & co=1+2%"))
            .with("state", None)
            .with("tz", Some("America/Argentina/Buenos_Aires"))
            .with("due_before", Some("2026-12-24T18:00:00+01:00"));
        assert_eq!(
            filter.0,
            "&q=caf%C3%A9%20%26%20co%3D1%2B2%25&tz=America/Argentina/Buenos_Aires\
             &due_before=2026-12-24T18:00:00%2B01:00"
        );
    }

    #[test]
    fn a_cursor_opens_for_its_own_scope_only() {
        let c = cursors('A');
        let sealed = c.seal("todos alice", "0190-abc");
        assert_eq!(c.open("todos alice", &sealed).unwrap(), "0190-abc");
        assert!(c.open("todos bob", &sealed).is_err());
        assert!(cursors('B').open("todos alice", &sealed).is_err());
    }

    #[test]
    fn a_cursor_does_not_show_what_it_holds() {
        let c = cursors('A');
        let position = "1234567.1796400000 and a position longer than one block of the stream";
        let sealed = c.seal("sync alice", position);
        let (hidden, _) = sealed.split_once('.').unwrap();
        let shown = URL_SAFE_NO_PAD.decode(hidden).unwrap();
        assert_eq!(shown.len(), position.len());
        assert_ne!(shown, position.as_bytes());
        assert!(!String::from_utf8_lossy(&shown).contains("1234567"));
        // Another scope's cursor of the same position hides it otherwise.
        let other = c.seal("sync bob", position);
        assert_ne!(other.split_once('.').unwrap().0, hidden);
        assert_eq!(c.open("sync alice", &sealed).unwrap(), position);
    }

    #[test]
    fn tampered_cursors_are_refused() {
        let c = cursors('A');
        let sealed = c.seal("s", "position");
        let (_, tag) = sealed.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("other"));
        for bad in [forged.as_str(), "", "no-dot", "a.b", "!!.!!"] {
            assert!(c.open("s", bad).is_err(), "{bad:?}");
        }
    }
}
