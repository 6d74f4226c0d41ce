//! The DynamoDB store: one table in the layout of [`items`], one request per API call on the hot
//! paths, conditional writes instead of read-modify-write.

pub mod chalice;
mod error;
mod items;
mod table;
mod timing;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, DeleteRequest, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update, WriteRequest,
};
use uuid::Uuid;

use self::error::{from_sdk, unless_condition_failed};
use self::items::{
    EXPIRES, GSI1, GSI1PK, GSI1SK, Item, KEPT_SESSION, LOGIN_GENERATION, LSI1, LSI1SK, PK, PROFILE,
    SESSION_PREFIX, SK, TODO_BYTES, TODO_COUNT, TODO_PREFIX, USERS_PARTITION, failures_key, n,
    position_of, profile_key, remembered_from_item, remembered_item, remembered_key,
    revoked_attribute, s, session_from_item, session_item, session_key, state_partition,
    state_sort_key, todo_from_item, todo_item, todo_key, user_from_item, user_item, user_pk,
};
use super::{Failures, Page, PageRequest, Remembered, Store, StoreError, StoreResult};
use crate::domain::{Session, SessionKind, Timestamp, Todo, TodoPatch, TodoState, User, Username};

pub use self::items::SHARDS;

/// The names of the table's keys and indexes, for whatever else defines the table.
pub mod layout {
    pub use super::items::{EXPIRES, GSI1, GSI1PK, GSI1SK, KEY_ATTRIBUTES, LSI1, LSI1SK, PK, SK};
}
pub use self::table::{create_table, delete_table};
pub use crate::aws::Outcome;

/// Most items one BatchWriteItem takes.
const BATCH_LIMIT: usize = 25;
/// Most actions one TransactWriteItems takes.
const TRANSACTION_LIMIT: usize = 100;
/// Attributes set or removed by one UpdateItem: an update expression may be at most 4 KB, and
/// each takes about 15 bytes of it.
const ATTRIBUTES_PER_UPDATE: usize = 100;

pub struct DynamoStore {
    client: Client,
    table: String,
}

pub use crate::aws::{retries, timeouts};

/// A client configured from the standard AWS environment (region, credentials,
/// `AWS_ENDPOINT_URL`).
pub async fn client_from_env() -> Client {
    Client::new(crate::aws::config().await)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let timed = client
            .config()
            .to_builder()
            .interceptor(timing::Timing)
            .build();
        let client = Client::from_conf(timed);
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs `query` from `start` until it has `limit + 1` items or the partition ends: a page may
    /// need several requests when items are large (DynamoDB stops each response at 1 MB).
    async fn query_page(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
        mut start: Option<Item>,
        limit: u32,
    ) -> StoreResult<Vec<Item>> {
        let wanted = limit as usize + 1;
        let mut items = Vec::with_capacity(wanted);
        loop {
            let remaining = i32::try_from(wanted - items.len()).unwrap_or(i32::MAX);
            let page = query()
                .set_exclusive_start_key(start)
                .limit(remaining)
                .send()
                .await
                .map_err(from_sdk)?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if items.len() >= wanted || start.is_none() {
                items.truncate(wanted);
                return Ok(items);
            }
        }
    }

    /// Writes an item whose key must be new: `AlreadyExists` when it is taken.
    async fn put_new(&self, item: Item) -> StoreResult<()> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        unless_condition_failed(put, StoreError::AlreadyExists).map(drop)
    }

    /// The keys of every item in `owner`'s partition but the profile: todos and sessions.
    async fn owned_keys(&self, owner: &Username) -> StoreResult<Vec<Item>> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", user_pk(owner))
                .projection_expression("PK, SK")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(from_sdk)?;
            // A filter cannot name a key attribute: the profile is left out here.
            let is_profile = |k: &Item| {
                k.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) == Some(PROFILE)
            };
            keys.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|k| !is_profile(k)),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Deletes what is left under `owner`'s name while, and only while, there is no profile of
    /// that name: each delete goes in a transaction with that check. A user created meanwhile
    /// under the name stops the sweep before it can touch anything of theirs. Returns how many
    /// todos went.
    async fn sweep_orphans(&self, owner: &Username) -> StoreResult<u64> {
        let keys = self.owned_keys(owner).await?;
        let todos = keys
            .iter()
            .filter(|k| {
                k.get(SK)
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk.starts_with(TODO_PREFIX))
            })
            .count() as u64;
        for chunk in keys.chunks(TRANSACTION_LIMIT - 1) {
            let absent = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(profile_key(owner)))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            let mut actions = vec![TransactWriteItem::builder().condition_check(absent).build()];
            for key in chunk {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                actions.push(TransactWriteItem::builder().delete(delete).build());
            }
            self.transact(actions).await?;
        }
        Ok(todos)
    }

    /// The keys (and uids) of `owner`'s todos in `state`, from LSI1.
    async fn keys_in_state(
        &self,
        owner: &Username,
        state: TodoState,
    ) -> StoreResult<Vec<(Item, Uuid, u64)>> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(LSI1)
                .key_condition_expression("PK = :pk AND begins_with(LSI1SK, :state)")
                .expression_attribute_values(":pk", user_pk(owner))
                .expression_attribute_values(":state", s(format!("{state}#")))
                .projection_expression("PK, SK, LSI1SK, uid, description, metadata")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(from_sdk)?;
            for item in page.items.unwrap_or_default() {
                let uid = item
                    .get("uid")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|u| Uuid::parse_str(u).ok())
                    .ok_or_else(|| StoreError::Internal("a todo without a uid".into()))?;
                let key = [PK, SK]
                    .iter()
                    .filter_map(|k| Some(((*k).to_owned(), item.get(*k)?.clone())))
                    .collect();
                let bytes = ["description", "metadata"]
                    .iter()
                    .filter_map(|k| item.get(*k)?.as_s().ok())
                    .map(|text| text.len() as u64)
                    .sum();
                found.push((key, uid, bytes));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Runs conditional writes a hundred to a transaction (one request each); a transaction
    /// that some item's condition fails is done again item by item, where the failing ones are
    /// simply skipped. Returns which were written (their indexes).
    async fn write_many(&self, actions: Vec<TransactWriteItem>) -> StoreResult<Vec<usize>> {
        let mut written = Vec::new();
        for (c, chunk) in actions.chunks(TRANSACTION_LIMIT).enumerate() {
            let first = c * TRANSACTION_LIMIT;
            match self.transact(chunk.to_vec()).await {
                Ok(()) => written.extend(first..first + chunk.len()),
                Err(StoreError::AlreadyExists) => {
                    for (i, action) in chunk.iter().enumerate() {
                        match self.transact(vec![action.clone()]).await {
                            Ok(()) => written.push(first + i),
                            Err(StoreError::AlreadyExists) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Runs one transaction, again while it only conflicted with another one in flight.
    /// `AlreadyExists` when a condition failed.
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> StoreResult<()> {
        let mut backoff = Duration::from_millis(20);
        for attempt in 0.. {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .send()
                .await;
            let Err(e) = sent else { return Ok(()) };
            let reasons: Vec<String> = e
                .as_service_error()
                .and_then(|s| match s {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        Some(c.cancellation_reasons())
                    }
                    _ => None,
                })
                .map(|reasons| {
                    reasons
                        .iter()
                        .filter_map(|r| r.code().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                return Err(StoreError::AlreadyExists);
            }
            if !reasons.iter().any(|r| r == "TransactionConflict") || attempt == 8 {
                return Err(from_sdk(e));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
        Ok(())
    }

    /// Writes a new item of `owner`'s and checks, after the write, that the owner's account
    /// exists and is not younger than the item (made before it, under the same name): an item
    /// that lost a race with the deletion of its owner is taken back and `NotFound` returned.
    /// Cheaper than a transaction on the hot path, and no conflicts among one user's writes.
    async fn put_owned(&self, owner: &Username, made: &Timestamp, item: Item) -> StoreResult<()> {
        let key = key_of(&item);
        self.put_new(item).await?;
        self.keep_if_owned(owner, made, vec![key]).await
    }

    /// After writing items of `owner`'s made at `made`: fine while the owner's account exists and
    /// is not younger than them; otherwise the items are taken back and `NotFound` returned.
    async fn keep_if_owned(
        &self,
        owner: &Username,
        made: &Timestamp,
        keys: Vec<Item>,
    ) -> StoreResult<()> {
        match self.get_user(owner).await? {
            Some(user) if user.created_at <= *made => Ok(()),
            _ => {
                self.delete_keys(keys).await?;
                Err(StoreError::NotFound)
            }
        }
    }

    /// Counts new todos of `owner`'s made at `made` (`keys`, `bytes` of them) on the profile,
    /// in the one request that also checks, after their write, that the owner's account exists
    /// and is not younger than them (see `keep_if_owned`); if not, they are taken back and
    /// `NotFound` returned.
    async fn count_if_owned(
        &self,
        owner: &Username,
        made: &Timestamp,
        keys: Vec<Item>,
        bytes: u64,
    ) -> StoreResult<()> {
        let counted = self
            .usage_update(owner, 1, bytes as i64)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let profile = match unless_condition_failed(counted, StoreError::NotFound) {
            Ok(output) => match user_from_item(&output.attributes.unwrap_or_default()) {
                Ok(profile) => profile,
                Err(error) => {
                    tracing::error!(user = %owner, %error, "a new item is stored; its owner's profile does not read");
                    return Ok(());
                }
            },
            Err(StoreError::NotFound) => {
                self.delete_keys(keys).await?;
                return Err(StoreError::NotFound);
            }
            // The item is written: a failure now must not answer "nothing happened" (a retry
            // would make it twice). The authorizer read the owner's profile for this very
            // request, so the owner was there a moment ago; the count is off by this item.
            Err(error) => {
                tracing::error!(user = %owner, %error, "a new item is stored but not counted on its owner's profile");
                return Ok(());
            }
        };
        if profile.created_at <= *made {
            return Ok(());
        }
        // A newer account of the same name: nothing of this is theirs.
        self.add_usage(owner, -1, -(bytes as i64)).await;
        self.delete_keys(keys).await?;
        Err(StoreError::NotFound)
    }

    /// The update that adds `todos` and `bytes` (fewer, when negative) to what `owner`'s
    /// profile says the account holds. A profile deleted meanwhile is not made again by it.
    fn usage_update(&self, owner: &Username, todos: i64, bytes: i64) -> UpdateItemFluentBuilder {
        let number = |v: i64| aws_sdk_dynamodb::types::AttributeValue::N(v.to_string());
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(owner)))
            .update_expression(format!("ADD {TODO_COUNT} :count, {TODO_BYTES} :bytes"))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":count", number(todos))
            .expression_attribute_values(":bytes", number(bytes))
    }

    /// Adds to what `owner`'s profile says the account holds, after a write that is done: a
    /// failure is logged, not answered (the write stands; the count is off by it).
    async fn add_usage(&self, owner: &Username, todos: i64, bytes: i64) {
        if todos == 0 && bytes == 0 {
            return;
        }
        let added = self.usage_update(owner, todos, bytes).send().await;
        match unless_condition_failed(added, StoreError::NotFound) {
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(error) => {
                tracing::warn!(user = %owner, %error, todos, bytes, "could not count a change of the account's todos")
            }
        }
    }

    /// The unexpired record under an owner and idempotency key, read strongly.
    async fn read_remembered(
        &self,
        owner: &Username,
        key: &str,
    ) -> StoreResult<Option<Remembered>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(remembered_key(owner, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        let now = Timestamp::now().unix_seconds();
        Ok(found
            .item
            .as_ref()
            .map(remembered_from_item)
            .transpose()?
            .filter(|r| r.expires >= now))
    }

    /// Records `ended` sessions on `owner`'s profile and drops the records of `expired` ones,
    /// in one update.
    async fn update_revocations(
        &self,
        owner: &Username,
        ended: &[(Uuid, u64)],
        expired: &[Uuid],
    ) -> StoreResult<()> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(owner)))
            .condition_expression("attribute_exists(PK)");
        // Attribute names by placeholder: an `rv_…` name is safe, but placeholders are safe
        // from every reserved word whatever the id.
        let mut sets = Vec::new();
        for (i, (id, until)) in ended.iter().enumerate() {
            sets.push(format!("#e{i} = :e{i}"));
            request = request
                .expression_attribute_names(format!("#e{i}"), revoked_attribute(*id))
                .expression_attribute_values(format!(":e{i}"), n(*until));
        }
        let mut removes = Vec::new();
        for (i, id) in expired.iter().enumerate() {
            removes.push(format!("#x{i}"));
            request = request.expression_attribute_names(format!("#x{i}"), revoked_attribute(*id));
        }
        let mut expression = String::new();
        if !sets.is_empty() {
            expression.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        if expression.is_empty() {
            return Ok(());
        }
        let updated = request.update_expression(expression).send().await;
        unless_condition_failed(updated, StoreError::NotFound).map(drop)
    }

    /// Deletes items by key in batches, retrying what DynamoDB leaves unprocessed.
    async fn delete_keys(&self, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(BATCH_LIMIT) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map_err(|e| StoreError::Internal(e.to_string()))?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<StoreResult<_>>()?;
            let mut backoff = Duration::from_millis(50);
            for attempt in 0.. {
                let written = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(from_sdk)?;
                requests = written
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == 8 {
                    return Err(StoreError::Unavailable(format!(
                        "{} deletes still unprocessed after retries",
                        requests.len()
                    )));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        Ok(())
    }
}

fn to_todos(items: Vec<Item>, limit: u32) -> StoreResult<Page<Todo>> {
    let todos = items
        .iter()
        .map(todo_from_item)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(todos, limit, position_of))
}

/// The primary key of an item.
fn key_of(item: &Item) -> Item {
    [PK, SK]
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), item.get(*k)?.clone())))
        .collect()
}

/// An idempotency record may be written where none is, or where the one there has expired.
const KEY_FREE: &str = "attribute_not_exists(PK) OR #expires < :now";

/// The item DynamoDB returned with a failed condition: `None` when there was no item at all.
fn version_of(old: Option<&Item>) -> StoreError {
    match old
        .and_then(|item| item.get("version"))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
    {
        Some(current) => StoreError::VersionMismatch { current },
        None => StoreError::NotFound,
    }
}

/// `attribute_exists(PK)`, plus the version check when the caller asked for one.
fn existing_at(expected: Option<u64>) -> &'static str {
    if expected.is_some() {
        "attribute_exists(PK) AND #version = :expected"
    } else {
        "attribute_exists(PK)"
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key(PK, s("HEALTH"))
            .key(SK, s("PING"))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        if self.get_user(&user.username).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        // Items can outlive their owner when a deletion was cut short; a new user of the same
        // name must not inherit them. The sweep stops at once if another create of this name
        // wins meanwhile, so it never touches the winner's items.
        self.sweep_orphans(&user.username).await?;
        self.put_new(user_item(user)).await
    }

    async fn get_user(&self, username: &Username) -> StoreResult<Option<User>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(username)))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        found.item.as_ref().map(user_from_item).transpose()
    }

    async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
        let start = page.after.as_ref().map(|after| {
            let name = Username::parse(after).map_err(|e| StoreError::Internal(e.0))?;
            let mut key = profile_key(&name);
            key.insert(GSI1PK.into(), s(USERS_PARTITION));
            key.insert(GSI1SK.into(), s(name.as_str()));
            Ok::<_, StoreError>(key)
        });
        let query = || {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :users")
                .expression_attribute_values(":users", s(USERS_PARTITION))
        };
        let items = self
            .query_page(query, start.transpose()?, page.limit)
            .await?;
        let users = items
            .iter()
            .map(user_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(users, page.limit, |u| {
            u.username.to_string()
        }))
    }

    async fn set_password_hash(&self, username: &Username, hash: &str) -> StoreResult<()> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(username)))
            .update_expression("SET password_hash = :hash")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":hash", s(hash))
            .send()
            .await;
        unless_condition_failed(updated, StoreError::NotFound).map(drop)
    }

    async fn set_admin(&self, username: &Username, admin: bool) -> StoreResult<()> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(username)))
            .update_expression("SET #admin = :admin")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#admin", "admin")
            .expression_attribute_values(
                ":admin",
                aws_sdk_dynamodb::types::AttributeValue::Bool(admin),
            )
            .send()
            .await;
        unless_condition_failed(updated, StoreError::NotFound).map(drop)
    }

    async fn delete_user(&self, username: &Username) -> StoreResult<u64> {
        // The profile goes first, so the authorizer refuses the user's tokens from now on, and
        // writes racing the deletion take themselves back (see `put_owned`).
        let removed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(username)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(from_sdk)?;
        let count = match self.sweep_orphans(username).await {
            Ok(count) => count,
            // Someone made a new account of this name meanwhile: what is left is theirs.
            Err(StoreError::AlreadyExists) => 0,
            Err(e) => return Err(e),
        };
        if removed.attributes.is_none() && count == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(count)
        }
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.put_owned(&session.owner, &session.created_at, session_item(session))
            .await
    }

    async fn get_session(&self, owner: &Username, id: Uuid) -> StoreResult<Option<Session>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(session_key(owner, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        found.item.as_ref().map(session_from_item).transpose()
    }

    async fn find_session(&self, id: Uuid) -> StoreResult<Option<Session>> {
        let found = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :id")
            .expression_attribute_values(":id", s(format!("{SESSION_PREFIX}{id}")))
            .send()
            .await
            .map_err(from_sdk)?;
        let Some(item) = found.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        // The index lags the table a little: the table has the last word.
        let owner = session_from_item(&item)?.owner;
        self.get_session(&owner, id).await
    }

    async fn list_sessions(&self, owner: &Username) -> StoreResult<Vec<Session>> {
        let query = || {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :session)")
                .expression_attribute_values(":pk", user_pk(owner))
                .expression_attribute_values(":session", s(SESSION_PREFIX))
                .consistent_read(true)
        };
        // A user has a handful of sessions: a page of a thousand is all of them.
        let items = self.query_page(query, None, 1000).await?;
        let mut sessions = items
            .iter()
            .map(session_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        sessions.sort_by_key(|s| (s.created_at, s.id));
        Ok(sessions)
    }

    async fn rotate_session(
        &self,
        owner: &Username,
        id: Uuid,
        from: &str,
        to: &str,
    ) -> StoreResult<()> {
        let rotated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(owner, id)))
            .update_expression("SET refresh_hash = :to, previous_hash = :from")
            .condition_expression("refresh_hash = :from")
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match rotated {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Err(if failed.item().is_some() {
                        StoreError::Changed
                    } else {
                        StoreError::NotFound
                    })
                }
                _ => Err(from_sdk(e)),
            },
        }
    }

    async fn end_sessions(&self, owner: &Username, ended: &[(Uuid, u64)]) -> StoreResult<()> {
        let profile = self.get_user(owner).await?.ok_or(StoreError::NotFound)?;
        let now = Timestamp::now().unix_seconds();
        // A session whose tokens have all expired needs no record, only removal.
        let record: Vec<(Uuid, u64)> = ended
            .iter()
            .copied()
            .filter(|(_, until)| *until >= now)
            .collect();
        let ending: Vec<Uuid> = ended.iter().map(|(id, _)| *id).collect();
        let expired: Vec<Uuid> = profile
            .revoked
            .entries()
            .iter()
            .filter(|(id, until)| *until < now && !ending.contains(id))
            .map(|(id, _)| *id)
            .collect();
        // One update per chunk: an expression has a size limit that a few hundred sessions
        // pass. Every record is written before any session goes, so a failure part-way leaves
        // sessions that still work, never a session gone whose tokens still work.
        for chunk in record.chunks(ATTRIBUTES_PER_UPDATE) {
            self.update_revocations(owner, chunk, &[]).await?;
        }
        for chunk in expired.chunks(ATTRIBUTES_PER_UPDATE) {
            self.update_revocations(owner, &[], chunk).await?;
        }
        let keys = ended
            .iter()
            .map(|(id, _)| session_key(owner, *id))
            .collect();
        self.delete_keys(keys).await
    }

    async fn new_login_generation(
        &self,
        owner: &Username,
        password_hash: Option<&str>,
        keep: Option<Uuid>,
    ) -> StoreResult<()> {
        // One write of the profile ends every other login session (the authorizer and refresh
        // compare generations), whatever their number: nothing can fail half-way.
        let mut sets = vec![format!(
            "{LOGIN_GENERATION} = if_not_exists({LOGIN_GENERATION}, :zero) + :one"
        )];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(owner)))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        if let Some(hash) = password_hash {
            sets.push("password_hash = :hash".into());
            request = request.expression_attribute_values(":hash", s(hash));
        }
        let expression = match keep {
            Some(id) => {
                request = request.expression_attribute_values(":kept", s(id.to_string()));
                format!("SET {}, {KEPT_SESSION} = :kept", sets.join(", "))
            }
            None => format!("SET {} REMOVE {KEPT_SESSION}", sets.join(", ")),
        };
        let updated = request.update_expression(expression).send().await;
        unless_condition_failed(updated, StoreError::NotFound)?;
        // The ended sessions' items are only clutter now (and expire by TTL): removing them
        // is tidying, which must not turn a done change into a failure.
        let tidied = match self.list_sessions(owner).await {
            Ok(sessions) => {
                let keys = sessions
                    .iter()
                    .filter(|s| s.kind == SessionKind::Login && Some(s.id) != keep)
                    .map(|s| session_key(owner, s.id))
                    .collect();
                self.delete_keys(keys).await
            }
            Err(e) => Err(e),
        };
        if let Err(error) = tidied {
            tracing::warn!(user = %owner, %error, "could not remove ended sessions (they no longer work)");
        }
        Ok(())
    }

    async fn get_failures(&self, key: &str) -> StoreResult<Option<Failures>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(failures_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        let Some(item) = found.item else {
            return Ok(None);
        };
        let number = |name: &str| -> u64 {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(Some(Failures {
            count: u32::try_from(number("count")).unwrap_or(u32::MAX),
            last: number("last"),
            locked_until: number("locked_until"),
        }))
    }

    async fn put_failures(
        &self,
        key: &str,
        expected: Option<&Failures>,
        new: &Failures,
        forget_at: u64,
    ) -> StoreResult<()> {
        let mut item = failures_key(key);
        item.insert("count".into(), n(u64::from(new.count)));
        item.insert("last".into(), n(new.last));
        item.insert("locked_until".into(), n(new.locked_until));
        item.insert(EXPIRES.into(), n(forget_at));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(old) => put
                .condition_expression("#c = :c AND #l = :l AND #u = :u")
                .expression_attribute_names("#c", "count")
                .expression_attribute_names("#l", "last")
                .expression_attribute_names("#u", "locked_until")
                .expression_attribute_values(":c", n(u64::from(old.count)))
                .expression_attribute_values(":l", n(old.last))
                .expression_attribute_values(":u", n(old.locked_until)),
        };
        unless_condition_failed(put.send().await, StoreError::Changed).map(drop)
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(failures_key(key)))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    async fn recall(&self, owner: &Username, key: &str) -> StoreResult<Option<Remembered>> {
        self.read_remembered(owner, key).await
    }

    async fn remember(&self, answer: &Remembered) -> StoreResult<Option<Remembered>> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(remembered_item(answer)))
            .condition_expression(KEY_FREE)
            .expression_attribute_names("#expires", EXPIRES)
            .expression_attribute_values(":now", n(Timestamp::now().unix_seconds()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().map(remembered_from_item).transpose()
                }
                _ => Err(from_sdk(e)),
            },
        }
    }

    async fn create_todo_remembered(
        &self,
        todo: &Todo,
        answer: &Remembered,
    ) -> StoreResult<Option<Remembered>> {
        // One request: the record's condition is the idempotency check.
        let record = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(remembered_item(answer)))
            .condition_expression(KEY_FREE)
            .expression_attribute_names("#expires", EXPIRES)
            .expression_attribute_values(":now", n(Timestamp::now().unix_seconds()))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let item = todo_item(todo);
        let todo_key = key_of(&item);
        let created = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let written = self
            .transact(vec![
                TransactWriteItem::builder().put(record).build(),
                TransactWriteItem::builder().put(created).build(),
            ])
            .await;
        match written {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                return match self.read_remembered(&answer.owner, &answer.key).await? {
                    Some(earlier) => Ok(Some(earlier)),
                    None => Err(StoreError::Unavailable(
                        "the idempotency key changed hands; try again".into(),
                    )),
                };
            }
            Err(e) => return Err(e),
        }
        let record_key = remembered_key(&answer.owner, &answer.key);
        self.count_if_owned(
            &todo.username,
            &todo.created_at,
            vec![todo_key, record_key],
            todo.stored_bytes(),
        )
        .await
        .map(|()| None)
    }

    async fn create_todo(&self, todo: &Todo) -> StoreResult<()> {
        let item = todo_item(todo);
        let key = key_of(&item);
        self.put_new(item).await?;
        self.count_if_owned(
            &todo.username,
            &todo.created_at,
            vec![key],
            todo.stored_bytes(),
        )
        .await
    }

    async fn get_todo(&self, owner: &Username, uid: Uuid) -> StoreResult<Option<Todo>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(todo_key(owner, &uid.to_string())))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        found.item.as_ref().map(todo_from_item).transpose()
    }

    async fn list_todos(
        &self,
        owner: &Username,
        state: Option<TodoState>,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        // The cursor position is a uid; the partition always comes from the caller, so a
        // position can never lead into someone else's todos.
        let mut start = page.after.as_ref().map(|after| todo_key(owner, after));
        let items = match state {
            None => {
                let query = || {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("PK = :pk AND begins_with(SK, :todo)")
                        .expression_attribute_values(":pk", user_pk(owner))
                        .expression_attribute_values(":todo", s(TODO_PREFIX))
                        .consistent_read(true)
                };
                self.query_page(query, start, page.limit).await?
            }
            Some(state) => {
                if let (Some(key), Some(after)) = (start.as_mut(), page.after.as_ref()) {
                    key.insert(LSI1SK.into(), state_sort_key(state, after));
                }
                let query = || {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(LSI1)
                        .key_condition_expression("PK = :pk AND begins_with(LSI1SK, :state)")
                        .expression_attribute_values(":pk", user_pk(owner))
                        .expression_attribute_values(":state", s(format!("{state}#")))
                        .consistent_read(true)
                };
                self.query_page(query, start, page.limit).await?
            }
        };
        to_todos(items, page.limit)
    }

    async fn complete_all(&self, owner: &Username, now: Timestamp) -> StoreResult<u64> {
        let completed = TodoState::Completed;
        let mut actions = Vec::new();
        for from in [TodoState::Unstarted, TodoState::Started] {
            for (key, uid, _) in self.keys_in_state(owner, from).await? {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(
                        "SET #state = :to, GSI1PK = :gsi1pk, LSI1SK = :lsi1sk, \
                         updated_at = :now, #version = #version + :one",
                    )
                    .condition_expression("#state = :from")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":from", s(from.as_str()))
                    .expression_attribute_values(":to", s(completed.as_str()))
                    .expression_attribute_values(":gsi1pk", state_partition(completed, uid))
                    .expression_attribute_values(
                        ":lsi1sk",
                        state_sort_key(completed, &uid.to_string()),
                    )
                    .expression_attribute_values(":now", s(now.to_string()))
                    .expression_attribute_values(":one", n(1))
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                actions.push(TransactWriteItem::builder().update(update).build());
            }
        }
        self.write_many(actions)
            .await
            .map(|written| written.len() as u64)
    }

    async fn delete_in_state(&self, owner: &Username, state: TodoState) -> StoreResult<u64> {
        let mut actions = Vec::new();
        let mut sizes = Vec::new();
        for (key, _, bytes) in self.keys_in_state(owner, state).await? {
            sizes.push(bytes);
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .condition_expression("#state = :state")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", s(state.as_str()))
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        let deleted = self.write_many(actions).await?;
        let bytes: u64 = deleted.iter().map(|&i| sizes[i]).sum();
        self.add_usage(owner, -(deleted.len() as i64), -(bytes as i64))
            .await;
        Ok(deleted.len() as u64)
    }

    async fn list_todos_in_states(
        &self,
        states: &[TodoState],
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        // Every shard of every state is one ordered range of GSI1: read the next page of each
        // at once and merge. The position is a GSI1SK, `<created_at>#<uid>`.
        let after = page.after.as_deref();
        let reads = states
            .iter()
            .flat_map(|state| (0..items::SHARDS).map(move |shard| (*state, shard)));
        let pages = futures_util::future::try_join_all(reads.map(|(state, shard)| async move {
            let query = || {
                let query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI1)
                    .expression_attribute_values(":p", s(format!("STATE#{state}#{shard}")));
                match after {
                    Some(after) => query
                        .key_condition_expression("GSI1PK = :p AND GSI1SK > :after")
                        .expression_attribute_values(":after", s(after)),
                    None => query.key_condition_expression("GSI1PK = :p"),
                }
            };
            self.query_page(query, None, page.limit).await
        }))
        .await?;
        let mut todos = pages
            .iter()
            .flatten()
            .map(todo_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        todos.sort_by_key(|t| (t.created_at, t.uid));
        todos.truncate(page.limit as usize + 1);
        Ok(Page::from_overfetch(todos, page.limit, |t| {
            format!("{}#{}", t.created_at, t.uid)
        }))
    }

    async fn update_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        patch: &TodoPatch,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<Todo> {
        let uid_text = uid.to_string();
        let mut sets = vec!["updated_at = :now", "#version = #version + :one"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(todo_key(owner, &uid_text)))
            .condition_expression(existing_at(expected_version))
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(expected) = expected_version {
            request = request.expression_attribute_values(":expected", n(expected));
        }
        if let Some(description) = &patch.description {
            sets.push("#description = :description");
            request = request
                .expression_attribute_names("#description", "description")
                .expression_attribute_values(":description", s(description.as_str()));
        }
        if let Some(state) = patch.state {
            // The state lives in the index keys too: change them in the same write.
            sets.extend(["#state = :state", "GSI1PK = :gsi1pk", "LSI1SK = :lsi1sk"]);
            request = request
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", s(state.as_str()))
                .expression_attribute_values(":gsi1pk", state_partition(state, uid))
                .expression_attribute_values(":lsi1sk", state_sort_key(state, &uid_text));
        }
        if let Some(metadata) = &patch.metadata {
            sets.push("#metadata = :metadata");
            request = request
                .expression_attribute_names("#metadata", "metadata")
                .expression_attribute_values(":metadata", s(metadata.as_json()));
        }
        // A change of size is counted on the profile: then the old item is what comes back, and
        // the new one is made from it as the write made it.
        let resized = patch.description.is_some() || patch.metadata.is_some();
        if resized {
            request = request.return_values(ReturnValue::AllOld);
        }
        match request.update_expression(format!("SET {}", sets.join(", "))).send().await {
            Ok(updated) if resized => {
                let old = todo_from_item(&updated.attributes.unwrap_or_default())?;
                let new = old.clone().patched(patch, now);
                let grown = new.stored_bytes() as i64 - old.stored_bytes() as i64;
                self.add_usage(owner, 0, grown).await;
                Ok(new)
            }
            Ok(updated) => todo_from_item(&updated.attributes.unwrap_or_default()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Err(version_of(failed.item()))
                }
                _ => Err(from_sdk(e)),
            },
        }
    }

    async fn delete_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        expected_version: Option<u64>,
    ) -> StoreResult<()> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(todo_key(owner, &uid.to_string())))
            .condition_expression(existing_at(expected_version))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(expected) = expected_version {
            request = request
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(expected));
        }
        match request.send().await {
            Ok(deleted) => {
                let bytes = deleted
                    .attributes
                    .as_ref()
                    .and_then(|item| todo_from_item(item).ok())
                    .map_or(0, |todo| todo.stored_bytes());
                self.add_usage(owner, -1, -(bytes as i64)).await;
                Ok(())
            }
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(failed)) => {
                    Err(version_of(failed.item()))
                }
                _ => Err(from_sdk(e)),
            },
        }
    }
}
