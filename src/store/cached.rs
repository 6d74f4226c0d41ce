//! A short-lived cache of user profiles in front of a store. The authorizer reads the caller's
//! profile on every request; on DynamoDB that is a second request per API call, which this saves.
//! Changes made through this process are seen at once; changes made elsewhere (another instance,
//! the CLI) within `ttl` — or, on a store that can tell when others have written (SQLite, which
//! is asked before each kept profile is served), at once too.
//!
//! It stands in for the whole store (everyone holds one `Arc<dyn Store>`), but only the profile
//! reads and the writes that change a profile are its own: the [`UserStore`] writes, ending
//! sessions, a new login generation, and the todo writes that change what the account holds
//! (`User::usage`). Everything else goes to the inner store one line per method (`forward!`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    ChangeClock, Changes, Failures, GuardStore, ListStore, Page, PageRequest, Placement,
    Remembered, SessionStore, Store, StoreResult, SyncStore, TodoStore, UserStore,
};
use crate::domain::{
    DueFilter, ListCounts, ListId, ListName, Membership, Session, Timestamp, Todo, TodoList,
    TodoPatch, TodoQuery, TodoState, User, Username, Zone,
};

/// Profiles kept at most; past it the cache starts over rather than grow.
const MAX_ENTRIES: usize = 10_000;

pub struct UserCache {
    inner: Arc<dyn Store>,
    ttl: Duration,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    users: foldhash::HashMap<Username, Cached>,
    /// Moves on at every write of a profile: a read that overlapped one keeps nothing, or it
    /// could put back what the write replaced.
    written: u64,
    /// Writes under way whose change is then made to the kept profile itself (a todo made or
    /// deleted: its count and bytes). A read that ends meanwhile keeps nothing either: it may
    /// have seen the write, and the change would be counted twice.
    counting: u32,
}

struct Cached {
    at: Instant,
    /// The store's count of outside changes when this was read.
    epoch: Option<u64>,
    user: Arc<User>,
}

impl UserCache {
    pub fn new(inner: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            kept: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, username: &Username) {
        let mut kept = self.lock();
        kept.written += 1;
        kept.users.remove(username);
    }

    /// Forgets `username`'s profile when dropped: after the write it is held across, or when
    /// the request is dropped before that write answers (a client gone, a deadline passed),
    /// since the write may be made all the same.
    fn forgetting<'a>(&'a self, username: &'a Username) -> Forgetting<'a> {
        Forgetting {
            cache: self,
            username,
        }
    }

    /// Runs `write`, which adds `todos` todos of `bytes` bytes to `owner`'s account when it
    /// answers `Some` (fewer when negative), and makes the same change to the kept profile
    /// rather than forget it: the next request of a user who just made a todo is not a read
    /// of their profile (7 % of a create's instructions, callgrind). A write that fails, or
    /// whose request is dropped before it answers, may or may not have been made: the profile
    /// is forgotten.
    async fn counted<T>(
        &self,
        owner: &Username,
        write: impl Future<Output = StoreResult<T>>,
        change: impl FnOnce(&T) -> Option<(i64, i64)>,
    ) -> StoreResult<T> {
        let mut counting = Counting::begin(self, owner);
        let done = write.await;
        counting.outcome = Some(done.as_ref().map(change).map_err(|_| ()));
        drop(counting);
        done
    }

    /// The store's count of outside changes, brought up to date first.
    fn epoch(&self) -> Option<u64> {
        self.inner.catch_up();
        self.inner.changes().map(ChangeClock::epoch)
    }

    /// The kept profile, if it is younger than `ttl` and no outside change came since.
    fn kept(&self, username: &Username, epoch: Option<u64>) -> Option<Arc<User>> {
        self.lock()
            .users
            .get(username)
            .filter(|c| c.at.elapsed() < self.ttl && c.epoch == epoch)
            .map(|c| Arc::clone(&c.user))
    }
}

struct Forgetting<'a> {
    cache: &'a UserCache,
    username: &'a Username,
}

impl Drop for Forgetting<'_> {
    fn drop(&mut self) {
        self.cache.forget(self.username);
    }
}

/// A counted write under way ([`UserCache::counted`]); its end, however it comes, is noted when
/// this is dropped.
struct Counting<'a> {
    cache: &'a UserCache,
    owner: &'a Username,
    /// What the write did to the account; `None` (never answered) and `Err` forget the profile.
    outcome: Option<Result<Option<(i64, i64)>, ()>>,
}

impl<'a> Counting<'a> {
    fn begin(cache: &'a UserCache, owner: &'a Username) -> Self {
        let mut kept = cache.lock();
        kept.written += 1;
        kept.counting += 1;
        Self {
            cache,
            owner,
            outcome: None,
        }
    }
}

impl Drop for Counting<'_> {
    fn drop(&mut self) {
        let mut kept = self.cache.lock();
        kept.written += 1;
        kept.counting -= 1;
        match self.outcome {
            Some(Ok(None)) => {}
            Some(Ok(Some((todos, bytes)))) => {
                if let Some(cached) = kept.users.get_mut(self.owner) {
                    let mut user = User::clone(&cached.user);
                    user.usage.todos = user.usage.todos.saturating_add_signed(todos);
                    user.usage.bytes = user.usage.bytes.saturating_add_signed(bytes);
                    cached.user = Arc::new(user);
                }
            }
            Some(Err(())) | None => {
                kept.users.remove(self.owner);
            }
        }
    }
}

/// Implements a role for the cache by handing each method to the inner store, one line each:
/// `name(arg: Type, …) -> Output`. A method marked `=> forget(who)` writes `who`'s profile
/// (`forget(who, if condition)`: only then): the kept one is forgotten after the write,
/// whatever its outcome, or when the request is dropped before it (a read racing the write
/// must not keep the old profile either; see `Kept::written`). One marked
/// `=> count(who, change)` changes `who`'s usage by what `change` makes of its answer, in the
/// kept profile too ([`UserCache::counted`]).
macro_rules! forward {
    ($role:ident { $($name:ident($($arg:ident: $ty:ty),*) -> $out:ty $(=> $how:ident $how_args:tt)?;)* }) => {
        #[async_trait]
        impl $role for UserCache {
            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$out> {
                    forward!(@call self, self.inner.$name($($arg),*) $(, $how $how_args)?)
                }
            )*
        }
    };
    (@call $cache:ident, $call:expr) => {
        $call.await
    };
    (@call $cache:ident, $call:expr, forget($who:expr $(, if $when:expr)?)) => {{
        let _forget = (true $(&& $when)?).then(|| $cache.forgetting($who));
        $call.await
    }};
    (@call $cache:ident, $call:expr, count($who:expr, $change:expr)) => {
        $cache.counted($who, $call, $change).await
    };
}

#[async_trait]
impl Store for UserCache {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    fn changes(&self) -> Option<&ChangeClock> {
        self.inner.changes()
    }

    fn catch_up(&self) {
        self.inner.catch_up();
    }
}

#[async_trait]
impl UserStore for UserCache {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.forget(&user.username);
        self.inner.create_user(user).await
    }

    fn kept_user(&self, username: &Username) -> Option<Arc<User>> {
        self.kept(username, self.epoch())
    }

    async fn get_user(&self, username: &Username) -> StoreResult<Option<User>> {
        let epoch = self.epoch();
        if let Some(user) = self.kept(username, epoch) {
            return Ok(Some(User::clone(&user)));
        }
        // Only found users are kept: a user created elsewhere is never hidden by the cache.
        let written = self.lock().written;
        let found = self.inner.get_user(username).await?;
        let mut kept = self.lock();
        let overlapped = kept.written != written || kept.counting > 0;
        if let Some(user) = found.as_ref().filter(|_| !overlapped) {
            let users = &mut kept.users;
            if users.len() >= MAX_ENTRIES {
                users.clear();
            }
            let entry = Cached {
                at: Instant::now(),
                epoch,
                user: Arc::new(user.clone()),
            };
            users.insert(username.clone(), entry);
        }
        Ok(found)
    }

    async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
        self.inner.list_users(page).await
    }

    async fn set_password_hash(&self, username: &Username, hash: &str) -> StoreResult<()> {
        let _forget = self.forgetting(username);
        self.inner.set_password_hash(username, hash).await
    }

    async fn set_admin(&self, username: &Username, admin: bool) -> StoreResult<()> {
        let _forget = self.forgetting(username);
        self.inner.set_admin(username, admin).await
    }

    async fn set_zone(&self, username: &Username, zone: Option<&Zone>) -> StoreResult<()> {
        let _forget = self.forgetting(username);
        self.inner.set_zone(username, zone).await
    }

    async fn delete_user(&self, username: &Username) -> StoreResult<u64> {
        self.forget(username);
        let _forget = self.forgetting(username);
        self.inner.delete_user(username).await
    }
}

forward!(SessionStore {
    create_session(session: &Session) -> ();
    get_session(owner: &Username, id: Uuid) -> Option<Session>;
    find_session(id: Uuid) -> Option<Session>;
    list_sessions(owner: &Username) -> Vec<Session>;
    rotate_session(owner: &Username, id: Uuid, from: &str, to: &str) -> ();
    forget_expired_sessions(owner: &Username, before: Timestamp) -> ();
    end_sessions(owner: &Username, ended: &[(Uuid, u64)]) -> () => forget(owner);
    new_login_generation(owner: &Username, password_hash: Option<&str>, keep: Option<Uuid>) -> () => forget(owner);
});

// A kept profile holds the account's usage (the quota is checked against it): a todo made or
// deleted is counted in it as in the store; every other write that may add, remove or resize
// a todo forgets it. A change of state alone changes no size.
forward!(TodoStore {
    create_todo(todo: &Todo) -> () => count(&todo.username, |_: &()| Some(made(todo)));
    create_todo_remembered(todo: &Todo, answer: &Remembered) -> Option<Remembered> =>
        count(&todo.username, |earlier: &Option<_>| earlier.is_none().then(|| made(todo)));
    get_todo(owner: &Username, uid: Uuid) -> Option<Todo>;
    list_todos(owner: &Username, query: &TodoQuery, page: &PageRequest) -> Page<Todo>;
    complete_all(owner: &Username, now: Timestamp) -> u64;
    delete_in_state(owner: &Username, state: TodoState) -> u64 => forget(owner);
    list_todos_in_states(states: &[TodoState], due: &DueFilter, page: &PageRequest) -> Page<Todo>;
    update_todo(owner: &Username, uid: Uuid, patch: &TodoPatch, expected_version: Option<u64>, now: Timestamp) -> Todo => forget(owner, if patch.resizes());
    delete_todo(owner: &Username, uid: Uuid, expected_version: Option<u64>) -> Option<Todo> =>
        count(owner, |deleted: &Option<Todo>| deleted.as_ref().map(|todo| {
            let (todos, bytes) = made(todo);
            (-todos, -bytes)
        }));
    todos_beside(owner: &Username, todo: &Todo, before: bool, count: u32) -> Vec<Todo>;
    reposition_todos(owner: &Username, places: &[Placement], now: Timestamp) -> ();
});

/// What a todo adds to its owner's usage: one todo, its stored bytes.
fn made(todo: &Todo) -> (i64, i64) {
    (1, i64::try_from(todo.stored_bytes()).unwrap_or(i64::MAX))
}

forward!(ListStore {
    create_list(list: &TodoList) -> ();
    lists_of(owner: &Username) -> Vec<TodoList>;
    get_list(owner: &Username, id: ListId) -> Option<TodoList>;
    rename_list(owner: &Username, id: ListId, name: &ListName, expected_version: Option<u64>, now: Timestamp) -> TodoList;
    delete_list(owner: &Username, id: ListId, expected_version: Option<u64>) -> u64 => forget(owner);
    count_by_list(owner: &Username) -> Vec<(ListId, ListCounts)>;
    put_member(membership: &Membership) -> bool;
    members_of(owner: &Username, list: ListId) -> Vec<Membership>;
    remove_member(owner: &Username, list: ListId, member: &Username) -> ();
    grants_of(member: &Username) -> Vec<Membership>;
    grant(member: &Username, list: ListId) -> Option<Membership>;
});

forward!(SyncStore {
    sync_point() -> u64;
    changes_since(owner: &Username, lists: Option<&[ListId]>, since: u64) -> Changes;
});

forward!(GuardStore {
    get_failures(key: &str) -> Option<Failures>;
    put_failures(key: &str, expected: Option<&Failures>, new: &Failures, forget_at: u64) -> ();
    clear_failures(key: &str) -> ();
    recall(owner: &Username, key: &str) -> Option<Remembered>;
    remember(answer: &Remembered) -> Option<Remembered>;
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn user(name: &str) -> User {
        User {
            username: Username::parse(name).unwrap(),
            password_hash: "$argon2id$x".into(),
            email: None,
            admin: false,
            created_at: Timestamp::now(),
            revoked: Default::default(),
            usage: Default::default(),
            zone: None,
        }
    }

    #[tokio::test]
    async fn a_profile_changed_by_another_process_is_never_served_stale() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = SqliteStore::open(dir.path()).unwrap();
        let cache = UserCache::new(
            Arc::new(SqliteStore::open(dir.path()).unwrap()),
            Duration::from_secs(3600),
        );
        elsewhere.create_user(&user("alice")).await.unwrap();
        let alice = Username::parse("alice").unwrap();
        assert!(cache.get_user(&alice).await.unwrap().is_some());

        elsewhere.delete_user(&alice).await.unwrap();
        assert!(cache.get_user(&alice).await.unwrap().is_none());
    }

    fn todo(owner: &Username, text: &str) -> Todo {
        Todo::new(
            owner.clone(),
            crate::domain::Description::parse(text).unwrap(),
            crate::domain::Metadata::from_json(r#"{"tag": "é"}"#).unwrap(),
        )
    }

    /// A cache (an hour's TTL) over a new SQLite store, which is also handed back to be read
    /// past the cache, and the user alice made through it.
    async fn with_alice() -> (tempfile::TempDir, Arc<dyn Store>, UserCache, Username) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let cache = UserCache::new(Arc::clone(&store), Duration::from_secs(3600));
        cache.create_user(&user("alice")).await.unwrap();
        (dir, store, cache, Username::parse("alice").unwrap())
    }

    /// The usage the store itself holds for `name`, read past the cache.
    async fn stored_usage(store: &dyn Store, name: &Username) -> crate::domain::Usage {
        store.get_user(name).await.unwrap().unwrap().usage
    }

    #[tokio::test]
    async fn a_todo_made_or_deleted_is_counted_in_the_kept_profile_as_in_the_store() {
        let (_dir, store, cache, alice) = with_alice().await;
        cache.get_user(&alice).await.unwrap();

        let first = todo(&alice, "buy milk");
        cache.create_todo(&first).await.unwrap();
        let answer = Remembered {
            owner: alice.clone(),
            key: "k1".into(),
            fingerprint: "f".into(),
            answer: "{}".into(),
            expires: 4_000_000_000,
        };
        let second = todo(&alice, "walk the dog, twice");
        assert!(
            cache
                .create_todo_remembered(&second, &answer)
                .await
                .unwrap()
                .is_none()
        );
        // Its key in use: nothing made, nothing counted.
        let again = todo(&alice, "walk the dog, twice");
        assert!(
            cache
                .create_todo_remembered(&again, &answer)
                .await
                .unwrap()
                .is_some()
        );
        let kept = cache
            .kept_user(&alice)
            .expect("still kept after the writes");
        assert_eq!(kept.usage, stored_usage(&*store, &alice).await);
        assert_eq!(kept.usage.todos, 2);
        assert_eq!(
            kept.usage.bytes,
            first.stored_bytes() + second.stored_bytes()
        );

        cache.delete_todo(&alice, first.uid, None).await.unwrap();
        let kept = cache
            .kept_user(&alice)
            .expect("still kept after the delete");
        assert_eq!(kept.usage, stored_usage(&*store, &alice).await);
        assert_eq!(kept.usage.todos, 1);
        assert_eq!(kept.usage.bytes, second.stored_bytes());

        // A write that fails is not counted: the profile is read again.
        let gone = cache.delete_todo(&alice, first.uid, None).await;
        assert!(matches!(gone, Err(crate::store::StoreError::NotFound)));
        assert!(cache.kept_user(&alice).is_none());
        assert_eq!(
            cache.get_user(&alice).await.unwrap().unwrap().usage.todos,
            1
        );
    }

    /// Polls `write` once and drops it, as a server does with a request given up while its
    /// write waits for the writer; `false` if it was answered at once (the writer was quicker).
    fn given_up<F: Future>(write: F) -> bool {
        let mut write = Box::pin(write);
        let mut waiting = std::task::Context::from_waker(std::task::Waker::noop());
        write.as_mut().poll(&mut waiting).is_pending()
    }

    #[tokio::test]
    async fn a_counted_write_dropped_before_it_answers_forgets_the_profile() {
        let (_dir, store, cache, alice) = with_alice().await;
        cache.get_user(&alice).await.unwrap();

        // Sent to the writer, then given up (a client gone, a deadline passed).
        let dropped = (0..100).any(|n| {
            let made = todo(&alice, &format!("todo {n}"));
            given_up(cache.create_todo(&made))
        });
        assert!(dropped, "every write answered at its first poll");
        assert!(
            cache.kept_user(&alice).is_none(),
            "kept though it may be stale"
        );

        // Writes are committed in order: after this one, the dropped one is in too. Profiles
        // are kept again (nothing counts as under way), with every todo.
        cache
            .create_todo(&todo(&alice, "walk the dog"))
            .await
            .unwrap();
        cache.get_user(&alice).await.unwrap();
        let kept = cache.kept_user(&alice).expect("kept again");
        assert_eq!(kept.usage, stored_usage(&*store, &alice).await);
        assert!(kept.usage.todos >= 2);
    }

    #[tokio::test]
    async fn a_logout_dropped_before_it_answers_forgets_the_profile() {
        let (_dir, _, cache, alice) = with_alice().await;
        cache.get_user(&alice).await.unwrap();
        let ended = [(Uuid::new_v4(), u64::from(u32::MAX))];
        let dropped = (0..100).any(|_| given_up(cache.end_sessions(&alice, &ended)));
        assert!(dropped, "every write answered at its first poll");
        // The session's end may be written all the same: the profile is read again.
        assert!(cache.kept_user(&alice).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_racing_counted_writes_never_count_a_todo_twice() {
        let (_dir, store, cache, alice) = with_alice().await;
        let cache = Arc::new(cache);
        let mut tasks = Vec::new();
        for writer in 0..6 {
            let (cache, alice) = (Arc::clone(&cache), alice.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0..30 {
                    let made = todo(&alice, &format!("todo {writer}-{n}"));
                    cache.create_todo(&made).await.unwrap();
                    if n % 3 == 0 {
                        cache.delete_todo(&alice, made.uid, None).await.unwrap();
                    }
                }
            }));
        }
        for _ in 0..4 {
            let (cache, alice) = (Arc::clone(&cache), alice.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..200 {
                    cache.get_user(&alice).await.unwrap();
                    tokio::task::yield_now().await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // Kept by a read after the writes if none was kept during them.
        cache.get_user(&alice).await.unwrap();
        let kept = cache.kept_user(&alice).expect("kept");
        assert_eq!(kept.usage, stored_usage(&*store, &alice).await);
        assert_eq!(kept.usage.todos, 6 * 20);
    }

    #[tokio::test]
    async fn changes_through_the_cache_are_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = UserCache::new(
            Arc::new(SqliteStore::open(dir.path()).unwrap()),
            Duration::from_secs(60),
        );
        let alice = Username::parse("alice").unwrap();
        assert!(cache.get_user(&alice).await.unwrap().is_none());
        cache.create_user(&user("alice")).await.unwrap();
        assert!(
            cache.get_user(&alice).await.unwrap().is_some(),
            "absence is never cached"
        );
        cache
            .set_password_hash(&alice, "$argon2id$new")
            .await
            .unwrap();
        assert_eq!(
            cache.get_user(&alice).await.unwrap().unwrap().password_hash,
            "$argon2id$new"
        );
        cache.delete_user(&alice).await.unwrap();
        assert!(cache.get_user(&alice).await.unwrap().is_none());
    }
}
