//! The change log on DynamoDB: an entry item in the partition of whose log it is, put in the
//! same TransactWriteItems as the write it records or, for an update or delete within a list,
//! just before it (so a write is never without its entry; an entry whose write then failed
//! costs a reader a read again), and forgotten by the table's TTL. A sync reads the entries
//! after its token's time, less an overlap for writes stamped before it that committed after
//! it (a write's tries, clock skew between instances): a change may be told twice, never
//! missed.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use uuid::Uuid;

use super::DynamoStore;
use super::attempts::attempt_once_done;
use super::error::from_write;
use super::items::{EXPIRES, Item, PK, SK, n, s, todo_from_item, todo_key, user_pk};
use super::request::{TRANSACTION_LIMIT, WRITE_BUDGET, built, key_of};
use crate::domain::{ListId, Timestamp, Todo, Username};
use crate::store::{Changes, SYNC_HISTORY_SECONDS, StoreError, StoreResult, SyncStore};

pub(super) const CHANGE_PREFIX: &str = "CHANGE#";
/// An entry's attributes besides its key and expiry: what it records (`todo`, `list`, `grant`),
/// the todos' changes, the list's id. A sync reads these and nothing else.
const KIND: &str = "kind";
const CHANGED: &str = "changed";
const ID: &str = "id";
/// How far before its token's time a sync reads: longer than a write may take from its stamp
/// to its commit (a write is given up after `WRITE_BUDGET`, in practice it takes
/// milliseconds) plus the clocks' skew between instances. What changed within it is sent again.
const OVERLAP_MS: u64 = 30_000;
const _: () = assert!(OVERLAP_MS > WRITE_BUDGET.as_millis() as u64 + 5_000);
/// Changed todos read by key (BatchGetItem, a hundred to a request) up to this many; past it,
/// the owner's whole partition once.
const GET_EACH: usize = 300;

/// Change-log entries read a request: what one sync holds at a time. 200 held 3 MB less than
/// 500 under 32 syncs at once, and took a third longer (2.5 times the round trips).
const ENTRIES_PER_PAGE: i32 = 500;

/// One todo a write changed: where it is after it (`None`: its owner's Inbox, or gone from
/// it), and the list it moved out of.
pub(super) struct TodoChange {
    pub uid: Uuid,
    pub list: Option<ListId>,
    pub left: Option<ListId>,
}

impl TodoChange {
    /// `todo` as a write leaves it, moved out of `left` (if that is another list).
    pub(super) fn of(todo: &Todo, left: Option<ListId>) -> Self {
        let inbox = ListId::inbox_of(&todo.username);
        let stored = |list: ListId| (list != inbox).then_some(list);
        Self {
            uid: todo.uid,
            list: stored(todo.list),
            left: left.filter(|l| *l != todo.list).and_then(stored),
        }
    }

    /// As an entry holds it: `<uid> <list or -> <left or ->`.
    fn text(&self) -> String {
        let or_dash = |list: Option<ListId>| list.map_or("-".to_owned(), |l| l.to_string());
        format!("{} {} {}", self.uid, or_dash(self.list), or_dash(self.left))
    }

    fn read(text: &str) -> StoreResult<Self> {
        let bad = || StoreError::Internal(format!("bad change {text:?} in the change log"));
        let mut parts = text.split(' ');
        let uid = parts
            .next()
            .and_then(|raw| raw.parse().ok())
            .ok_or_else(bad)?;
        let mut list = || -> StoreResult<Option<ListId>> {
            match parts.next().ok_or_else(bad)? {
                "-" => Ok(None),
                raw => list_id(raw).map(Some),
            }
        };
        Ok(Self {
            uid,
            list: list()?,
            left: list()?,
        })
    }

    /// Whether a reader of `lists` (all, without) should hear of it.
    fn shown(&self, lists: Option<&[ListId]>) -> bool {
        match lists {
            None => true,
            Some(lists) => [self.list, self.left]
                .into_iter()
                .flatten()
                .any(|l| lists.contains(&l)),
        }
    }
}

fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

impl DynamoStore {
    fn entry(&self, owner: &Username, fields: Item) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(entry_item(owner, fields)));
        Ok(TransactWriteItem::builder()
            .put(built(put.build())?)
            .build())
    }

    /// Puts the entry of a write of `owner`'s todos `changed` on its own, before the write: a
    /// write told but then not done costs a reader only a read again. The write must then
    /// commit by `deadline` (see `request::write_deadline`), which is taken before the entry
    /// is stamped; an entry not put by then is given up, and the write is not made.
    pub(super) async fn put_todos_entry(
        &self,
        owner: &Username,
        changed: &[TodoChange],
        deadline: tokio::time::Instant,
    ) -> StoreResult<()> {
        let item = entry_item(owner, todos_fields(changed));
        let key = key_of(&item);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        // An entry put without its write is harmless, so a failure is "nothing done". After a
        // lost answer the entry is looked for rather than put again: it is there more often
        // than not, and the write behind it has the rest of the deadline.
        let put_once = async {
            for _ in 0..2 {
                let attempted = attempt_once_done(put.clone()).await;
                match attempted.result {
                    Ok(_) => return Ok(()),
                    Err(_) if attempted.lost && self.get(key.clone()).await?.is_some() => {
                        return Ok(());
                    }
                    Err(e) if attempted.lost => {
                        tracing::debug!(error = %e, "an entry not found after a lost answer")
                    }
                    Err(e) => return Err(from_write(e, false)),
                }
            }
            Err(StoreError::Unavailable(
                "the change log did not answer".into(),
            ))
        };
        match tokio::time::timeout_at(deadline, put_once).await {
            Ok(done) => done,
            Err(_) => Err(StoreError::Unavailable(
                "the change log did not answer in time".into(),
            )),
        }
    }

    /// The entry in `owner`'s log of a write of their todos `changed` (one or many).
    pub(super) fn todos_entry(
        &self,
        owner: &Username,
        changed: &[TodoChange],
    ) -> StoreResult<TransactWriteItem> {
        self.entry(owner, todos_fields(changed))
    }

    /// Writes change-log entries of their own (a hundred to a transaction): for changes told
    /// before they are made, where telling too early costs a reader only a read again.
    pub(super) async fn write_entries(&self, entries: Vec<TransactWriteItem>) -> StoreResult<()> {
        for chunk in entries.chunks(TRANSACTION_LIMIT) {
            // Entries have no condition: a transaction of them is written or fails.
            let _ = self.transact(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// The entry of a list of `owner`'s made, renamed or deleted.
    pub(super) fn list_entry(
        &self,
        owner: &Username,
        list: ListId,
    ) -> StoreResult<TransactWriteItem> {
        let fields = Item::from([(KIND.into(), s("list")), (ID.into(), s(list.to_string()))]);
        self.entry(owner, fields)
    }

    /// The entry in `member`'s log of list `list` shared with them, changed or no longer.
    pub(super) fn grant_entry(
        &self,
        member: &Username,
        list: ListId,
    ) -> StoreResult<TransactWriteItem> {
        let fields = Item::from([(KIND.into(), s("grant")), (ID.into(), s(list.to_string()))]);
        self.entry(member, fields)
    }
}

/// An entry of `owner`'s log holding `fields`, stamped now.
fn entry_item(owner: &Username, mut item: Item) -> Item {
    item.insert(PK.into(), user_pk(owner));
    // The entry's own id keeps two entries of one millisecond apart.
    let sk = format!(
        "{CHANGE_PREFIX}{:013}#{}",
        now_ms(),
        Uuid::new_v4().simple()
    );
    item.insert(SK.into(), s(sk));
    let forget = Timestamp::now().unix_seconds() + SYNC_HISTORY_SECONDS + 24 * 3600;
    item.insert(EXPIRES.into(), n(forget));
    item
}

/// What an entry of a write of todos holds: each todo's change as text.
fn todos_fields(changed: &[TodoChange]) -> Item {
    let texts = changed.iter().map(TodoChange::text).collect();
    Item::from([
        (KIND.into(), s("todo")),
        (CHANGED.into(), AttributeValue::Ss(texts)),
    ])
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn list_id(raw: &str) -> StoreResult<ListId> {
    raw.parse::<Uuid>()
        .map(ListId::from)
        .map_err(|_| StoreError::Internal(format!("bad list id {raw:?} in the change log")))
}

#[async_trait]
impl SyncStore for DynamoStore {
    async fn sync_point(&self) -> StoreResult<u64> {
        Ok(now_ms())
    }

    async fn changes_since(
        &self,
        owner: &Username,
        lists: Option<&[ListId]>,
        since: u64,
    ) -> StoreResult<Changes> {
        let from = format!("{CHANGE_PREFIX}{:013}", since.saturating_sub(OVERLAP_MS));
        let read = || {
            self.query()
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", user_pk(owner))
                .expression_attribute_values(":from", s(from.as_str()))
                .expression_attribute_values(":to", s(format!("{CHANGE_PREFIX}~")))
                // Only what is read below: with the key, stamp and expiry, 32 syncs at once held
                // 4 MB more and did a third fewer a second.
                .projection_expression("#kind, #changed, #id")
                .expression_attribute_names("#kind", KIND)
                .expression_attribute_names("#changed", CHANGED)
                .expression_attribute_names("#id", ID)
                .consistent_read(true)
        };
        let mut todos = BTreeSet::new();
        let mut found = Changes::default();
        // Page by page: the window holds every write of the last 30 s, thousands under a
        // burst of writes; all of them at once, 32 syncs held 56 MB.
        self.query_each(read, ENTRIES_PER_PAGE, |entry| {
            let id = || {
                text(&entry, ID)
                    .ok_or_else(|| StoreError::Internal("a change-log entry without its id".into()))
                    .and_then(list_id)
            };
            match text(&entry, KIND) {
                Some("todo") => {
                    let changed = entry
                        .get(CHANGED)
                        .and_then(|v| v.as_ss().ok())
                        .ok_or_else(|| StoreError::Internal("a todo entry without todos".into()))?;
                    for change in changed {
                        let change = TodoChange::read(change)?;
                        if change.shown(lists) {
                            todos.insert(change.uid);
                        }
                    }
                }
                Some("list") => {
                    let id = id()?;
                    if lists.is_none_or(|lists| lists.contains(&id)) && !found.lists.contains(&id) {
                        found.lists.push(id);
                    }
                }
                Some("grant") if lists.is_none() => {
                    let id = id()?;
                    if !found.grants.contains(&id) {
                        found.grants.push(id);
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .await?;
        if todos.len() <= GET_EACH {
            let keys = todos
                .iter()
                .map(|uid| todo_key(owner, &uid.to_string()))
                .collect();
            for item in self.get_many(keys).await? {
                let todo = todo_from_item(&item)?;
                todos.remove(&todo.uid);
                found.todos.push(todo);
            }
            found.todos.sort_by_key(|todo| todo.uid);
            found.gone.extend(todos);
        } else {
            let mut all: std::collections::HashMap<Uuid, Todo> = self
                .partition(owner, None)
                .await?
                .into_iter()
                .map(|todo| (todo.uid, todo))
                .collect();
            for uid in todos {
                match all.remove(&uid) {
                    Some(todo) => found.todos.push(todo),
                    None => found.gone.push(uid),
                }
            }
        }
        Ok(found)
    }
}
