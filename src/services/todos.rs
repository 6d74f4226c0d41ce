//! Todos: every read and write of someone's todo items. The account's limits are checked and
//! each change is published to the feed here, once, whoever asks (the API, the command line).

use std::sync::Arc;

use uuid::Uuid;

use super::changes::{ChangeFeed, What};
use super::error::{ServiceError, ServiceResult};
use super::limits::AccountLimits;
use crate::auth::Decision;
use crate::domain::{
    DueFilter, ListId, Membership, Position, Timestamp, Todo, TodoPatch, TodoQuery, TodoState,
    Username,
};
use crate::store::{ChangeClock, Page, PageRequest, Placement, Remembered, Store, StoreError};

const TODO_NOT_FOUND: &str = "Todo not found";
/// A move next to a todo the caller cannot reach (or one of another owner's).
pub(super) const NOT_BESIDE: ServiceError = ServiceError::NotFound(
    "The todo to move next to is not one you can see of the same owner as the todo moved",
);

pub(super) const NOT_FOUND: ServiceError = ServiceError::NotFound(TODO_NOT_FOUND);

/// Whether `e` says the caller has no such todo of their own (then it may be in a list shared
/// with them).
fn not_theirs(e: &ServiceError) -> bool {
    matches!(e, ServiceError::NotFound(m) if *m == TODO_NOT_FOUND)
}

pub struct Todos {
    store: Arc<dyn Store>,
    limits: AccountLimits,
    feed: Arc<ChangeFeed>,
    /// Syncs that found nothing, for the next one from the same point.
    pub(super) quiet: super::sync::QuietSyncs,
}

/// What a create did: made the todo, or found its idempotency key already answered.
pub enum Created {
    New(Box<Todo>),
    /// The first answer under the key, for a retry of the same request.
    Before(Remembered),
}

impl Todos {
    pub fn new(store: Arc<dyn Store>, limits: AccountLimits, feed: Arc<ChangeFeed>) -> Self {
        Self {
            store,
            limits,
            feed,
            quiet: Default::default(),
        }
    }

    /// Where the store tells cheaply whether an owner's todos changed (for keeping answers),
    /// brought up to date with what other processes committed.
    pub fn changes(&self) -> Option<&ChangeClock> {
        self.store.catch_up();
        self.store.changes()
    }

    pub async fn get(&self, owner: &Username, uid: Uuid) -> ServiceResult<Todo> {
        self.store.get_todo(owner, uid).await?.ok_or(NOT_FOUND)
    }

    /// One page of `owner`'s todos that `query` admits, in its order.
    pub async fn page(
        &self,
        owner: &Username,
        query: &TodoQuery,
        page: &PageRequest,
    ) -> ServiceResult<Page<Todo>> {
        Ok(self.store.list_todos(owner, query, page).await?)
    }

    /// Every owner's todos, optionally only those in `state` and those `due` admits, oldest
    /// first: for administrators.
    pub async fn everyones(
        &self,
        caller: &Decision,
        state: Option<TodoState>,
        due: &DueFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<Todo>> {
        if !caller.admin {
            return Err(ServiceError::Forbidden);
        }
        let states = match state {
            Some(state) => vec![state],
            None => TodoState::ALL.to_vec(),
        };
        Ok(self.store.list_todos_in_states(&states, due, page).await?)
    }

    /// Stores `todo` (the caller's, or in a list shared with them as an editor: then its
    /// owner's), keeping `answer` under its idempotency key in the same write when there is
    /// one. A retry of a create that was done gets its first answer, even when the account has
    /// since filled up.
    pub async fn create(
        &self,
        caller: &Decision,
        todo: Todo,
        answer: Option<Remembered>,
    ) -> ServiceResult<Created> {
        match todo.username == caller.owner {
            true => self.create_as(caller, todo, answer).await,
            false => self.create_shared(caller, todo, answer).await,
        }
    }

    /// Puts a new todo of the caller's in the list it names: theirs, or one shared with them
    /// as an editor (then the todo is the list owner's, made by the caller).
    pub async fn put_in_list(&self, caller: &Decision, todo: &mut Todo) -> ServiceResult<()> {
        if todo.list == ListId::inbox_of(&caller.owner) {
            return Ok(());
        }
        let access = self.access(caller, todo.list).await?;
        if access.owner == caller.owner {
            return Ok(());
        }
        if !access.role.writes() {
            return Err(super::sharing::VIEWER);
        }
        todo.username = access.owner;
        todo.created_by = Some(caller.owner.clone());
        todo.updated_by = Some(caller.owner.clone());
        Ok(())
    }

    /// [`Todos::create`] of a todo of the account `caller` acts for.
    pub(super) async fn create_as(
        &self,
        caller: &Decision,
        todo: Todo,
        answer: Option<Remembered>,
    ) -> ServiceResult<Created> {
        if let Err(refused) = self.limits.grow(caller, 1, todo.stored_bytes() as i64) {
            return match &answer {
                Some(now) => match self.recall(now).await? {
                    Some(earlier) => Ok(Created::Before(earlier)),
                    None => Err(refused),
                },
                None => Err(refused),
            };
        }
        let earlier = match &answer {
            None => self.store.create_todo(&todo).await.map(|()| None),
            Some(now) => self.store.create_todo_remembered(&todo, now).await,
        };
        let earlier = match earlier {
            // Its uid is new: a todo there as it was written is this create's, nobody else's.
            Err(StoreError::Unknown(why)) => {
                let done = |stored: &Todo| *stored == todo;
                let read = self.read_back(&todo.username, todo.uid, why, done).await;
                read.map(|_| None)
            }
            other => other,
        };
        match earlier.map_err(account_gone)? {
            Some(earlier) => Ok(Created::Before(same_request(earlier, answer.as_ref())?)),
            None => {
                self.feed.publish(caller, What::Created(todo.clone()));
                self.tell_members(&todo.username, todo.list);
                Ok(Created::New(Box::new(todo)))
            }
        }
    }

    /// Applies `patch` to the caller's todo `uid` (or one in a list shared with them as an
    /// editor); with `expected` (`If-Match`), only at one of those versions.
    pub async fn update(
        &self,
        caller: &Decision,
        uid: Uuid,
        patch: &TodoPatch,
        expected: Option<&[u64]>,
    ) -> ServiceResult<Todo> {
        match self.update_as(caller, uid, patch, expected).await {
            Err(e) if not_theirs(&e) => self.update_shared(caller, uid, patch, expected).await,
            // Not a list of the caller's: perhaps one shared with them, which is someone else's.
            Err(ServiceError::Store(StoreError::NoList)) => match patch.list {
                Some(list) if self.access(caller, list).await.is_ok() => {
                    Err(super::sharing::OTHER_OWNER)
                }
                _ => Err(super::lists::NO_LIST),
            },
            other => other,
        }
    }

    /// [`Todos::update`] of a todo of the account `caller` acts for.
    pub(super) async fn update_as(
        &self,
        caller: &Decision,
        uid: Uuid,
        patch: &TodoPatch,
        expected: Option<&[u64]>,
    ) -> ServiceResult<Todo> {
        let expected = self.expected_version(&caller.owner, uid, expected).await?;
        let grown = self.growth(caller, uid, patch).await?;
        self.limits.grow(caller, 0, grown)?;
        // A move: the members of the list it leaves are told too (read only for moves).
        let left = match patch.list {
            Some(_) if self.feed.heard() => self
                .store
                .get_todo(&caller.owner, uid)
                .await?
                .map(|t| t.list),
            _ => None,
        };
        let now = Timestamp::now();
        let todo = match self
            .store
            .update_todo(&caller.owner, uid, patch, expected, now)
            .await
        {
            // The item shows this very change (its time, its fields): it was done.
            Err(StoreError::Unknown(why)) => {
                let done = |todo: &Todo| todo.shows(patch, now);
                self.read_back(&caller.owner, uid, why, done).await
            }
            other => other,
        }
        .map_err(not_found)?;
        self.feed.publish(caller, What::Updated(todo.clone()));
        self.tell_members(&todo.username, todo.list);
        if let Some(left) = left.filter(|l| *l != todo.list) {
            self.tell_members(&todo.username, left);
        }
        Ok(todo)
    }

    /// Moves the caller's todo `uid` just before or after `anchor` (another of theirs) in their
    /// own order: a new position between the anchor and its neighbour, one write of the moved
    /// todo. When the keys there have grown too long for one more between them (hundreds of
    /// moves into one gap), the todos around the gap get short keys again in the same
    /// all-or-nothing write as the moved one ([`Position::respace`]).
    pub async fn move_todo(
        &self,
        caller: &Decision,
        uid: Uuid,
        anchor: Uuid,
        before: bool,
        expected: Option<&[u64]>,
    ) -> ServiceResult<Todo> {
        if uid == anchor {
            return Err(ServiceError::Invalid(
                "a todo cannot be moved next to itself".into(),
            ));
        }
        match self
            .placed(caller, uid, anchor, before, expected, &None)
            .await
        {
            // In a list shared with the caller, they move as its owner, in the owner's order,
            // and the todo says who moved it (as a change by a member does).
            Err(e) if not_theirs(&e) => {
                let acting = self.moving_shared(caller, uid, anchor).await?;
                let by = Some(caller.owner.clone());
                self.placed(&acting, uid, anchor, before, expected, &by)
                    .await
            }
            done => done,
        }
    }

    /// [`Todos::place`], again when a move the caller did not make conditional found a todo it
    /// read changed meanwhile (another move into the same place): its answer is the order asked.
    async fn placed(
        &self,
        caller: &Decision,
        uid: Uuid,
        anchor: Uuid,
        before: bool,
        expected: Option<&[u64]>,
        by: &Option<Username>,
    ) -> ServiceResult<Todo> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.place(caller, uid, anchor, before, expected, by).await {
                Err(ServiceError::Changed) if expected.is_none() && tries < 3 => continue,
                done => return done,
            }
        }
    }

    /// One try of [`Todos::move_todo`], on what it reads now.
    async fn place(
        &self,
        caller: &Decision,
        uid: Uuid,
        anchor: Uuid,
        before: bool,
        expected: Option<&[u64]>,
        by: &Option<Username>,
    ) -> ServiceResult<Todo> {
        let owner = &caller.owner;
        // The moved todo must be the caller's first: 404 before anything is said of the anchor.
        let moving = self.get(owner, uid).await?;
        if expected.is_some_and(|versions| !versions.contains(&moving.version)) {
            return Err(ServiceError::Changed);
        }
        let anchor = match self.get(owner, anchor).await {
            Err(ServiceError::NotFound(_)) => return Err(NOT_BESIDE),
            other => other?,
        };
        let beside = self.beside(owner, &anchor, before, uid, 1).await?;
        let (low, high) = match before {
            true => (beside.first(), Some(&anchor)),
            false => (Some(&anchor), beside.first()),
        };
        match Position::between(low.map(|t| &t.position), high.map(|t| &t.position)) {
            Some(position) => {
                // Written only over the version read, so that a move racing this one cannot
                // be undone unseen.
                let patch = TodoPatch {
                    by: by.clone(),
                    ..TodoPatch::to_position(position)
                };
                self.update(caller, uid, &patch, Some(&[moving.version]))
                    .await
            }
            None => self.respace(caller, moving, &anchor, before).await,
        }
    }

    /// Moves `moving` next to `anchor` where the keys around the gap are too long for one
    /// more: the todos around it are written with short keys, and the moved one among them, in
    /// one write that counts as one against the caller's rate.
    async fn respace(
        &self,
        caller: &Decision,
        moving: Todo,
        anchor: &Todo,
        before: bool,
    ) -> ServiceResult<Todo> {
        let owner = &caller.owner;
        let reach = Position::MAX_RESPACED;
        let below = self.beside(owner, anchor, true, moving.uid, reach).await?;
        let above = self.beside(owner, anchor, false, moving.uid, reach).await?;
        let (first, last) = (below.len() < reach, above.len() < reach);
        let gap = below.len() + usize::from(!before);
        let run: Vec<&Todo> = below.iter().rev().chain([anchor]).chain(&above).collect();
        let keys: Vec<Position> = run.iter().map(|t| t.position.clone()).collect();
        let respaced = Position::respace(&keys, gap, first, last).ok_or(ServiceError::Refused(
            "the todos around this place are too crowded to move into; move some elsewhere first",
        ))?;
        // What each write is conditional on, and the todo it leaves: the moved one last.
        let now = Timestamp::now();
        let (places, mut written): (Vec<Placement>, Vec<Todo>) = run[respaced.start..]
            .iter()
            .copied()
            .zip(respaced.keys)
            .filter(|(todo, key)| todo.position != *key)
            .chain([(&moving, respaced.moved)])
            .map(|(todo, position)| {
                let place = Placement {
                    uid: todo.uid,
                    version: todo.version,
                    position: position.clone(),
                    list: todo.list,
                };
                (
                    place,
                    todo.clone().patched(&TodoPatch::to_position(position), now),
                )
            })
            .unzip();
        self.limits.write(caller)?;
        self.store
            .reposition_todos(owner, &places, now)
            .await
            .map_err(|e| match e {
                StoreError::Changed => ServiceError::Changed,
                other => other.into(),
            })?;
        for todo in &written {
            self.feed.publish(caller, What::Updated(todo.clone()));
        }
        written
            .pop()
            .ok_or_else(|| ServiceError::Internal("a move wrote nothing".into()))
    }

    /// Up to `count` of `owner`'s todos next to `anchor` on one side, nearest first, leaving
    /// out the todo being moved.
    async fn beside(
        &self,
        owner: &Username,
        anchor: &Todo,
        before: bool,
        moving: Uuid,
        count: usize,
    ) -> ServiceResult<Vec<Todo>> {
        let mut beside = self
            .store
            .todos_beside(owner, anchor, before, count as u32 + 1)
            .await?;
        beside.retain(|t| t.uid != moving);
        beside.truncate(count);
        Ok(beside)
    }

    /// Deletes the caller's todo `uid` (or one in a list shared with them as an editor).
    pub async fn delete(
        &self,
        caller: &Decision,
        uid: Uuid,
        expected: Option<&[u64]>,
    ) -> ServiceResult<()> {
        match self.delete_as(caller, uid, expected).await {
            Err(e) if not_theirs(&e) => self.delete_shared(caller, uid, expected).await,
            other => other,
        }
    }

    /// [`Todos::delete`] of a todo of the account `caller` acts for.
    pub(super) async fn delete_as(
        &self,
        caller: &Decision,
        uid: Uuid,
        expected: Option<&[u64]>,
    ) -> ServiceResult<()> {
        let expected = self.expected_version(&caller.owner, uid, expected).await?;
        self.limits.write(caller)?;
        let deleted = self
            .store
            .delete_todo(&caller.owner, uid, expected)
            .await
            .map_err(not_found)?;
        self.feed.publish(caller, What::Deleted(uid));
        if let Some(todo) = deleted {
            self.tell_members(&todo.username, todo.list);
        }
        Ok(())
    }

    /// Marks every todo of the caller's completed; how many changed.
    pub async fn complete_all(&self, caller: &Decision) -> ServiceResult<u64> {
        self.limits.write(caller)?;
        let changed = self
            .store
            .complete_all(&caller.owner, Timestamp::now())
            .await?;
        self.many_changed(caller, changed);
        Ok(changed)
    }

    /// Deletes the caller's completed todos; how many went.
    pub async fn clear_completed(&self, caller: &Decision) -> ServiceResult<u64> {
        self.limits.write(caller)?;
        let deleted = self
            .store
            .delete_in_state(&caller.owner, TodoState::Completed)
            .await?;
        self.many_changed(caller, deleted);
        Ok(deleted)
    }

    /// After a write whose outcome is unknown (`why`): the todo as it reads now, if it shows
    /// that write `done`. Not finding it so proves nothing (the write may still be on its way),
    /// so then the outcome stays unknown.
    async fn read_back(
        &self,
        owner: &Username,
        uid: Uuid,
        why: String,
        done: impl Fn(&Todo) -> bool,
    ) -> Result<Todo, StoreError> {
        match self.store.get_todo(owner, uid).await {
            Ok(Some(todo)) if done(&todo) => Ok(todo),
            _ => Err(StoreError::Unknown(why)),
        }
    }

    /// Tells the live streams of the members of `owner`'s `list`, if it is shared, that a
    /// todo in it changed (after the answer: the members are read then).
    fn tell_members(&self, owner: &Username, list: ListId) {
        self.tell_list(None, owner, list, Vec::new());
    }

    /// Tells the live streams of everyone who can see `owner`'s `list` — its members as they
    /// are after the answer, and `also` (members it no longer has, read before the change),
    /// and, when the change to the list itself was made `by` someone, the owner's account
    /// (whose other devices show it) — that it changed, so that each page reads again at once.
    /// Only a hint: what is read then goes through the grants as they are.
    pub(super) fn tell_list(
        &self,
        by: Option<&Decision>,
        owner: &Username,
        list: ListId,
        also: Vec<Membership>,
    ) {
        // The owner's own change reaches their streams through their account; a member's
        // (leaving) only after the owner's account is read.
        let owner_unknown = match by {
            Some(caller) if caller.owner == *owner => {
                self.feed.publish(caller, What::Reset);
                false
            }
            Some(_) => true,
            None => false,
        };
        if list == ListId::inbox_of(owner) || !self.feed.heard() {
            return;
        }
        let (store, feed) = (Arc::clone(&self.store), Arc::clone(&self.feed));
        let owner = owner.clone();
        tokio::spawn(async move {
            let told = async {
                if owner_unknown && let Some(profile) = store.get_user(&owner).await? {
                    feed.hint(&owner, profile.created_at);
                }
                for m in store
                    .members_of(&owner, list)
                    .await?
                    .into_iter()
                    .chain(also)
                {
                    feed.hint(&m.member, m.since);
                }
                Ok::<(), StoreError>(())
            };
            if let Err(error) = told.await {
                tracing::warn!(%owner, %list, %error, "members not told of a change");
            }
        });
    }

    /// The members of `owner`'s `list` before a change that may end their access, to be told
    /// of it after (none when no stream listens here).
    pub(super) async fn members_before(
        &self,
        owner: &Username,
        list: ListId,
    ) -> ServiceResult<Vec<Membership>> {
        if list == ListId::inbox_of(owner) || !self.feed.heard() {
            return Ok(Vec::new());
        }
        Ok(self.store.members_of(owner, list).await?)
    }

    pub(super) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(super) fn limits(&self) -> &AccountLimits {
        &self.limits
    }

    pub(super) fn many_changed(&self, caller: &Decision, count: u64) {
        if count > 0 {
            self.feed.publish(caller, What::Reset);
        }
    }

    /// The first answer kept under `now`'s key, if that key answered before: the same request
    /// again, or [`ServiceError::KeyReused`].
    pub async fn recall(&self, now: &Remembered) -> ServiceResult<Option<Remembered>> {
        match self.store.recall(&now.owner, &now.key).await? {
            Some(earlier) => same_request(earlier, Some(now)).map(Some),
            None => Ok(None),
        }
    }

    /// Keeps `answer` under its key, unless a request with the same key was answered first:
    /// then that first answer.
    pub async fn remember(&self, answer: &Remembered) -> ServiceResult<Option<Remembered>> {
        match self.store.remember(answer).await? {
            Some(earlier) => same_request(earlier, Some(answer)).map(Some),
            None => Ok(None),
        }
    }

    /// The one version a conditional write may find: the one expected, or, when several are,
    /// the item's current version if it is among them (the write is still conditional on it,
    /// so a change in between is refused).
    async fn expected_version(
        &self,
        owner: &Username,
        uid: Uuid,
        expected: Option<&[u64]>,
    ) -> ServiceResult<Option<u64>> {
        match expected {
            None => Ok(None),
            Some([one]) => Ok(Some(*one)),
            Some(many) => {
                let current = self.get(owner, uid).await?.version;
                if many.contains(&current) {
                    Ok(Some(current))
                } else {
                    Err(ServiceError::Changed)
                }
            }
        }
    }

    /// How many bytes `patch` adds to what the account holds: what its new fields take, when
    /// that fits anyway; otherwise, exactly, less what they replace (one read, only near the
    /// limit).
    async fn growth(&self, caller: &Decision, uid: Uuid, patch: &TodoPatch) -> ServiceResult<i64> {
        let added = patch.added_bytes();
        if added == 0 || self.limits.has_room(caller, added) {
            return Ok(added as i64);
        }
        let old = self.get(&caller.owner, uid).await?;
        let new = old.clone().patched(patch, Timestamp::now());
        Ok(new.stored_bytes() as i64 - old.stored_bytes() as i64)
    }
}

/// `earlier`, if it answered the request `now` is for (not another under the same key).
fn same_request(earlier: Remembered, now: Option<&Remembered>) -> ServiceResult<Remembered> {
    match now {
        Some(now) if now.fingerprint != earlier.fingerprint => Err(ServiceError::KeyReused),
        _ => Ok(earlier),
    }
}

fn not_found(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => NOT_FOUND,
        StoreError::VersionMismatch { .. } => ServiceError::Changed,
        other => other.into(),
    }
}

/// The owner vanished between authorization and this write.
fn account_gone(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => ServiceError::AccountGone,
        other => other.into(),
    }
}
