//! Lists shared with other accounts: who may reach a list and its todos, and as what. A list's
//! todos stay its owner's (their quota, partition, change stream); a member reaches them through
//! the grant the owner gave, which is checked on every request, so removing a member, deleting
//! the list or either account ends their access at the next request.

use uuid::Uuid;

use super::error::{ServiceError, ServiceResult};
use super::lists::{Counted, NO_LIST, count_of};
use super::todos::{Created, NOT_BESIDE, NOT_FOUND, Todos};
use crate::auth::Decision;
use crate::domain::{
    ListCounts, ListId, Membership, Role, Timestamp, Todo, TodoList, TodoPatch, Username,
};
use crate::store::{Remembered, StoreError};

/// Members one list may have.
pub const MAX_MEMBERS: usize = 100;
/// Lists one account may have shared with it (what its list of lists, and each look for a
/// shared todo, reads).
pub const MAX_SHARED_WITH: usize = 100;

const OWNER_ONLY: ServiceError =
    ServiceError::Refused("Only the list's owner may rename, delete or share it");
pub(super) const OTHER_OWNER: ServiceError =
    ServiceError::Conflict("A todo moves only between lists of the same owner");
pub(super) const VIEWER: ServiceError =
    ServiceError::Refused("Viewers of a list cannot change its todos");

/// What the caller may do with a list, and whose it is.
pub struct Access {
    pub owner: Username,
    pub role: Role,
}

/// Someone who can reach a list: its owner (first) or a member.
pub struct Member {
    pub username: Username,
    pub role: Role,
    /// When they were given the list (the owner: when it was made).
    pub since: Timestamp,
}

impl Todos {
    /// The caller's access to list `id`: theirs (their Inbox or one they made), or shared
    /// with them; `List not found` otherwise, whether or not it exists.
    pub async fn access(&self, caller: &Decision, id: ListId) -> ServiceResult<Access> {
        let own = Access {
            owner: caller.owner.clone(),
            role: Role::Owner,
        };
        if id == ListId::inbox_of(&caller.owner) {
            return Ok(own);
        }
        if self.store().get_list(&caller.owner, id).await?.is_some() {
            return Ok(own);
        }
        match self.grant(caller, id).await? {
            Some(grant) => Ok(Access {
                owner: grant.owner,
                role: grant.role,
            }),
            None => Err(NO_LIST),
        }
    }

    /// List `id` as shared with the caller's account (not an earlier one of the same name).
    async fn grant(&self, caller: &Decision, id: ListId) -> ServiceResult<Option<Membership>> {
        let Some(account) = caller.account else {
            return Ok(None);
        };
        let grant = self.store().grant(&caller.owner, id).await?;
        Ok(grant.filter(|g| g.since == account))
    }

    /// The lists shared with the caller's account (not an earlier one of the same name) that
    /// still exist, oldest share first.
    pub(super) async fn grants(&self, caller: &Decision) -> ServiceResult<Vec<Membership>> {
        let Some(account) = caller.account else {
            return Ok(Vec::new());
        };
        let mut grants = self.store().grants_of(&caller.owner).await?;
        grants.retain(|grant| grant.since == account);
        Ok(grants)
    }

    /// The lists shared with the caller, each with its counts and the caller's role.
    pub(super) async fn shared_with(&self, caller: &Decision) -> ServiceResult<Vec<Counted>> {
        let mut shared = Vec::new();
        // Each owner's todos are counted once, however many of their lists are shared.
        let mut counted: Vec<(Username, Vec<(ListId, ListCounts)>)> = Vec::new();
        for grant in self.grants(caller).await? {
            let Some(list) = self.store().get_list(&grant.owner, grant.list).await? else {
                continue;
            };
            let at = match counted.iter().position(|(owner, _)| *owner == grant.owner) {
                Some(at) => at,
                None => {
                    let counts = self.store().count_by_list(&grant.owner).await?;
                    counted.push((grant.owner.clone(), counts));
                    counted.len() - 1
                }
            };
            shared.push(Counted {
                counts: count_of(&counted[at].1, list.id),
                list,
                role: grant.role,
            });
        }
        Ok(shared)
    }

    /// A list the caller can reach, with its counts and their role.
    pub async fn counted_list(&self, caller: &Decision, id: ListId) -> ServiceResult<Counted> {
        let access = self.access(caller, id).await?;
        let list = self.reached(caller, id, &access).await?;
        let mut counted = self.with_counts(list).await?;
        counted.role = access.role;
        Ok(counted)
    }

    /// List `id` as `access` reaches it: the caller's own, or its owner's.
    async fn reached(
        &self,
        caller: &Decision,
        id: ListId,
        access: &Access,
    ) -> ServiceResult<TodoList> {
        match access.role {
            Role::Owner => self.list(caller, id).await,
            _ => self
                .store()
                .get_list(&access.owner, id)
                .await?
                .ok_or(NO_LIST),
        }
    }

    /// Checks that the caller owns list `id` (a member is refused; anyone else is told it
    /// does not exist).
    pub(super) async fn owned(&self, caller: &Decision, id: ListId) -> ServiceResult<()> {
        match self.access(caller, id).await?.role {
            Role::Owner => Ok(()),
            _ => Err(OWNER_ONLY),
        }
    }

    /// Shares the caller's list `id` with `member` as `role` (an editor or a viewer); whether
    /// the share is new.
    pub async fn share(
        &self,
        caller: &Decision,
        id: ListId,
        member: &Username,
        role: Role,
    ) -> ServiceResult<bool> {
        if role == Role::Owner {
            return Err(ServiceError::Invalid(
                "role must be editor or viewer".into(),
            ));
        }
        self.owned(caller, id).await?;
        if id == ListId::inbox_of(&caller.owner) {
            return Err(ServiceError::Conflict("The Inbox is not shared"));
        }
        if *member == caller.owner {
            return Err(ServiceError::Conflict("You own this list"));
        }
        self.limits().write(caller)?;
        let profile = self
            .store()
            .get_user(member)
            .await?
            .ok_or(ServiceError::NotFound("User not found"))?;
        let members = self.store().members_of(&caller.owner, id).await?;
        let known = members.iter().any(|m| m.member == *member);
        if !known && members.len() >= MAX_MEMBERS {
            return Err(ServiceError::OverQuota(format!(
                "This list is shared with {MAX_MEMBERS} people, the most it may be"
            )));
        }
        if !known && self.store().grants_of(member).await?.len() >= MAX_SHARED_WITH {
            return Err(ServiceError::OverQuota(format!(
                "{member} has {MAX_SHARED_WITH} lists shared with them, the most one may have; \
                 they can leave one"
            )));
        }
        let membership = Membership {
            owner: caller.owner.clone(),
            list: id,
            member: member.clone(),
            role,
            since: profile.created_at,
            added_at: Timestamp::now(),
        };
        let new = match self.store().put_member(&membership).await {
            Err(StoreError::NoList) => Err(NO_LIST),
            // The account went, or is another one of that name now.
            Err(StoreError::NotFound) => Err(ServiceError::NotFound("User not found")),
            other => other.map_err(Into::into),
        }?;
        self.tell_list(Some(caller), &caller.owner, id, Vec::new());
        Ok(new)
    }

    /// Who can reach list `id`: its owner first, then its members by name.
    pub async fn members(&self, caller: &Decision, id: ListId) -> ServiceResult<Vec<Member>> {
        let access = self.access(caller, id).await?;
        let list = self.reached(caller, id, &access).await?;
        let mut members = vec![Member {
            username: access.owner.clone(),
            role: Role::Owner,
            since: list.created_at,
        }];
        if !list.is_inbox() {
            let shared = self.store().members_of(&access.owner, id).await?;
            members.extend(shared.into_iter().map(|m| Member {
                username: m.member,
                role: m.role,
                since: m.added_at,
            }));
        }
        Ok(members)
    }

    /// Ends `member`'s access to list `id`: the owner removes anyone, a member themselves.
    pub async fn unshare(
        &self,
        caller: &Decision,
        id: ListId,
        member: &Username,
    ) -> ServiceResult<()> {
        let access = self.access(caller, id).await?;
        match access.role {
            Role::Owner if *member == caller.owner => {
                return Err(ServiceError::Conflict(
                    "The owner cannot leave their own list: delete it instead",
                ));
            }
            Role::Owner => {}
            _ if *member == caller.owner => {}
            _ => return Err(OWNER_ONLY),
        }
        self.limits().write(caller)?;
        let leaving = self.members_before(&access.owner, id).await?;
        let leaving = leaving
            .into_iter()
            .filter(|m| m.member == *member)
            .collect();
        match self.store().remove_member(&access.owner, id, member).await {
            Err(StoreError::NotFound) => return Err(ServiceError::NotFound("Member not found")),
            other => other?,
        }
        self.tell_list(Some(caller), &access.owner, id, leaving);
        Ok(())
    }

    /// A todo in a list shared with the caller, with their role there.
    pub async fn shared_todo(&self, caller: &Decision, uid: Uuid) -> ServiceResult<(Todo, Role)> {
        let Some(account) = caller.account else {
            return Err(NOT_FOUND);
        };
        let grants: Vec<Membership> = self
            .store()
            .grants_of(&caller.owner)
            .await?
            .into_iter()
            .filter(|g| g.since == account)
            .collect();
        let mut owners: Vec<&Username> = grants.iter().map(|g| &g.owner).collect();
        owners.sort();
        owners.dedup();
        for owner in owners {
            let Some(todo) = self.store().get_todo(owner, uid).await? else {
                continue;
            };
            let grant = grants
                .iter()
                .find(|g| g.owner == *owner && g.list == todo.list);
            if let Some(grant) = grant {
                return Ok((todo, grant.role));
            }
        }
        Err(NOT_FOUND)
    }

    /// The caller as they act on `owner`'s data through a share: checked against that
    /// account's quota, and its changes sent to that account's streams.
    async fn acting_for(&self, caller: &Decision, owner: &Username) -> ServiceResult<Decision> {
        let profile = self.store().get_user(owner).await?.ok_or(NO_LIST)?;
        Ok(Decision {
            owner: owner.clone(),
            account: Some(profile.created_at),
            usage: profile.usage,
            admin: false,
            ..caller.clone()
        })
    }

    /// A create into a list shared with the caller (placed by [`Todos::put_in_list`]): the todo is
    /// the list owner's, made by the caller, who must still be an editor there.
    pub(super) async fn create_shared(
        &self,
        caller: &Decision,
        todo: Todo,
        answer: Option<Remembered>,
    ) -> ServiceResult<Created> {
        let grant = self.grant(caller, todo.list).await?;
        let grant = grant.filter(|g| g.owner == todo.username).ok_or(NO_LIST)?;
        if !grant.role.writes() {
            return Err(VIEWER);
        }
        self.limits().write(caller)?;
        let acting = self.acting_for(caller, &grant.owner).await?;
        self.create_as(&acting, todo, answer).await
    }

    /// A change to a todo in a list shared with the caller (as an editor), on the version
    /// expected or else the one read (so a todo moved out of the list meanwhile is not
    /// changed).
    pub(super) async fn update_shared(
        &self,
        caller: &Decision,
        uid: Uuid,
        patch: &TodoPatch,
        expected: Option<&[u64]>,
    ) -> ServiceResult<Todo> {
        let (todo, role) = self.shared_todo(caller, uid).await?;
        if !role.writes() {
            return Err(VIEWER);
        }
        if let Some(list) = patch.list {
            let to = self.access(caller, list).await?;
            if to.owner != todo.username {
                return Err(OTHER_OWNER);
            }
            if !to.role.writes() {
                return Err(VIEWER);
            }
        }
        self.limits().write(caller)?;
        let acting = self.acting_for(caller, &todo.username).await?;
        let patch = TodoPatch {
            by: Some(caller.owner.clone()),
            ..patch.clone()
        };
        let read = [todo.version];
        self.update_as(&acting, uid, &patch, Some(expected.unwrap_or(&read)))
            .await
    }

    /// Who moves todo `uid` of a list shared with the caller next to `anchor`: its owner, as
    /// the caller acts for them — if the caller is an editor there and the anchor is a todo
    /// they can see of the same owner (else the owner's other todos could be probed by uid).
    /// The move is counted against the caller's write rate here, the owner's when made.
    pub(super) async fn moving_shared(
        &self,
        caller: &Decision,
        uid: Uuid,
        anchor: Uuid,
    ) -> ServiceResult<Decision> {
        let (todo, role) = self.shared_todo(caller, uid).await?;
        if !role.writes() {
            return Err(VIEWER);
        }
        match self.shared_todo(caller, anchor).await {
            Ok((beside, _)) if beside.username == todo.username => {}
            Ok(_) | Err(ServiceError::NotFound(_)) => return Err(NOT_BESIDE),
            Err(other) => return Err(other),
        }
        self.limits().write(caller)?;
        self.acting_for(caller, &todo.username).await
    }

    /// Deletes a todo in a list shared with the caller (as an editor).
    pub(super) async fn delete_shared(
        &self,
        caller: &Decision,
        uid: Uuid,
        expected: Option<&[u64]>,
    ) -> ServiceResult<()> {
        let (todo, role) = self.shared_todo(caller, uid).await?;
        if !role.writes() {
            return Err(VIEWER);
        }
        self.limits().write(caller)?;
        let acting = self.acting_for(caller, &todo.username).await?;
        let read = [todo.version];
        self.delete_as(&acting, uid, Some(expected.unwrap_or(&read)))
            .await
    }
}
