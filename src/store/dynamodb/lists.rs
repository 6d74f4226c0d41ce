//! Lists on DynamoDB: one item per list in its owner's partition (see `items.rs`); a todo's
//! list is its `list` attribute, checked in the same transaction by every write that puts a
//! todo in a list.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use super::DynamoStore;
use super::attempts::attempt;
use super::error::{Checked, checked};
use super::items::{
    DELETING, GRANT_PREFIX, LIST_PREFIX, MEMBER_PREFIX, SK, TODO_PREFIX, grant_key, list_from_item,
    list_item, list_key, list_of_item, member_key, membership_from_item, membership_items, n,
    profile_key, s, starting_with, user_pk,
};
use super::request::{Transaction, built, key_of};
use super::todos::version_of;
use crate::domain::{
    ListCounts, ListId, ListName, Membership, Timestamp, TodoList, TodoState, Username,
};
use crate::store::{ListStore, StoreError, StoreResult};

/// The condition of a list a todo may be put in: there, and not being deleted.
const LIST_OPEN: &str = "attribute_exists(PK) AND attribute_not_exists(deleting)";

impl DynamoStore {
    /// The transaction action that holds only while `owner`'s list `id` takes todos; `None`
    /// for the Inbox, which always does.
    pub(super) fn list_check(
        &self,
        owner: &Username,
        id: ListId,
    ) -> StoreResult<Option<TransactWriteItem>> {
        if id == ListId::inbox_of(owner) {
            return Ok(None);
        }
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(list_key(owner, id)))
            .condition_expression(LIST_OPEN);
        Ok(Some(
            TransactWriteItem::builder()
                .condition_check(built(check.build())?)
                .build(),
        ))
    }

    /// Whether `owner`'s list `id` takes todos now (the Inbox always does).
    pub(super) async fn list_open(&self, owner: &Username, id: ListId) -> StoreResult<bool> {
        Ok(id == ListId::inbox_of(owner) || self.get_list(owner, id).await?.is_some())
    }

    /// Deletes the other halves of `owner`'s memberships (grants of the lists they shared, and
    /// the owners' records of lists shared with them): for an account being deleted, whose own
    /// partition goes next.
    pub(super) async fn forget_shares(&self, owner: &Username) -> StoreResult<()> {
        let query = |prefix: &'static str| {
            move || starting_with(self.query(), SK, user_pk(owner), prefix).consistent_read(true)
        };
        let (shared, granted) = tokio::try_join!(
            self.query_all(query(MEMBER_PREFIX)),
            self.query_all(query(GRANT_PREFIX))
        )?;
        let mut keys = Vec::new();
        let mut told = Vec::new();
        for item in shared.iter().chain(&granted) {
            let m = membership_from_item(item)?;
            if m.owner == *owner {
                // Its member's log hears that the list is no longer shared with them.
                told.push(self.grant_entry(&m.member, m.list)?);
            }
            let [ours, theirs] = membership_items(&m).map(|item| key_of(&item));
            // The half in the other account's partition.
            keys.push(if m.owner == *owner { theirs } else { ours });
        }
        self.write_entries(told).await?;
        self.delete_keys(keys).await
    }

    /// A query of `owner`'s todos in list `id`.
    fn todos_in(
        &self,
        owner: &Username,
        id: ListId,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        starting_with(self.query(), SK, user_pk(owner), TODO_PREFIX)
            .filter_expression("#list = :list")
            .expression_attribute_names("#list", "list")
            .expression_attribute_values(":list", s(id.to_string()))
            .consistent_read(true)
    }
}

/// Rounds of a rename before it gives up to writers that keep changing the list.
const RENAME_ROUNDS: usize = 5;

#[async_trait]
impl ListStore for DynamoStore {
    async fn create_list(&self, list: &TodoList) -> StoreResult<()> {
        // The owner's profile is checked in the same step; a list made as the account goes is
        // swept with the rest of its partition (see `delete_user`).
        let owner = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(profile_key(&list.owner)))
            .condition_expression("attribute_exists(PK)");
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(list_item(list)))
            .condition_expression("attribute_not_exists(PK)");
        let written = self
            .transact(vec![
                TransactWriteItem::builder()
                    .condition_check(built(owner.build())?)
                    .build(),
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
                self.list_entry(&list.owner, list.id)?,
            ])
            .await?;
        match written {
            Transaction::Written => Ok(()),
            // The list is there already (a copy run again), or the owner is gone.
            Transaction::ConditionFailed => match self.get(list_key(&list.owner, list.id)).await? {
                Some(_) => Err(StoreError::AlreadyExists),
                None => Err(StoreError::NotFound),
            },
        }
    }

    async fn lists_of(&self, owner: &Username) -> StoreResult<Vec<TodoList>> {
        let query =
            || starting_with(self.query(), SK, user_pk(owner), LIST_PREFIX).consistent_read(true);
        let mut lists = Vec::new();
        for item in self.query_all(query).await? {
            lists.extend(list_from_item(&item)?);
        }
        lists.sort_by_key(|l| (l.created_at, l.id));
        Ok(lists)
    }

    async fn get_list(&self, owner: &Username, id: ListId) -> StoreResult<Option<TodoList>> {
        match self.get(list_key(owner, id)).await? {
            Some(item) => list_from_item(&item),
            None => Ok(None),
        }
    }

    async fn rename_list(
        &self,
        owner: &Username,
        id: ListId,
        name: &ListName,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<TodoList> {
        // The item written again on the version read, with its change-log entry.
        for _ in 0..RENAME_ROUNDS {
            let old = self
                .get_list(owner, id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if expected_version.is_some_and(|e| e != old.version) {
                return Err(StoreError::VersionMismatch {
                    current: old.version,
                });
            }
            let new = TodoList {
                name: name.clone(),
                updated_at: now,
                version: old.version + 1,
                ..old.clone()
            };
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(list_item(&new)))
                .condition_expression(format!("{LIST_OPEN} AND #version = :read"))
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", n(old.version));
            let actions = vec![
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
                self.list_entry(owner, id)?,
            ];
            if self.transact(actions).await? == Transaction::Written {
                return Ok(new);
            }
        }
        Err(StoreError::Changed)
    }

    async fn delete_list(
        &self,
        owner: &Username,
        id: ListId,
        expected_version: Option<u64>,
    ) -> StoreResult<u64> {
        // First the mark, so no todo joins the list from now on (a list already marked is a
        // deletion cut short: it is finished).
        let mut condition = "attribute_exists(PK)".to_owned();
        let mut mark = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(list_key(owner, id)))
            .update_expression("SET #deleting = :yes")
            .expression_attribute_names("#deleting", DELETING)
            .expression_attribute_values(
                ":yes",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(expected) = expected_version {
            condition.push_str(" AND (#version = :expected OR attribute_exists(#deleting))");
            mark = mark
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(expected));
        }
        // Each member's log hears first that the list goes (an entry for a deletion that then
        // fails only makes them read the list again), then the owner's, with the mark.
        let members = self.members_of(owner, id).await?;
        let told: Vec<TransactWriteItem> = members
            .iter()
            .map(|m| self.grant_entry(&m.member, id))
            .collect::<StoreResult<_>>()?;
        self.write_entries(told).await?;
        match checked(attempt(mark.condition_expression(condition)).await)? {
            Checked::Written(_) => {}
            // Gone, and a lost try of this deletion cannot have removed it: only the sweep does.
            // Gone (a lost try of this mark cannot have removed it), or at another version.
            Checked::Failed { old, .. } => return Err(version_of(old.as_ref())),
        }
        self.write_entries(vec![self.list_entry(owner, id)?])
            .await?;
        let found = self.keys_where(|| self.todos_in(owner, id)).await?;
        let deleted = self
            .delete_found(owner, found, "list", &id.to_string())
            .await?;
        // Then who it was shared with (both halves of each), and last the list itself.
        let mut keys = Vec::new();
        for m in members {
            keys.extend(membership_items(&m).map(|item| key_of(&item)));
        }
        keys.push(list_key(owner, id));
        self.delete_keys(keys).await?;
        Ok(deleted)
    }

    async fn count_by_list(&self, owner: &Username) -> StoreResult<Vec<(ListId, ListCounts)>> {
        let query = || {
            starting_with(self.query(), SK, user_pk(owner), TODO_PREFIX)
                .projection_expression("#list, #state")
                .expression_attribute_names("#list", "list")
                .expression_attribute_names("#state", "state")
                .consistent_read(true)
        };
        let mut counts: Vec<(ListId, ListCounts)> = Vec::new();
        for item in self.query_all(query).await? {
            let list = list_of_item(&item, owner)?;
            let completed = item.get("state").and_then(|v| v.as_s().ok())
                == Some(&TodoState::Completed.as_str().to_owned());
            let at = match counts.iter().position(|(l, _)| *l == list) {
                Some(at) => at,
                None => {
                    counts.push((list, ListCounts::default()));
                    counts.len() - 1
                }
            };
            match completed {
                true => counts[at].1.completed += 1,
                false => counts[at].1.open += 1,
            }
        }
        Ok(counts)
    }

    async fn put_member(&self, membership: &Membership) -> StoreResult<bool> {
        let m = membership;
        let before = self.get(member_key(&m.owner, m.list, &m.member)).await?;
        // A change of role keeps when the list was first shared.
        let mut m = m.clone();
        if let Some(before) = &before {
            m.added_at = membership_from_item(before)?.added_at;
        }
        let list = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(list_key(&m.owner, m.list)))
            .condition_expression(LIST_OPEN);
        let member = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(profile_key(&m.member)))
            .condition_expression("attribute_exists(PK) AND created_at = :since")
            .expression_attribute_values(":since", s(m.since.to_string()));
        let mut actions = vec![
            TransactWriteItem::builder()
                .condition_check(built(list.build())?)
                .build(),
            TransactWriteItem::builder()
                .condition_check(built(member.build())?)
                .build(),
        ];
        for item in membership_items(&m) {
            let put = Put::builder().table_name(&self.table).set_item(Some(item));
            actions.push(
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
            );
        }
        actions.push(self.grant_entry(&m.member, m.list)?);
        match self.transact(actions).await? {
            Transaction::Written => Ok(before.is_none()),
            Transaction::ConditionFailed if !self.list_open(&m.owner, m.list).await? => {
                Err(StoreError::NoList)
            }
            Transaction::ConditionFailed => Err(StoreError::NotFound),
        }
    }

    async fn members_of(&self, owner: &Username, list: ListId) -> StoreResult<Vec<Membership>> {
        let query = || {
            let members = format!("{MEMBER_PREFIX}{list}#");
            starting_with(self.query(), SK, user_pk(owner), members).consistent_read(true)
        };
        let items = self.query_all(query).await?;
        items.iter().map(membership_from_item).collect()
    }

    async fn remove_member(
        &self,
        owner: &Username,
        list: ListId,
        member: &Username,
    ) -> StoreResult<()> {
        let ours = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(member_key(owner, list, member)))
            .condition_expression("attribute_exists(PK)");
        let theirs = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(grant_key(member, list)));
        let actions = vec![
            TransactWriteItem::builder()
                .delete(built(ours.build())?)
                .build(),
            TransactWriteItem::builder()
                .delete(built(theirs.build())?)
                .build(),
            self.grant_entry(member, list)?,
        ];
        match self.transact(actions).await? {
            Transaction::Written => Ok(()),
            Transaction::ConditionFailed => Err(StoreError::NotFound),
        }
    }

    async fn grants_of(&self, member: &Username) -> StoreResult<Vec<Membership>> {
        let query =
            || starting_with(self.query(), SK, user_pk(member), GRANT_PREFIX).consistent_read(true);
        let grants = self
            .query_all(query)
            .await?
            .iter()
            .map(membership_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        // Only those whose list is still there (a half left by a deletion cut short is not).
        let open = futures_util::future::try_join_all(
            grants.iter().map(|g| self.list_open(&g.owner, g.list)),
        )
        .await?;
        let mut grants: Vec<Membership> = grants
            .into_iter()
            .zip(open)
            .filter_map(|(grant, open)| open.then_some(grant))
            .collect();
        grants.sort_by_key(|g| (g.added_at, g.list));
        Ok(grants)
    }

    async fn grant(&self, member: &Username, list: ListId) -> StoreResult<Option<Membership>> {
        let Some(item) = self.get(grant_key(member, list)).await? else {
            return Ok(None);
        };
        let grant = membership_from_item(&item)?;
        match self.list_open(&grant.owner, grant.list).await? {
            true => Ok(Some(grant)),
            false => Ok(None),
        }
    }
}
