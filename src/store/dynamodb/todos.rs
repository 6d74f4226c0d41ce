//! Todos on DynamoDB, each counted on its owner's profile (`todo_count`, `todo_bytes`).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use uuid::Uuid;

use super::DynamoStore;
use super::attempts::{attempt, attempt_once_done};
use super::error::{Checked, checked, unless_condition_failed};
use super::guard::KEY_FREE;
use super::items::{
    EXPIRES, GSI1, Item, LSI1, LSI1SK, SK, TODO_BYTES, TODO_COUNT, TODO_PREFIX, due_attributes, n,
    priority_attribute, remembered_item, remembered_key, s, starting_with, state_partition,
    state_sort_key, todo_from_item, todo_item, todo_key, user_from_item, user_pk,
};
use super::request::{TRANSACTION_LIMIT, Transaction, built, by, key_of, write_deadline};
use super::sync::TodoChange;

use crate::domain::{
    DueFilter, ListId, OPEN_END, Timestamp, Todo, TodoPatch, TodoQuery, TodoState, Username,
};
use crate::store::{Page, PageRequest, Placement, Remembered, StoreError, StoreResult, TodoStore};

/// A todo found for a write of many: its key, where it is, and its size.
pub(super) struct Found {
    pub key: Item,
    pub change: TodoChange,
    pub bytes: u64,
}

impl DynamoStore {
    /// A list in another order than creation, or filtered by due date: every todo of the
    /// owner's is read (one strongly consistent Query of their partition, in pages of 1 MB,
    /// bounded by the account's quota of todos), then filtered and sorted here by the query's
    /// own rules. See the single-table comment (`items.rs`) for the indexes that would bound it
    /// by the page instead, and what they cost.
    async fn list_planned(
        &self,
        owner: &Username,
        query: &TodoQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        let mut todos: Vec<(String, Todo)> = self
            .partition(owner, query.state)
            .await?
            .into_iter()
            .filter(|t| query.admits(t))
            .map(|t| (query.key(&t), t))
            .collect();
        todos.sort_by(|(a, x), (b, y)| (a, x.uid).cmp(&(b, y.uid)));
        let start = match page.after.as_deref() {
            None => 0,
            Some(after) => {
                let (key, uid) = query
                    .split_position(after)
                    .and_then(|(k, u)| Some((k, Uuid::parse_str(u).ok()?)))
                    .ok_or_else(|| StoreError::Internal(format!("bad position {after:?}")))?;
                todos.partition_point(|(k, t)| (k.as_str(), t.uid) <= (key, uid))
            }
        };
        let todos: Vec<Todo> = todos
            .into_iter()
            .skip(start)
            .take(page.limit as usize + 1)
            .map(|(_, t)| t)
            .collect();
        Ok(Page::from_overfetch(todos, page.limit, |t| {
            query.position_of(t)
        }))
    }

    /// Every todo of `owner`'s (in `state`, if given): one strongly consistent Query of their
    /// partition (or of the state index), in pages of 1 MB.
    pub(super) async fn partition(
        &self,
        owner: &Username,
        state: Option<TodoState>,
    ) -> StoreResult<Vec<Todo>> {
        let read = || {
            let read = match state {
                Some(state) => self.in_state(owner, state),
                None => starting_with(self.query(), SK, user_pk(owner), TODO_PREFIX),
            };
            read.consistent_read(true)
        };
        self.query_all(read)
            .await?
            .iter()
            .map(todo_from_item)
            .collect()
    }

    /// A query of `owner`'s todos in `state`, by the state index.
    fn in_state(&self, owner: &Username, state: TodoState) -> QueryFluentBuilder {
        let query = self.query().index_name(LSI1);
        starting_with(query, LSI1SK, user_pk(owner), format!("{state}#"))
    }

    /// The keys, uids and sizes of the todos `query` finds.
    pub(super) async fn keys_where(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
    ) -> StoreResult<Vec<Found>> {
        let query = || {
            query()
                .projection_expression(
                    "PK, SK, LSI1SK, uid, description, metadata, title, notes, #in_list",
                )
                .expression_attribute_names("#in_list", "list")
                .consistent_read(true)
        };
        let items = self.query_all(query).await?;
        items
            .iter()
            .map(|item| {
                let uid = item
                    .get("uid")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|u| Uuid::parse_str(u).ok())
                    .ok_or_else(|| StoreError::Internal("a todo without a uid".into()))?;
                let bytes = ["description", "metadata", "title", "notes"]
                    .iter()
                    .filter_map(|k| item.get(*k)?.as_s().ok())
                    .map(|text| text.len() as u64)
                    .sum();
                let list = match item.get("list").and_then(|v| v.as_s().ok()) {
                    Some(raw) => Some(ListId::parse(raw).map_err(|e| StoreError::Internal(e.0))?),
                    None => None,
                };
                Ok(Found {
                    key: key_of(item),
                    change: TodoChange {
                        uid,
                        list,
                        left: None,
                    },
                    bytes,
                })
            })
            .collect()
    }

    /// Deletes the todos `found` of `owner`'s that still have `attribute` = `value`, and
    /// counts them off the profile; how many went.
    pub(super) async fn delete_found(
        &self,
        owner: &Username,
        found: Vec<Found>,
        attribute: &str,
        value: &str,
    ) -> StoreResult<u64> {
        let mut actions = Vec::new();
        let mut sizes = Vec::new();
        let mut changes = Vec::new();
        for Found { key, change, bytes } in found {
            sizes.push(bytes);
            changes.push(change);
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .condition_expression("#attribute = :value")
                .expression_attribute_names("#attribute", attribute)
                .expression_attribute_values(":value", s(value));
            let delete = built(delete.build())?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        let deleted = self.write_many(actions, owner, &changes).await?;
        let bytes: u64 = deleted.iter().map(|&i| sizes[i]).sum();
        self.add_usage(owner, -(deleted.len() as i64), -(bytes as i64))
            .await;
        Ok(deleted.len() as u64)
    }

    /// The keys, uids and sizes of `owner`'s todos in `state`, from LSI1.
    async fn keys_in_state(&self, owner: &Username, state: TodoState) -> StoreResult<Vec<Found>> {
        self.keys_where(|| self.in_state(owner, state)).await
    }

    /// Counts new todos of `owner`'s made at `made` (`keys`, `bytes` of them) on the profile,
    /// in the one request that also checks, after their write, that the owner's account exists
    /// and is not younger than them (see `put_owned`); if not, they are taken back and
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
            .return_values(ReturnValue::AllNew);
        let counted = attempt_once_done(counted).await;
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
        self.profile_update(owner)
            .update_expression(format!("ADD {TODO_COUNT} :count, {TODO_BYTES} :bytes"))
            .expression_attribute_values(":count", number(todos))
            .expression_attribute_values(":bytes", number(bytes))
    }

    /// Adds to what `owner`'s profile says the account holds, after a write that is done: a
    /// failure is logged, not answered (the write stands; the count is off by it).
    pub(super) async fn add_usage(&self, owner: &Username, todos: i64, bytes: i64) {
        if todos == 0 && bytes == 0 {
            return;
        }
        let added = attempt_once_done(self.usage_update(owner, todos, bytes)).await;
        match unless_condition_failed(added, StoreError::NotFound) {
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(error) => {
                tracing::warn!(user = %owner, %error, todos, bytes, "could not count a change of the account's todos")
            }
        }
    }
}

impl DynamoStore {
    /// The todo as it is, when it is at `expected_version` (if one is given).
    async fn read_at(
        &self,
        owner: &Username,
        uid: Uuid,
        expected_version: Option<u64>,
    ) -> StoreResult<Todo> {
        let todo = self
            .get_todo(owner, uid)
            .await?
            .ok_or(StoreError::NotFound)?;
        match expected_version {
            Some(expected) if expected != todo.version => Err(StoreError::VersionMismatch {
                current: todo.version,
            }),
            _ => Ok(todo),
        }
    }

    /// An update that moves the todo to another list: the whole item written again on the
    /// version read, in one transaction with its change-log entry and the new list's check
    /// (so a move cannot race the list's deletion and leave a todo in a list that is gone).
    async fn move_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        patch: &TodoPatch,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<Todo> {
        // Each round is a read and a conditional write; another writer in between costs one.
        for _ in 0..REWRITE_ROUNDS {
            let old = self.read_at(owner, uid, expected_version).await?;
            let new = old.clone().patched(patch, now);
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(todo_item(&new)))
                .condition_expression("#version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", n(old.version));
            let mut actions = vec![
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
                self.todos_entry(owner, &[TodoChange::of(&new, Some(old.list))])?,
            ];
            let moved_to = patch.list.filter(|list| *list != old.list);
            if let Some(list) = moved_to {
                actions.extend(self.list_check(owner, list)?);
            }
            match self.transact(actions).await? {
                Transaction::Written => {
                    self.add_usage(owner, 0, grown(&old, &new)).await;
                    return Ok(new);
                }
                Transaction::ConditionFailed => match moved_to {
                    Some(list) if !self.list_open(owner, list).await? => {
                        return Err(StoreError::NoList);
                    }
                    _ => another_writer_first().await,
                },
            }
        }
        Err(StoreError::Changed)
    }

    /// An update within the todo's list: its entry put first (naming the list read), then one
    /// UpdateItem on condition that the todo is still in that list, so racing writers are
    /// ordered by DynamoDB rather than retried. A move in between costs a round.
    async fn update_in_list(
        &self,
        owner: &Username,
        uid: Uuid,
        patch: &TodoPatch,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<Todo> {
        for _ in 0..REWRITE_ROUNDS {
            let old = self.read_at(owner, uid, expected_version).await?;
            let deadline = write_deadline();
            self.put_todos_entry(owner, &[TodoChange::of(&old, None)], deadline)
                .await?;
            let update = self.update_request(owner, uid, patch, expected_version, old.list, now);
            let updated = by(deadline, async { checked(attempt(update).await) }).await?;
            let found = match updated {
                Checked::Written(written) => {
                    let old = todo_from_item(&written.attributes.unwrap_or_default())?;
                    let new = old.clone().patched(patch, now);
                    self.add_usage(owner, 0, grown(&old, &new)).await;
                    return Ok(new);
                }
                Checked::Failed { old: None, .. } => return Err(StoreError::NotFound),
                Checked::Failed {
                    old: Some(item),
                    lost,
                } => {
                    let found = todo_from_item(&item)?;
                    match lost {
                        // A try whose answer was lost made this very change.
                        true if found.shows(patch, now) => return Ok(found),
                        // Or it did, and another write came after: it must not be made again.
                        true => return Err(lost_then_changed()),
                        false => found,
                    }
                }
            };
            // Moved to another list since it was read: told again with that list.
            refused_or_moved(&found, expected_version).await?;
        }
        Err(StoreError::Changed)
    }

    /// The UpdateItem of `patch` on the todo, on condition that it is in `list` (and at
    /// `expected_version`, if given); it answers with the todo as it was.
    fn update_request(
        &self,
        owner: &Username,
        uid: Uuid,
        patch: &TodoPatch,
        expected_version: Option<u64>,
        list: ListId,
        now: Timestamp,
    ) -> UpdateItemFluentBuilder {
        let uid_text = uid.to_string();
        let (in_list, mut request) = in_list(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(todo_key(owner, &uid_text)))
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                ),
            owner,
            list,
        );
        let condition = format!("{} AND {in_list}", existing_at(expected_version));
        if let Some(expected) = expected_version {
            request = request.expression_attribute_values(":expected", n(expected));
        }
        let mut sets = vec![
            "updated_at = :now".to_owned(),
            "#version = #version + :one".to_owned(),
        ];
        let mut removes: Vec<String> = Vec::new();
        request = request
            .condition_expression(condition)
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":one", n(1));
        if let Some(description) = &patch.description {
            sets.push("#description = :description".into());
            request = request
                .expression_attribute_names("#description", "description")
                .expression_attribute_values(":description", s(description.as_str()));
        }
        if let Some(state) = patch.state {
            // The state lives in the index keys too: change them in the same write.
            sets.extend(
                ["#state = :state", "GSI1PK = :gsi1pk", "LSI1SK = :lsi1sk"].map(String::from),
            );
            if state == TodoState::Completed {
                sets.push("completed_at = if_not_exists(completed_at, :now)".into());
            } else {
                removes.push("completed_at".into());
            }
            request = request
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", s(state.as_str()))
                .expression_attribute_values(":gsi1pk", state_partition(state, uid))
                .expression_attribute_values(":lsi1sk", state_sort_key(state, &uid_text));
        }
        if let Some(metadata) = &patch.metadata {
            sets.push("#metadata = :metadata".into());
            request = request
                .expression_attribute_names("#metadata", "metadata")
                .expression_attribute_values(":metadata", s(metadata.as_json()));
        }
        // The other fields the patch names (by placeholder: some are reserved words).
        for (name, value) in field_changes(patch) {
            request = request.expression_attribute_names(format!("#{name}"), name);
            match value {
                Some(value) => {
                    sets.push(format!("#{name} = :{name}"));
                    request = request.expression_attribute_values(format!(":{name}"), value);
                }
                None => removes.push(format!("#{name}")),
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        request.update_expression(expression)
    }

    /// A delete: its entry put first (naming the list read), then one DeleteItem on condition
    /// that the todo is still in that list; the todo as it was (`None`: a try whose answer was
    /// lost deleted it).
    async fn delete_in_list(
        &self,
        owner: &Username,
        uid: Uuid,
        expected_version: Option<u64>,
    ) -> StoreResult<Option<Todo>> {
        for _ in 0..REWRITE_ROUNDS {
            let old = self.read_at(owner, uid, expected_version).await?;
            let gone = TodoChange {
                uid,
                list: None,
                left: TodoChange::of(&old, None).list,
            };
            let deadline = write_deadline();
            self.put_todos_entry(owner, &[gone], deadline).await?;
            let (in_list, mut request) = in_list(
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(todo_key(owner, &uid.to_string())))
                    .return_values(ReturnValue::AllOld)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    ),
                owner,
                old.list,
            );
            let condition = format!("{} AND {in_list}", existing_at(expected_version));
            if let Some(expected) = expected_version {
                request = request
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":expected", n(expected));
            }
            let deleted = by(deadline, async {
                checked(attempt(request.condition_expression(condition)).await)
            })
            .await?;
            let found = match deleted {
                Checked::Written(deleted) => {
                    let todo = todo_from_item(&deleted.attributes.unwrap_or_default())?;
                    self.add_usage(owner, -1, -(todo.stored_bytes() as i64))
                        .await;
                    return Ok(Some(todo));
                }
                // Gone, and a try whose answer was lost may be what deleted it: done as asked.
                Checked::Failed {
                    old: None,
                    lost: true,
                } => return Ok(None),
                Checked::Failed { lost: true, .. } => return Err(lost_then_changed()),
                Checked::Failed { old: None, .. } => return Err(StoreError::NotFound),
                Checked::Failed {
                    old: Some(item), ..
                } => todo_from_item(&item)?,
            };
            refused_or_moved(&found, expected_version).await?;
        }
        Err(StoreError::Changed)
    }
}

/// After a write in place found the todo not as read: refused when it is not at the version
/// asked for; else it moved to another list meanwhile, and the write waits its turn to be
/// tried again (with that list).
async fn refused_or_moved(found: &Todo, expected_version: Option<u64>) -> StoreResult<()> {
    match expected_version {
        Some(expected) if expected != found.version => Err(StoreError::VersionMismatch {
            current: found.version,
        }),
        _ => {
            another_writer_first().await;
            Ok(())
        }
    }
}

/// What a write of `old` into `new` adds to the account's bytes (fewer, when negative).
fn grown(old: &Todo, new: &Todo) -> i64 {
    new.stored_bytes() as i64 - old.stored_bytes() as i64
}

/// `request`'s condition that the todo is in `list` (the Inbox: no `list` attribute).
fn in_list<B: InList>(request: B, owner: &Username, list: ListId) -> (&'static str, B) {
    if list == ListId::inbox_of(owner) {
        return ("attribute_not_exists(#in_list)", request.names_list());
    }
    let request = request.names_list().list_value(s(list.to_string()));
    ("#in_list = :in_list", request)
}

/// The requests whose condition can name the todo's list.
trait InList {
    fn names_list(self) -> Self;
    fn list_value(self, list: AttributeValue) -> Self;
}

macro_rules! in_list {
    ($($builder:ty),*) => {$(
        impl InList for $builder {
            fn names_list(self) -> Self {
                self.expression_attribute_names("#in_list", "list")
            }
            fn list_value(self, list: AttributeValue) -> Self {
                self.expression_attribute_values(":in_list", list)
            }
        }
    )*};
}

in_list!(UpdateItemFluentBuilder, DeleteItemFluentBuilder);

/// The attributes besides description, state and metadata that `patch` changes, each with its
/// new value (`None`: removed).
fn field_changes(patch: &TodoPatch) -> Vec<(&'static str, Option<AttributeValue>)> {
    let mut changes = Vec::new();
    if let Some(title) = patch.title.new_value() {
        changes.push(("title", title.map(|t| s(t.as_str()))));
    }
    if let Some(notes) = patch.notes.new_value() {
        changes.push(("notes", notes.map(|n| s(n.as_str()))));
    }
    if let Some(position) = &patch.position {
        changes.push(("position", Some(s(position.as_str()))));
    }
    if let Some(priority) = patch.priority {
        changes.push(("priority", priority_attribute(priority)));
    }
    if let Some(due) = patch.due.new_value() {
        changes.extend(due_attributes(due));
    }
    // Who changed it: absent for the owner (every change names its maker).
    changes.push(("updated_by", patch.by.as_ref().map(|by| s(by.as_str()))));
    changes
}

/// A try whose answer was lost, then a failed condition that does not show that try's work:
/// another write came between, and whether ours was done cannot be told.
fn lost_then_changed() -> StoreError {
    StoreError::Unknown("a try's answer was lost, then the item was found changed".into())
}

/// Rounds of an update or delete before it gives up to writers that keep changing the todo
/// (each round lets one of them through: enough for a dozen at once).
const REWRITE_ROUNDS: usize = 16;

/// A pause of up to 10 ms after losing a round to another writer, so that those who lost
/// together do not meet again.
async fn another_writer_first() {
    let jitter = uuid::Uuid::new_v4().as_u128() % 10_000;
    tokio::time::sleep(std::time::Duration::from_micros(jitter as u64)).await;
}

/// `due` as a filter expression and its values; open ends are left out of it (`""` and `"~"`
/// bound nothing), and `None` filters nothing.
fn due_condition(due: &DueFilter) -> Option<(String, Vec<(&'static str, String)>)> {
    let range = match due {
        DueFilter::Any => return None,
        DueFilter::Without => {
            let none = "attribute_not_exists(due_day) AND attribute_not_exists(due_utc)";
            return Some((none.into(), vec![]));
        }
        DueFilter::Within(range) => range,
    };
    let mut values = Vec::new();
    let mut within = |attribute: &str, (low, high): &(String, String), names: [&'static str; 2]| {
        let mut parts = vec![format!("attribute_exists({attribute})")];
        if !low.is_empty() {
            parts.push(format!("{attribute} >= {}", names[0]));
            values.push((names[0], low.clone()));
        }
        if high != OPEN_END {
            parts.push(format!("{attribute} < {}", names[1]));
            values.push((names[1], high.clone()));
        }
        format!("({})", parts.join(" AND "))
    };
    let days = within("due_day", &range.days, [":day_from", ":day_to"]);
    let instants = within("due_utc", &range.instants, [":utc_from", ":utc_to"]);
    Some((format!("{days} OR {instants}"), values))
}

fn to_todos(items: Vec<Item>, limit: u32) -> StoreResult<Page<Todo>> {
    let todos = items
        .iter()
        .map(todo_from_item)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(todos, limit, |t| t.uid.to_string()))
}

/// The item DynamoDB returned with a failed condition: `None` when there was no item at all.
pub(super) fn version_of(old: Option<&Item>) -> StoreError {
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
impl TodoStore for DynamoStore {
    async fn create_todo(&self, todo: &Todo) -> StoreResult<()> {
        let item = todo_item(todo);
        let key = key_of(&item);
        let change = [TodoChange::of(todo, None)];
        match self.list_check(&todo.username, todo.list)? {
            // The Inbox needs no check: the entry, then the todo (a plain Put costs a fraction
            // of a transaction's time).
            None => {
                let deadline = write_deadline();
                self.put_todos_entry(&todo.username, &change, deadline)
                    .await?;
                by(deadline, self.put_new(item)).await?;
            }
            Some(check) => {
                let put = aws_sdk_dynamodb::types::Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(PK)");
                let actions = vec![
                    TransactWriteItem::builder()
                        .put(built(put.build())?)
                        .build(),
                    self.todos_entry(&todo.username, &change)?,
                    check,
                ];
                // The list failed its check, or the uid is taken (a copy run again).
                if self.transact(actions).await? == Transaction::ConditionFailed {
                    return match self.list_open(&todo.username, todo.list).await? {
                        false => Err(StoreError::NoList),
                        true => Err(StoreError::AlreadyExists),
                    };
                }
            }
        }
        self.count_if_owned(
            &todo.username,
            &todo.created_at,
            vec![key],
            todo.stored_bytes(),
        )
        .await
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
            .expression_attribute_values(":now", n(Timestamp::now().unix_seconds()));
        let item = todo_item(todo);
        let todo_key = key_of(&item);
        let created = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)");
        let mut actions = vec![
            TransactWriteItem::builder()
                .put(built(record.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(built(created.build())?)
                .build(),
            self.todos_entry(&todo.username, &[TodoChange::of(todo, None)])?,
        ];
        actions.extend(self.list_check(&todo.username, todo.list)?);
        if self.transact(actions).await? == Transaction::ConditionFailed {
            // The key is in use, or the list takes no todos (a uid taken is left to chance: it
            // fails the same way).
            return match self.read_remembered(&answer.owner, &answer.key).await? {
                Some(earlier) => Ok(Some(earlier)),
                None if !self.list_open(&todo.username, todo.list).await? => {
                    Err(StoreError::NoList)
                }
                None => Err(StoreError::Unavailable(
                    "the idempotency key changed hands; try again".into(),
                )),
            };
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

    async fn get_todo(&self, owner: &Username, uid: Uuid) -> StoreResult<Option<Todo>> {
        let found = self.get(todo_key(owner, &uid.to_string())).await?;
        found.as_ref().map(todo_from_item).transpose()
    }

    async fn list_todos(
        &self,
        owner: &Username,
        query: &TodoQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        if !query.is_plain() {
            return self.list_planned(owner, query, page).await;
        }
        // The cursor position is a uid; the partition always comes from the caller, so a
        // position can never lead into someone else's todos.
        let mut start = page.after.as_ref().map(|after| todo_key(owner, after));
        // One list of several is the partition filtered (read units are spent on the other
        // lists' todos too; the table's comment names the index that would not).
        let in_list = |read: QueryFluentBuilder| match query.list {
            None => read,
            Some(list) if list == ListId::inbox_of(owner) => read
                .filter_expression("attribute_not_exists(#list)")
                .expression_attribute_names("#list", "list"),
            Some(list) => read
                .filter_expression("#list = :list")
                .expression_attribute_names("#list", "list")
                .expression_attribute_values(":list", s(list.to_string())),
        };
        let items = match query.state {
            None => {
                let query = || {
                    starting_with(in_list(self.query()), SK, user_pk(owner), TODO_PREFIX)
                        .consistent_read(true)
                };
                self.query_page(query, start, page.limit).await?
            }
            Some(state) => {
                if let (Some(key), Some(after)) = (start.as_mut(), page.after.as_ref()) {
                    key.insert(LSI1SK.into(), state_sort_key(state, after));
                }
                let query = || in_list(self.in_state(owner, state)).consistent_read(true);
                self.query_page(query, start, page.limit).await?
            }
        };
        to_todos(items, page.limit)
    }

    async fn complete_all(&self, owner: &Username, now: Timestamp) -> StoreResult<u64> {
        let completed = TodoState::Completed;
        let mut actions = Vec::new();
        let mut changes = Vec::new();
        for from in [TodoState::Unstarted, TodoState::Started] {
            for Found { key, change, .. } in self.keys_in_state(owner, from).await? {
                let uid = change.uid;
                changes.push(change);
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(
                        "SET #state = :to, GSI1PK = :gsi1pk, LSI1SK = :lsi1sk, \
                         updated_at = :now, completed_at = :now, #version = #version + :one \
                         REMOVE updated_by",
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
                    .expression_attribute_values(":one", n(1));
                let update = built(update.build())?;
                actions.push(TransactWriteItem::builder().update(update).build());
            }
        }
        self.write_many(actions, owner, &changes)
            .await
            .map(|written| written.len() as u64)
    }

    async fn delete_in_state(&self, owner: &Username, state: TodoState) -> StoreResult<u64> {
        let found = self.keys_in_state(owner, state).await?;
        self.delete_found(owner, found, "state", state.as_str())
            .await
    }

    async fn list_todos_in_states(
        &self,
        states: &[TodoState],
        due: &DueFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        // Every shard of every state is one ordered range of GSI1: read the next page of each
        // at once and merge. The position is a GSI1SK, `<created_at>#<uid>`. Due bounds filter
        // those ranges (read units are spent on what they leave out too; GSI3 in the table's
        // comment is the index that would not).
        let after = page.after.as_deref();
        let due = &due_condition(due);
        let reads = states
            .iter()
            .flat_map(|state| (0..super::SHARDS).map(move |shard| (*state, shard)));
        let pages = futures_util::future::try_join_all(reads.map(|(state, shard)| async move {
            let query = || {
                let query = self
                    .query()
                    .index_name(GSI1)
                    .expression_attribute_values(":p", s(format!("STATE#{state}#{shard}")));
                let query = match due {
                    Some((condition, values)) => values.iter().fold(
                        query.filter_expression(condition),
                        |query, (name, value)| {
                            query.expression_attribute_values(*name, s(value.as_str()))
                        },
                    ),
                    None => query,
                };
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
        match patch.list {
            Some(_) => {
                self.move_todo(owner, uid, patch, expected_version, now)
                    .await
            }
            None => {
                self.update_in_list(owner, uid, patch, expected_version, now)
                    .await
            }
        }
    }

    async fn todos_beside(
        &self,
        owner: &Username,
        todo: &Todo,
        before: bool,
        count: u32,
    ) -> StoreResult<Vec<Todo>> {
        // The whole partition, as for every list by position (see `list_planned`).
        let mut order = self.partition(owner, None).await?;
        order.sort_by(|a, b| (&a.position, a.uid).cmp(&(&b.position, b.uid)));
        let at = (&todo.position, todo.uid);
        let beside: Vec<Todo> = match before {
            true => {
                order.truncate(order.partition_point(|t| (&t.position, t.uid) < at));
                order.into_iter().rev().take(count as usize).collect()
            }
            false => {
                let start = order.partition_point(|t| (&t.position, t.uid) <= at);
                order.into_iter().skip(start).take(count as usize).collect()
            }
        };
        Ok(beside)
    }

    async fn reposition_todos(
        &self,
        owner: &Username,
        places: &[Placement],
        now: Timestamp,
    ) -> StoreResult<()> {
        // One more action: the change-log entry.
        if places.len() >= TRANSACTION_LIMIT {
            return Err(StoreError::Internal(format!(
                "{} todos to reposition; one transaction holds {TRANSACTION_LIMIT} with its entry",
                places.len()
            )));
        }
        let mut actions = Vec::new();
        for place in places {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(todo_key(owner, &place.uid.to_string())))
                .update_expression(
                    "SET #position = :position, updated_at = :now, #version = #version + :one \
                     REMOVE updated_by",
                )
                .condition_expression(existing_at(Some(place.version)))
                .expression_attribute_names("#position", "position")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":position", s(place.position.as_str()))
                .expression_attribute_values(":now", s(now.to_string()))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":expected", n(place.version));
            let update = built(update.build())?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }
        let changes: Vec<TodoChange> = places
            .iter()
            .map(|place| TodoChange {
                uid: place.uid,
                list: (place.list != ListId::inbox_of(owner)).then_some(place.list),
                left: None,
            })
            .collect();
        actions.push(self.todos_entry(owner, &changes)?);
        match self.transact(actions).await? {
            Transaction::Written => Ok(()),
            Transaction::ConditionFailed => Err(StoreError::Changed),
        }
    }

    async fn delete_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        expected_version: Option<u64>,
    ) -> StoreResult<Option<Todo>> {
        self.delete_in_list(owner, uid, expected_version).await
    }
}
