//! Lists of todos: part of the Todos service (the same store handle, write rate and change
//! feed), in a file of their own. Every account has an Inbox that cannot be renamed or deleted;
//! it holds every todo not put in another list.

use super::error::{ServiceError, ServiceResult};
use super::todos::Todos;
use crate::auth::Decision;
use crate::domain::{ListCounts, ListId, ListName, Role, Timestamp, TodoList, Username};
use crate::store::StoreError;

/// Lists one account may make besides its Inbox.
pub const MAX_LISTS: usize = 100;

pub(super) const NO_LIST: ServiceError = ServiceError::NotFound("List not found");
const INBOX_STAYS: ServiceError = ServiceError::Conflict("The Inbox cannot be renamed or deleted");

/// A list with how many todos it holds, and what the caller may do with it.
pub struct Counted {
    pub list: TodoList,
    pub counts: ListCounts,
    pub role: Role,
}

impl Todos {
    /// The caller's lists, the Inbox first, then oldest first, each with its counts.
    /// Then the lists shared with them, oldest share first.
    pub async fn lists(&self, caller: &Decision) -> ServiceResult<Vec<Counted>> {
        let mut lists = self.lists_owned(inbox(caller)).await?;
        lists.extend(self.shared_with(caller).await?);
        Ok(lists)
    }

    /// The lists of the account whose Inbox is `inbox`, it first, each with its counts.
    pub async fn lists_owned(&self, inbox: TodoList) -> ServiceResult<Vec<Counted>> {
        let owner = &inbox.owner;
        let (lists, counts) = tokio::try_join!(
            self.store().lists_of(owner),
            self.store().count_by_list(owner)
        )?;
        let counted = |list: TodoList| Counted {
            counts: count_of(&counts, list.id),
            list,
            role: Role::Owner,
        };
        Ok(std::iter::once(inbox.clone())
            .chain(lists)
            .map(counted)
            .collect())
    }

    /// One of the caller's lists.
    pub async fn list(&self, caller: &Decision, id: ListId) -> ServiceResult<TodoList> {
        if id == ListId::inbox_of(&caller.owner) {
            return Ok(inbox(caller));
        }
        self.store()
            .get_list(&caller.owner, id)
            .await?
            .ok_or(NO_LIST)
    }

    /// `list` with how many todos it holds now.
    pub async fn with_counts(&self, list: TodoList) -> ServiceResult<Counted> {
        let counts = self.store().count_by_list(&list.owner).await?;
        Ok(Counted {
            counts: count_of(&counts, list.id),
            list,
            role: Role::Owner,
        })
    }

    /// Whether `owner` has list `id` (`List not found` if not).
    pub async fn owns_list(&self, owner: &Username, id: ListId) -> ServiceResult<()> {
        if id == ListId::inbox_of(owner) {
            return Ok(());
        }
        match self.store().get_list(owner, id).await? {
            Some(_) => Ok(()),
            None => Err(NO_LIST),
        }
    }

    /// Makes a list of the caller's; with an idempotency `key`, under the id the key gives, so
    /// that a retry finds the list an earlier try made (when its name is the one asked for:
    /// else the key was used for another request). Whether it was made before.
    pub async fn create_list(
        &self,
        caller: &Decision,
        name: ListName,
        key: Option<&str>,
    ) -> ServiceResult<(TodoList, bool)> {
        let id = match key {
            Some(key) => {
                let id = ListId::keyed(&caller.owner, caller.account, key);
                if let Some(made) = self.store().get_list(&caller.owner, id).await? {
                    return made_before(made, &name);
                }
                id
            }
            None => ListId::new(),
        };
        self.limits().write(caller)?;
        // Racing creates may each pass the count; the bound is on what one account gathers.
        if self.store().lists_of(&caller.owner).await?.len() >= MAX_LISTS {
            return Err(ServiceError::OverQuota(format!(
                "This account has {MAX_LISTS} lists besides its Inbox, the most it may have: \
                 delete one to make room"
            )));
        }
        let list = TodoList::with_id(id, caller.owner.clone(), name);
        match self.store().create_list(&list).await {
            Err(StoreError::NotFound) => Err(ServiceError::AccountGone),
            // A retry at the same moment made it first.
            Err(StoreError::AlreadyExists) if key.is_some() => {
                match self.store().get_list(&caller.owner, id).await? {
                    Some(made) => made_before(made, &list.name),
                    None => Err(ServiceError::KeyReused),
                }
            }
            other => other.map(|()| (list, false)).map_err(Into::into),
        }
    }

    /// Renames one of the caller's lists; with `expected` (`If-Match`), only at one of those
    /// versions.
    pub async fn rename_list(
        &self,
        caller: &Decision,
        id: ListId,
        name: &ListName,
        expected: Option<&[u64]>,
    ) -> ServiceResult<TodoList> {
        let expected = self.list_version(caller, id, expected).await?;
        self.limits().write(caller)?;
        let renamed = self
            .store()
            .rename_list(&caller.owner, id, name, expected, Timestamp::now())
            .await
            .map_err(list_error)?;
        self.tell_list(Some(caller), &caller.owner, id, Vec::new());
        Ok(renamed)
    }

    /// Deletes one of the caller's lists with every todo in it; how many todos went.
    pub async fn delete_list(
        &self,
        caller: &Decision,
        id: ListId,
        expected: Option<&[u64]>,
    ) -> ServiceResult<u64> {
        let expected = self.list_version(caller, id, expected).await?;
        self.limits().write(caller)?;
        let members = self.members_before(&caller.owner, id).await?;
        let deleted = self
            .store()
            .delete_list(&caller.owner, id, expected)
            .await
            .map_err(list_error)?;
        // Its todos went with it: one reset for the owner's pages, with the members'.
        self.tell_list(Some(caller), &caller.owner, id, members);
        Ok(deleted)
    }

    /// The version a conditional change of list `id` is made on (`If-Match` may name several);
    /// the Inbox is refused before anything else is said.
    async fn list_version(
        &self,
        caller: &Decision,
        id: ListId,
        expected: Option<&[u64]>,
    ) -> ServiceResult<Option<u64>> {
        if id == ListId::inbox_of(&caller.owner) {
            return Err(INBOX_STAYS);
        }
        self.owned(caller, id).await?;
        match expected {
            None => Ok(None),
            Some([one]) => Ok(Some(*one)),
            Some(many) => {
                let current = self.list(caller, id).await?.version;
                match many.contains(&current) {
                    true => Ok(Some(current)),
                    false => Err(ServiceError::Changed),
                }
            }
        }
    }
}

/// The caller's Inbox: as old as the account.
pub(super) fn inbox(caller: &Decision) -> TodoList {
    // `None` only where no profile was read (an outside identity met for the first time).
    let since = caller.account.unwrap_or_else(Timestamp::now);
    TodoList::inbox(caller.owner.clone(), since)
}

/// List `id`'s counts among an owner's (none listed: it holds no todos).
pub(super) fn count_of(counts: &[(ListId, ListCounts)], id: ListId) -> ListCounts {
    counts
        .iter()
        .find(|(list, _)| *list == id)
        .map(|(_, c)| *c)
        .unwrap_or_default()
}

fn list_error(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => NO_LIST,
        StoreError::VersionMismatch { .. } => ServiceError::Changed,
        other => other.into(),
    }
}

/// The list a request with the same idempotency key made, if it asked for the same name.
fn made_before(made: TodoList, name: &ListName) -> ServiceResult<(TodoList, bool)> {
    match made.name == *name {
        true => Ok((made, true)),
        false => Err(ServiceError::KeyReused),
    }
}
