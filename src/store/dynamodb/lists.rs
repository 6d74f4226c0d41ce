//! Lists on DynamoDB: one item per list in its owner's partition (see `items.rs`); a todo's
//! list is its `list` attribute, checked in the same transaction by every write that puts a
//! todo in a list.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use super::DynamoStore;
use super::attempts::attempt;
use super::error::{Checked, checked};
use super::items::{
    DELETING, Item, LIST_PREFIX, TODO_PREFIX, list_from_item, list_item, list_key, list_of_item, n,
    profile_key, s, user_pk,
};
use super::request::{Transaction, built};
use crate::domain::{ListCounts, ListId, ListName, Timestamp, TodoList, TodoState, Username};
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

    /// A query of `owner`'s todos in list `id`.
    fn todos_in(
        &self,
        owner: &Username,
        id: ListId,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :todo)")
            .filter_expression("#list = :list")
            .expression_attribute_names("#list", "list")
            .expression_attribute_values(":pk", user_pk(owner))
            .expression_attribute_values(":todo", s(TODO_PREFIX))
            .expression_attribute_values(":list", s(id.to_string()))
            .consistent_read(true)
    }
}

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
        let query = || {
            self.query()
                .key_condition_expression("PK = :pk AND begins_with(SK, :list)")
                .expression_attribute_values(":pk", user_pk(owner))
                .expression_attribute_values(":list", s(LIST_PREFIX))
                .consistent_read(true)
        };
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
        let mut condition = LIST_OPEN.to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(list_key(owner, id)))
            .update_expression("SET #name = :name, updated_at = :now, #version = #version + :one")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":name", s(name.as_str()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(expected) = expected_version {
            condition.push_str(" AND #version = :expected");
            request = request.expression_attribute_values(":expected", n(expected));
        }
        let renamed = attempt(request.condition_expression(condition)).await;
        let read = |item: Option<Item>| list_from_item(&item.unwrap_or_default()).ok().flatten();
        match checked(renamed)? {
            Checked::Written(out) => read(out.attributes)
                .ok_or_else(|| StoreError::Internal("a renamed list does not read".into())),
            Checked::Failed { old, lost } => match read(old) {
                // A try whose answer was lost made this very change.
                Some(list) if lost && list.updated_at == now && list.name == *name => Ok(list),
                Some(_) if lost => Err(StoreError::Unknown(
                    "a try's answer was lost, then the list was found changed".into(),
                )),
                Some(list) => Err(StoreError::VersionMismatch {
                    current: list.version,
                }),
                None => Err(StoreError::NotFound),
            },
        }
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
        match checked(attempt(mark.condition_expression(condition)).await)? {
            Checked::Written(_) => {}
            // Gone, and a lost try of this deletion cannot have removed it: only the sweep does.
            Checked::Failed { old: None, .. } => return Err(StoreError::NotFound),
            Checked::Failed { old: Some(old), .. } => {
                let current = old
                    .get("version")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                return Err(StoreError::VersionMismatch { current });
            }
        }
        let keys = self.keys_where(|| self.todos_in(owner, id)).await?;
        let mut actions = Vec::new();
        let mut sizes = Vec::new();
        for (key, _, bytes) in keys {
            sizes.push(bytes);
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .condition_expression("#list = :list")
                .expression_attribute_names("#list", "list")
                .expression_attribute_values(":list", s(id.to_string()));
            actions.push(
                TransactWriteItem::builder()
                    .delete(built(delete.build())?)
                    .build(),
            );
        }
        let deleted = self.write_many(actions).await?;
        let bytes: u64 = deleted.iter().map(|&i| sizes[i]).sum();
        self.add_usage(owner, -(deleted.len() as i64), -(bytes as i64))
            .await;
        self.delete_keys(vec![list_key(owner, id)]).await?;
        Ok(deleted.len() as u64)
    }

    async fn count_by_list(&self, owner: &Username) -> StoreResult<Vec<(ListId, ListCounts)>> {
        let query = || {
            self.query()
                .key_condition_expression("PK = :pk AND begins_with(SK, :todo)")
                .projection_expression("#list, #state")
                .expression_attribute_names("#list", "list")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":pk", user_pk(owner))
                .expression_attribute_values(":todo", s(TODO_PREFIX))
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
}
