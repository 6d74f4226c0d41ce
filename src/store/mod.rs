//! The only door to data. Every store passes the same contract suite (tests/it/contract.rs).

mod cached;
mod changes;
pub mod dynamodb;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{
    DueFilter, ListCounts, ListId, ListName, Membership, Position, Session, Timestamp, Todo,
    TodoList, TodoPatch, TodoQuery, TodoState, User, Username, Zone,
};

pub use cached::UserCache;
pub use changes::{ChangeClock, Stamp};
pub use dynamodb::DynamoStore;
pub use sqlite::SqliteStore;

/// Records how long one store operation took (`checkoff_store_duration_seconds`): a read or a
/// write on SQLite, a request with its retries on DynamoDB.
fn record_latency(store: &'static str, took: std::time::Duration) {
    // Made for each operation, not kept (`telemetry::kept`): tests time operations with a
    // recorder of their own (`with_local_recorder`), which a handle of the global one would miss.
    metrics::histogram!("checkoff_store_duration_seconds", "store" => store)
        .record(took.as_secs_f64());
}

/// What went wrong in a store, in terms that do not depend on the engine behind it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// A conditional write found another version than the caller expected.
    #[error("version mismatch: the item is at version {current}")]
    VersionMismatch { current: u64 },
    /// A conditional write found the record changed since the caller read it (a refresh hash
    /// rotated, a failure count moved on).
    #[error("changed meanwhile")]
    Changed,
    /// A todo was to be put in a list of its owner's that does not exist (or is being
    /// deleted).
    #[error("no such list")]
    NoList,
    /// The engine could not be reached or did not answer in time; worth retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A write was sent and its answer lost (no answer in time, a server error): it may have
    /// been done. Worth checking before trying again.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The engine does not do this yet; the message says what.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// Data in the store breaks the domain rules or the engine failed in an unexpected way.
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which slice of a list to read. `after` is the store's own key from a previous [`Page::next`];
/// callers treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page from `items` read one past `limit`: the extra item only tells that more follow, so
    /// an exactly full last page announces no next page.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, position: impl Fn(&T) -> String) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(position)
        } else {
            None
        };
        Self { items, next }
    }
}

/// Failed logins recorded under one key (a username or a client address): kept in the store so
/// that the login throttle holds across every instance that shares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// When the last failure happened, in Unix milliseconds.
    pub last: u64,
    /// Unix milliseconds until which logins under the key are refused; 0 when not locked.
    pub locked_until: u64,
}

/// The answer to a request made with an `Idempotency-Key`, kept so that a retry of it gets the
/// same answer instead of doing the work twice. What the answer means (which status, which
/// body) is the caller's business: the request it answers says that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub owner: Username,
    pub key: String,
    /// A digest of the request, to tell a retry from another request under the same key.
    pub fingerprint: String,
    /// The answer as the caller kept it: text the store holds and gives back, never reads.
    pub answer: String,
    /// Unix seconds after which the key may be used again.
    pub expires: u64,
}

/// What the store as a whole answers, besides its four roles: whether it is up, and whether it
/// can tell cheaply that an owner's todos changed. Todos are always addressed through their
/// owner, so no call can reach another user's item.
///
/// The roles, each with its own file in both engines: [`UserStore`] (profiles),
/// [`SessionStore`] (sessions and their ending), [`TodoStore`] (todos), [`GuardStore`] (login
/// throttle and idempotency records). A caller holding `Arc<dyn Store>` calls them all; one that
/// needs a single role may hold just it (`Arc<dyn TodoStore>`, upcast from the whole store).
#[async_trait]
pub trait Store:
    UserStore + SessionStore + TodoStore + ListStore + SyncStore + GuardStore + Send + Sync + 'static
{
    /// Answers when the store can serve requests.
    async fn ping(&self) -> StoreResult<()>;

    /// When the store can tell cheaply that an owner's todos have not changed: lets the API
    /// serve a list again without reading it. A store that cannot (others write to it unseen)
    /// says `None`.
    fn changes(&self) -> Option<&ChangeClock> {
        None
    }

    /// Brings [`Store::changes`] up to date with writes made elsewhere right now, where the store
    /// can tell cheaply (SQLite asks its file); a cache calls it before trusting a kept value.
    fn catch_up(&self) {}
}

/// User profiles, and the writes that change one but for what sessions and todos do to it
/// ([`SessionStore::end_sessions`], [`SessionStore::new_login_generation`], the usage counts
/// [`TodoStore`] keeps).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user; `AlreadyExists` when the name is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, username: &Username) -> StoreResult<Option<User>>;
    /// The profile as kept in memory, when a cache in front of the store has it and it is
    /// current: the authorizer's read on every request, without a copy or a future. `None`
    /// means "ask [`UserStore::get_user`]", never "no such user".
    fn kept_user(&self, _username: &Username) -> Option<Arc<User>> {
        None
    }
    async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>>;
    /// Replaces the stored password hash (a rehash after login); `NotFound` for an unknown user.
    async fn set_password_hash(&self, username: &Username, hash: &str) -> StoreResult<()>;
    /// Makes a user an administrator, or not; `NotFound` for an unknown user.
    async fn set_admin(&self, username: &Username, admin: bool) -> StoreResult<()>;
    /// Sets (or with `None` clears) the person's time zone; `NotFound` when there is no such user.
    async fn set_zone(&self, username: &Username, zone: Option<&Zone>) -> StoreResult<()>;
    /// Removes a user with all their todos and sessions; returns how many todos went with them.
    async fn delete_user(&self, username: &Username) -> StoreResult<u64>;
}

/// Most expired sessions one login forgets ([`SessionStore::forget_expired_sessions`]): a
/// backlog goes with the logins that follow.
pub const EXPIRED_SESSIONS_FORGOTTEN: u32 = 64;

/// Login sessions and API tokens, and ending them: an ending is recorded on the owner's profile.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Records a new session; `NotFound` when its owner does not exist.
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, owner: &Username, id: Uuid) -> StoreResult<Option<Session>>;
    /// The session with this id, whoever owns it (for revoking an API token by its id).
    async fn find_session(&self, id: Uuid) -> StoreResult<Option<Session>>;
    /// Every session of `owner`, oldest first.
    async fn list_sessions(&self, owner: &Username) -> StoreResult<Vec<Session>>;
    /// Replaces a session's refresh hash, only while it is still `from`: of two rotations from
    /// the same hash exactly one succeeds, the other gets `Changed`. `NotFound` when the
    /// session is gone.
    async fn rotate_session(
        &self,
        owner: &Username,
        id: Uuid,
        from: &str,
        to: &str,
    ) -> StoreResult<()>;
    /// Ends sessions of `owner`: each `(id, until)` is recorded on the profile as revoked until
    /// `until` (Unix seconds: when its last access token expires), then the session is removed.
    /// Revocations that have run out are dropped on the way. `NotFound` for an unknown owner.
    async fn end_sessions(&self, owner: &Username, ended: &[(Uuid, u64)]) -> StoreResult<()>;
    /// Forgets up to [`EXPIRED_SESSIONS_FORGOTTEN`] of `owner`'s sessions that expired before
    /// `before` (their records only: nothing they issued is still accepted by then). A login
    /// tidies this way, so its work stays the same however many sessions an account has piled up.
    async fn forget_expired_sessions(&self, owner: &Username, before: Timestamp)
    -> StoreResult<()>;
    /// Ends every login session of `owner` but `keep` in one write of the profile: its login
    /// generation moves on (see [`crate::domain::Revocations::admits_login`]), and with
    /// `password_hash` the password is replaced in the same write. The ended sessions' records
    /// are removed on the way, or later; they no longer work either way. `NotFound` for an
    /// unknown owner.
    async fn new_login_generation(
        &self,
        owner: &Username,
        password_hash: Option<&str>,
        keep: Option<Uuid>,
    ) -> StoreResult<()>;
}

/// Todos, always addressed through their owner. Every write that adds, removes or resizes one
/// counts it in the owner's profile ([`User::usage`]) in the same step.
#[async_trait]
pub trait TodoStore: Send + Sync {
    /// Stores a new todo; `NotFound` when its owner does not exist.
    async fn create_todo(&self, todo: &Todo) -> StoreResult<()>;
    /// As [`TodoStore::create_todo`], together with keeping `answer` (see
    /// [`GuardStore::remember`]), in one step: if the key is in use nothing is written and its
    /// record is returned.
    async fn create_todo_remembered(
        &self,
        todo: &Todo,
        answer: &Remembered,
    ) -> StoreResult<Option<Remembered>>;
    async fn get_todo(&self, owner: &Username, uid: Uuid) -> StoreResult<Option<Todo>>;
    /// The owner's todos that `query` admits, in its order ([`TodoQuery::admits`],
    /// [`TodoQuery::key`], then the uid); positions are [`TodoQuery::position_of`].
    async fn list_todos(
        &self,
        owner: &Username,
        query: &TodoQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>>;
    /// Moves every todo of `owner` that is not completed to completed (each one's version
    /// bumped, `updated_at` and `completed_at` set to `now`); returns how many changed.
    async fn complete_all(&self, owner: &Username, now: Timestamp) -> StoreResult<u64>;
    /// Removes every todo of `owner` that is in `state`; returns how many went. A todo that
    /// leaves the state meanwhile stays.
    async fn delete_in_state(&self, owner: &Username, state: TodoState) -> StoreResult<u64>;
    /// Every owner's todos in any of `states` that `due` admits, oldest first (by
    /// `created_at`, then uid): the administrators' view.
    async fn list_todos_in_states(
        &self,
        states: &[TodoState],
        due: &DueFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>>;
    /// Applies `patch` atomically. With `expected_version`, only when the item is at that version
    /// (`VersionMismatch` otherwise); `NotFound` when there is no such item.
    async fn update_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        patch: &TodoPatch,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<Todo>;
    /// Removes one todo, under the same conditions as `update_todo`: the todo as it was, when
    /// that is known (not after a try whose answer was lost).
    async fn delete_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        expected_version: Option<u64>,
    ) -> StoreResult<Option<Todo>>;
    /// Up to `count` of `owner`'s todos next to `todo` in their order (`sort=position`),
    /// nearest first: those before it when `before`, else those after it.
    async fn todos_beside(
        &self,
        owner: &Username,
        todo: &Todo,
        before: bool,
        count: u32,
    ) -> StoreResult<Vec<Todo>>;
    /// Gives `owner`'s todos their new places, all or none: each only while it is at the
    /// version given (`Changed` otherwise, or when one is gone). Each written todo's version
    /// goes up by one and its `updated_at` becomes `now`, as [`Todo::patched`] has it.
    async fn reposition_todos(
        &self,
        owner: &Username,
        places: &[Placement],
        now: Timestamp,
    ) -> StoreResult<()>;
}

/// The lists an owner made (the Inbox is not stored: see [`crate::domain::ListId::inbox_of`]).
/// A todo names its list ([`Todo::list`]); every write that puts a todo in a list other than
/// its owner's Inbox fails with `NoList` unless that list exists, in the same step.
#[async_trait]
pub trait ListStore: Send + Sync {
    /// Stores a new list; `NotFound` when its owner does not exist.
    async fn create_list(&self, list: &TodoList) -> StoreResult<()>;
    /// The owner's stored lists, oldest first.
    async fn lists_of(&self, owner: &Username) -> StoreResult<Vec<TodoList>>;
    async fn get_list(&self, owner: &Username, id: ListId) -> StoreResult<Option<TodoList>>;
    /// Renames a list (version up by one, `updated_at` = `now`); with `expected_version`
    /// only at that version (`VersionMismatch`); `NotFound` when there is no such list.
    async fn rename_list(
        &self,
        owner: &Username,
        id: ListId,
        name: &ListName,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<TodoList>;
    /// Removes a list and every todo in it (conditions as `rename_list`); returns how many
    /// todos went. No todo can be put in the list once this has begun.
    async fn delete_list(
        &self,
        owner: &Username,
        id: ListId,
        expected_version: Option<u64>,
    ) -> StoreResult<u64>;
    /// How many open and completed todos each of the owner's lists holds (lists without
    /// todos left out).
    async fn count_by_list(&self, owner: &Username) -> StoreResult<Vec<(ListId, ListCounts)>>;
    /// Shares a list (made or changed: whether it is new). `NoList` when the list does not
    /// exist (or is being deleted); `NotFound` when the member's account made at `since` is
    /// not there.
    async fn put_member(&self, membership: &Membership) -> StoreResult<bool>;
    /// Who list `list` of `owner`'s is shared with, by name.
    async fn members_of(&self, owner: &Username, list: ListId) -> StoreResult<Vec<Membership>>;
    /// Ends a membership; `NotFound` when there is none.
    async fn remove_member(
        &self,
        owner: &Username,
        list: ListId,
        member: &Username,
    ) -> StoreResult<()>;
    /// The lists shared with `member` that still exist, oldest share first.
    async fn grants_of(&self, member: &Username) -> StoreResult<Vec<Membership>>;
    /// List `list` shared with `member`, if it is and still exists.
    async fn grant(&self, member: &Username, list: ListId) -> StoreResult<Option<Membership>>;
}

/// What changed in one owner's data after a point of the change log, as it is now.
#[derive(Debug, Default)]
pub struct Changes {
    /// Todos changed that still exist (those of the lists asked for, and those moved out of
    /// them: their `list` tells).
    pub todos: Vec<Todo>,
    /// Todos changed that no longer exist.
    pub gone: Vec<Uuid>,
    /// Lists made, renamed or deleted.
    pub lists: Vec<ListId>,
    /// Lists shared with the owner, or no longer, or with another role (their own log only).
    pub grants: Vec<ListId>,
}

/// The change log behind `GET /sync`: every write of a todo, a list or a membership leaves an
/// entry in the same step (so the two cannot part), kept at least [`SYNC_HISTORY_SECONDS`].
#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Where the log stands: every change made after this call returns is in
    /// `changes_since(point)`.
    async fn sync_point(&self) -> StoreResult<u64>;
    /// What changed in `owner`'s data after `since` (a [`SyncStore::sync_point`]; a change
    /// just before it may be told again). With `lists`, only the changes to those lists and
    /// their todos; without, every change of theirs and of the lists shared with them.
    async fn changes_since(
        &self,
        owner: &Username,
        lists: Option<&[ListId]>,
        since: u64,
    ) -> StoreResult<Changes>;
}

/// How long the change log keeps an entry: a sync token older than this is refused (410) and
/// the client syncs in full.
pub const SYNC_HISTORY_SECONDS: u64 = 14 * 24 * 3600;

/// A todo's new position, for the version of it that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub uid: Uuid,
    pub version: u64,
    pub position: Position,
    /// The list it is in (for the change log: it does not move).
    pub list: ListId,
}

/// Records that guard the API rather than hold its data: failed logins (the login throttle) and
/// the answers kept under an `Idempotency-Key`.
#[async_trait]
pub trait GuardStore: Send + Sync {
    /// The failed logins recorded under `key`, if any.
    async fn get_failures(&self, key: &str) -> StoreResult<Option<Failures>>;
    /// Sets `key`'s record to `new` if it still is `expected` (`None`: no record): of two
    /// writers starting from the same record one wins, the other gets `Changed`. The
    /// store may forget the record after `forget_at` (Unix seconds).
    async fn put_failures(
        &self,
        key: &str,
        expected: Option<&Failures>,
        new: &Failures,
        forget_at: u64,
    ) -> StoreResult<()>;
    /// Forgets `key`'s record.
    async fn clear_failures(&self, key: &str) -> StoreResult<()>;

    /// What is kept under `owner`'s idempotency `key`, unless it expired.
    async fn recall(&self, owner: &Username, key: &str) -> StoreResult<Option<Remembered>>;
    /// Keeps `answer` under its owner and key, unless the key is in use: then returns what it
    /// holds (a key whose record expired counts as free).
    async fn remember(&self, answer: &Remembered) -> StoreResult<Option<Remembered>>;
}
