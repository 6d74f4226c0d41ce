//! Sync: every list a caller can see and every todo in them, then what changed since, read
//! from the store's change log (so it holds across instances, processes and the CLI). The
//! caller's own log and, for each list shared with them, its owner's log filtered to that list.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use uuid::Uuid;

use super::error::ServiceResult;
use super::lists::inbox;
use super::todos::Todos;
use crate::auth::Decision;
use crate::domain::{ListId, Membership, Role, Todo, TodoList, TodoQuery, Username};
use crate::store::{ChangeClock, Changes, PageRequest, Stamp};

/// A list the caller can see, and as what.
pub struct Seen {
    pub list: TodoList,
    pub role: Role,
}

/// What a sync answers: lists and todos in full, and the ids of those gone from sight
/// (deleted, moved out of a shared list, or a share ended).
#[derive(Default)]
pub struct Synced {
    pub lists: Vec<Seen>,
    /// By uid: one answer may meet a todo more than once.
    pub todos: BTreeMap<Uuid, Todo>,
    pub deleted_lists: Vec<ListId>,
    pub deleted_todos: BTreeSet<Uuid>,
    /// Where the change log stood before anything was read: the next sync starts there.
    pub point: u64,
}

impl Synced {
    fn list(&mut self, list: TodoList, role: Role) {
        self.deleted_lists.retain(|id| *id != list.id);
        self.lists.retain(|seen| seen.list.id != list.id);
        self.lists.push(Seen { list, role });
    }

    fn gone_list(&mut self, id: ListId) {
        if !self.lists.iter().any(|seen| seen.list.id == id) && !self.deleted_lists.contains(&id) {
            self.deleted_lists.push(id);
        }
    }

    fn todo(&mut self, todo: Todo) {
        self.deleted_todos.remove(&todo.uid);
        self.todos.insert(todo.uid, todo);
    }

    fn gone_todo(&mut self, uid: Uuid) {
        if !self.todos.contains_key(&uid) {
            self.deleted_todos.insert(uid);
        }
    }
}

/// Todos read at once when a sync reads a whole list.
const PAGE: u32 = 1000;
/// Callers whose last sync found nothing, kept at most (all forgotten past it).
const QUIET_KEPT: usize = 10_000;

/// Syncs that found nothing, by caller. While no write that could concern them has happened
/// since — to their todos, to the todos of each owner whose list they share, or to anything but
/// todos (lists, memberships, accounts), as the store's change clock tells without reading —
/// the next sync from the same point finds nothing too, and is answered without a read.
#[derive(Default)]
pub struct QuietSyncs(Mutex<HashMap<Username, Quiet>>);

struct Quiet {
    since: u64,
    unowned: Stamp,
    /// The caller's own stamp first, then each sharing owner's.
    owners: Vec<(Username, Stamp)>,
}

impl QuietSyncs {
    fn still(&self, owner: &Username, since: u64, clock: &ChangeClock) -> bool {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.get(owner).is_some_and(|quiet| {
            quiet.since == since
                && clock.unowned_stamp() == Some(quiet.unowned)
                && quiet
                    .owners
                    .iter()
                    .all(|(owner, stamp)| clock.stamp(owner) == Some(*stamp))
        })
    }

    fn keep(&self, owner: &Username, quiet: Option<Quiet>) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match quiet {
            Some(quiet) => {
                if kept.len() >= QUIET_KEPT {
                    kept.clear();
                }
                kept.insert(owner.clone(), quiet);
            }
            None => {
                kept.remove(owner);
            }
        }
    }
}

/// The stamps a quiet answer holds for, taken before the reads it comes from: `None` when the
/// store has no clock or a write was under way.
fn stamps(
    clock: Option<&ChangeClock>,
    since: u64,
    owners: impl IntoIterator<Item = Username>,
) -> Option<Quiet> {
    let clock = clock?;
    let owners = owners
        .into_iter()
        .map(|owner| clock.stamp(&owner).map(|stamp| (owner, stamp)))
        .collect::<Option<Vec<_>>>()?;
    Some(Quiet {
        since,
        unowned: clock.unowned_stamp()?,
        owners,
    })
}

impl Todos {
    /// Everything the caller can see now.
    pub async fn sync_all(&self, caller: &Decision) -> ServiceResult<Synced> {
        let mut synced = Synced {
            point: self.store().sync_point().await?,
            ..Synced::default()
        };
        synced.list(inbox(caller), Role::Owner);
        for list in self.store().lists_of(&caller.owner).await? {
            synced.list(list, Role::Owner);
        }
        for todo in self.every_todo(&caller.owner, None).await? {
            synced.todo(todo);
        }
        for grant in self.grants(caller).await? {
            self.whole_list(&mut synced, &grant).await?;
        }
        Ok(synced)
    }

    /// What changed for the caller after `since` (a point a sync answered). When nothing did,
    /// the answer's point is `since` again (the log moves on with others' writes; theirs).
    pub async fn sync_since(&self, caller: &Decision, since: u64) -> ServiceResult<Synced> {
        let clock = self.changes();
        if clock.is_some_and(|clock| self.quiet.still(&caller.owner, since, clock)) {
            return Ok(Synced {
                point: since,
                ..Synced::default()
            });
        }
        // Taken before anything is read: a write after them makes the answer not kept.
        let mine = stamps(clock, since, [caller.owner.clone()]);
        let mut synced = Synced {
            point: self.store().sync_point().await?,
            ..Synced::default()
        };
        let mut grants = self.grants(caller).await?;
        // By owner: each owner's log is read once, for all their lists shared.
        grants.sort_by(|a, b| a.owner.cmp(&b.owner));
        let sharing = stamps(clock, since, grants.iter().map(|grant| grant.owner.clone()));
        let own = self
            .store()
            .changes_since(&caller.owner, None, since)
            .await?;
        for id in own.lists {
            match self.store().get_list(&caller.owner, id).await? {
                Some(list) => synced.list(list, Role::Owner),
                None => synced.gone_list(id),
            }
        }
        own.todos.into_iter().for_each(|todo| synced.todo(todo));
        own.gone.into_iter().for_each(|uid| synced.gone_todo(uid));
        // A list shared (again, or with another role) is sent whole; one no longer shared
        // is gone, and its todos with it.
        for id in own.grants {
            match grants.iter().find(|grant| grant.list == id) {
                Some(grant) => self.whole_list(&mut synced, grant).await?,
                None => synced.gone_list(id),
            }
        }
        let mut owners: Vec<&Username> = grants.iter().map(|grant| &grant.owner).collect();
        owners.dedup();
        for owner in owners {
            let lists: Vec<ListId> = grants
                .iter()
                .filter(|grant| grant.owner == *owner)
                .map(|grant| grant.list)
                .collect();
            let changes = self
                .store()
                .changes_since(owner, Some(&lists), since)
                .await?;
            self.shared_changes(&mut synced, &grants, owner, changes)
                .await?;
        }
        let quiet = synced.lists.is_empty()
            && synced.todos.is_empty()
            && synced.deleted_lists.is_empty()
            && synced.deleted_todos.is_empty();
        let kept = match (quiet, mine, sharing) {
            (true, Some(mut mine), Some(sharing)) if mine.unowned == sharing.unowned => {
                synced.point = since;
                // The unowned stamp of the first reading holds for both.
                mine.owners.extend(sharing.owners);
                Some(mine)
            }
            _ => None,
        };
        self.quiet.keep(&caller.owner, kept);
        Ok(synced)
    }

    /// Changes to `owner`'s lists shared with the caller: what is still in one of them is
    /// sent, what left them (moved or deleted) is gone.
    async fn shared_changes(
        &self,
        synced: &mut Synced,
        grants: &[Membership],
        owner: &Username,
        changes: Changes,
    ) -> ServiceResult<()> {
        let role_in = |list: ListId| {
            grants
                .iter()
                .find(|grant| grant.owner == *owner && grant.list == list)
                .map(|grant| grant.role)
        };
        for id in changes.lists {
            match (self.store().get_list(owner, id).await?, role_in(id)) {
                (Some(list), Some(role)) => synced.list(list, role),
                _ => synced.gone_list(id),
            }
        }
        for todo in changes.todos {
            match role_in(todo.list) {
                Some(_) => synced.todo(todo),
                None => synced.gone_todo(todo.uid),
            }
        }
        changes
            .gone
            .into_iter()
            .for_each(|uid| synced.gone_todo(uid));
        Ok(())
    }

    /// A list shared with the caller, and every todo in it.
    async fn whole_list(&self, synced: &mut Synced, grant: &Membership) -> ServiceResult<()> {
        let Some(list) = self.store().get_list(&grant.owner, grant.list).await? else {
            synced.gone_list(grant.list);
            return Ok(());
        };
        synced.list(list, grant.role);
        for todo in self.every_todo(&grant.owner, Some(grant.list)).await? {
            synced.todo(todo);
        }
        Ok(())
    }

    /// Every todo of `owner`'s, or of one of their lists.
    async fn every_todo(&self, owner: &Username, list: Option<ListId>) -> ServiceResult<Vec<Todo>> {
        let query = TodoQuery {
            list,
            ..TodoQuery::default()
        };
        let mut page = PageRequest::first(PAGE);
        let mut todos = Vec::new();
        loop {
            let read = self.store().list_todos(owner, &query, &page).await?;
            todos.extend(read.items);
            match read.next {
                Some(next) => page.after = Some(next),
                None => return Ok(todos),
            }
        }
    }
}
