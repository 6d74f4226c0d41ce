//! Lists: every account has an Inbox and may make more; a todo belongs to one list of its
//! owner. The Inbox is never stored: its id follows from the owner's name (so accounts made
//! before lists have one, holding their todos, without a write), and a todo stored without a
//! list is in it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Invalid, Timestamp, Title, Username};

/// A list's id: random for lists people make, derived from the owner's name for the Inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ListId(Uuid);

/// The namespace of Inbox ids (UUID v5): any fixed value, never to change.
const INBOX_NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_3c1e_8d2b_4f47_9c55_e1b0_7a3d_2c90);
/// The namespace of the ids of lists made with an idempotency key.
const KEYED_NAMESPACE: Uuid = Uuid::from_u128(0x1d7e_52a4_0b3f_4c19_8e62_5f90_c4a8_173b);

impl ListId {
    /// A new list's id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id of the list `owner`'s account (made at `account`) makes with idempotency `key`:
    /// the same for every retry, so that one made by a try whose answer was lost is found
    /// rather than made again.
    pub fn keyed(owner: &Username, account: Option<Timestamp>, key: &str) -> Self {
        let account = account.map(|at| at.to_string()).unwrap_or_default();
        let name = format!("{owner}\n{account}\n{key}");
        Self(Uuid::new_v5(&KEYED_NAMESPACE, name.as_bytes()))
    }

    /// The id of `owner`'s Inbox.
    pub fn inbox_of(owner: &Username) -> Self {
        // Asked for every todo read or written (a SHA-1 each: ~1,400 instructions, four times
        // a create and once per row of a page read from the store), nearly always for the
        // owner asked last on the same thread.
        thread_local! {
            static LAST: std::cell::RefCell<Option<(Username, ListId)>> =
                const { std::cell::RefCell::new(None) };
        }
        LAST.with_borrow_mut(|last| match last {
            Some((name, id)) if name == owner => *id,
            _ => {
                let id = Self(Uuid::new_v5(&INBOX_NAMESPACE, owner.as_str().as_bytes()));
                *last = Some((owner.clone(), id));
                id
            }
        })
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| Invalid(format!("list must be a list's id (a UUID), got {raw:?}")))
    }

    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for ListId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl Default for ListId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for ListId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl utoipa::PartialSchema for ListId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Uuid,
            )))
            .description(Some("A list's id (from `GET /lists`)."))
            .into()
    }
}

impl utoipa::ToSchema for ListId {}

/// What a list is called: 1–200 characters once trimmed, no control characters (a title's
/// rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct ListName(String);

impl ListName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        super::todo::one_line("name", raw, Title::MAX_CHARS).map(Self)
    }

    pub fn from_stored(raw: &str) -> Result<Self, Invalid> {
        super::todo::stored_line("name", raw, Title::MAX_CHARS).map(Self)
    }

    /// The Inbox's name.
    pub fn inbox() -> Self {
        Self("Inbox".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ListName {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<ListName> for String {
    fn from(name: ListName) -> String {
        name.0
    }
}

impl utoipa::PartialSchema for ListName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::text_schema(
            "What the list is called: 1–200 characters once trimmed, no control characters.",
            Title::PATTERN,
            None,
        )
        .into()
    }
}

impl utoipa::ToSchema for ListName {}

/// A list as stored (the Inbox is made up from its owner's name and account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoList {
    pub id: ListId,
    pub owner: Username,
    pub name: ListName,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Goes up by one with every change; the `ETag` of the list.
    pub version: u64,
}

impl TodoList {
    /// A new list of `owner`'s, made now.
    pub fn new(owner: Username, name: ListName) -> Self {
        Self::with_id(ListId::new(), owner, name)
    }

    /// A new list of `owner`'s under a given id.
    pub fn with_id(id: ListId, owner: Username, name: ListName) -> Self {
        let now = Timestamp::now();
        Self {
            id,
            owner,
            name,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// `owner`'s Inbox, which exists as long as the account (made `since`).
    pub fn inbox(owner: Username, since: Timestamp) -> Self {
        Self {
            id: ListId::inbox_of(&owner),
            owner,
            name: ListName::inbox(),
            created_at: since,
            updated_at: since,
            version: 1,
        }
    }

    pub fn is_inbox(&self) -> bool {
        self.id == ListId::inbox_of(&self.owner)
    }
}

/// What a caller may do with a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Made it: renames, deletes and shares it, and does everything an editor does.
    Owner,
    /// Creates, changes and deletes the todos in it.
    Editor,
    /// Reads it and its todos.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    /// A member's role as stored: `editor` or `viewer` (an owner is no member).
    pub fn of_member(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "editor" => Ok(Self::Editor),
            "viewer" => Ok(Self::Viewer),
            other => Err(Invalid(format!(
                "role must be editor or viewer, got {other:?}"
            ))),
        }
    }

    /// Whether it may create, change and delete the list's todos.
    pub fn writes(self) -> bool {
        self != Self::Viewer
    }
}

/// A list shared with someone: kept with the list (its owner's) and found by the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub owner: Username,
    pub list: ListId,
    pub member: Username,
    /// `Editor` or `Viewer`.
    pub role: Role,
    /// When the member's account was made: the grant is that account's, not a later one's of
    /// the same name.
    pub since: Timestamp,
    pub added_at: Timestamp,
}

/// How many of a list's todos are open and completed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListCounts {
    /// Not completed (unstarted or started).
    pub open: u64,
    pub completed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_has_its_own_inbox_id_and_it_never_changes() {
        let alice = Username::parse("alice").unwrap();
        let bob = Username::parse("bob").unwrap();
        assert_eq!(ListId::inbox_of(&alice), ListId::inbox_of(&alice));
        assert_ne!(ListId::inbox_of(&alice), ListId::inbox_of(&bob));
        // Stored todos name their list by this: it must not move between releases. Worked
        // out (after bob's), then kept (asked again at once).
        for _ in 0..2 {
            assert_eq!(
                ListId::inbox_of(&alice).to_string(),
                "a8112fc8-f1fe-5be3-949b-1ff3738eda6f"
            );
        }
        assert!(TodoList::inbox(alice.clone(), Timestamp::now()).is_inbox());
        assert!(!TodoList::new(alice, ListName::parse("Groceries").unwrap()).is_inbox());
    }

    #[test]
    fn list_names_are_one_line() {
        assert_eq!(
            ListName::parse("  Groceries ").unwrap().as_str(),
            "Groceries"
        );
        assert!(ListName::parse(" ").is_err());
        assert!(ListName::parse("a\nb").is_err());
        assert!(ListName::parse(&"x".repeat(201)).is_err());
        assert!(ListId::parse("inbox").is_err());
    }
}
