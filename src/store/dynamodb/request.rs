//! The requests every role makes, in one place: a strong read of one item, queries paged
//! through to a limit or to their end, writes of new items, transactions, batch deletes, and the
//! one retry loop the last two share. A failed condition is never turned into an error here: the
//! caller knows what it means (taken, missing, changed).

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    DeleteRequest, KeysAndAttributes, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    WriteRequest,
};

use super::DynamoStore;
use super::attempts::attempt;
use super::error::{Checked, checked, failed, from_write};
use super::items::{Item, PK, SK};
use super::sync::TodoChange;
use crate::domain::Username;
use crate::store::{StoreError, StoreResult};

/// Most items one BatchWriteItem takes.
const BATCH_LIMIT: usize = 25;
/// Most keys one BatchGetItem takes.
const BATCH_GET_LIMIT: usize = 100;
/// Most actions one TransactWriteItems takes.
pub(super) const TRANSACTION_LIMIT: usize = 100;

/// Tries of a request that DynamoDB asked to make again, in all.
const TRIES: u32 = 9;
/// The longest a write logged in the change log may take with its tries, from its entry's
/// stamp, before it is given up as unknown (see `sync::OVERLAP_MS`, which must stay above it).
pub(super) const WRITE_BUDGET: Duration = Duration::from_secs(20);
/// Waits between tries of a transaction that conflicted with another one in flight.
const CONFLICT_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(20),
    most: Duration::from_secs(1),
};
/// Waits between tries of the deletes a batch left unprocessed.
const BATCH_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(50),
    most: Duration::from_secs(2),
};

/// How long to wait before the second try, doubled at each further one up to `most`.
struct Backoff {
    first: Duration,
    most: Duration,
}

/// One try of a request: done, or to be made again from the state given (with the error to
/// report if no try is left).
enum Try<S, T> {
    Done(T),
    Again(S, StoreError),
}

/// How a transaction ended when DynamoDB answered it.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transaction {
    Written,
    /// A condition of one of its actions did not hold: nothing was written.
    ConditionFailed,
}

/// Makes `attempt` from `state`, again from the state it hands back while it asks to, waiting
/// longer each time; after [`TRIES`] tries, the error of the last one.
async fn retrying<S, T, F, Fut>(backoff: Backoff, mut state: S, mut attempt: F) -> StoreResult<T>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = StoreResult<Try<S, T>>>,
{
    let mut wait = backoff.first;
    let mut tried = 0;
    loop {
        tried += 1;
        match attempt(state).await? {
            Try::Done(done) => return Ok(done),
            Try::Again(_, why) if tried == TRIES => return Err(why),
            Try::Again(next, _) => state = next,
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(backoff.most);
    }
}

impl DynamoStore {
    /// The item under `key`, read strongly.
    pub(super) async fn get(&self, key: Item) -> StoreResult<Option<Item>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem"))?;
        Ok(found.item)
    }

    /// A query of the table, to be given its conditions.
    pub(super) fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// Runs `query` from `start` until it has `limit + 1` items or the partition ends: a page may
    /// need several requests when items are large (DynamoDB stops each response at 1 MB).
    pub(super) async fn query_page(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
        start: Option<Item>,
        limit: u32,
    ) -> StoreResult<Vec<Item>> {
        self.query_until(query, start, Some(limit as usize + 1))
            .await
    }

    /// Every item `query` finds, in as many requests as it takes.
    pub(super) async fn query_all(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
    ) -> StoreResult<Vec<Item>> {
        self.query_until(query, None, None).await
    }

    /// Runs `query` to its end, `per_page` items a request, handing each item to `each` as its
    /// page comes: a caller that keeps less than every item (a set of ids, say) holds one
    /// page at a time, never the whole answer.
    pub(super) async fn query_each(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
        per_page: i32,
        mut each: impl FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut start = None;
        loop {
            let page = query()
                .set_exclusive_start_key(start)
                .limit(per_page)
                .send()
                .await
                .map_err(failed("Query"))?;
            page.items
                .unwrap_or_default()
                .into_iter()
                .try_for_each(&mut each)?;
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Runs `query` from `start`, following `LastEvaluatedKey`, until it has `wanted` items (all
    /// of them when `None`).
    async fn query_until(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
        mut start: Option<Item>,
        wanted: Option<usize>,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::with_capacity(wanted.unwrap_or(0));
        loop {
            let remaining = wanted.map(|w| i32::try_from(w - items.len()).unwrap_or(i32::MAX));
            let page = query()
                .set_exclusive_start_key(start)
                .set_limit(remaining)
                .send()
                .await
                .map_err(failed("Query"))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            let enough = wanted.is_some_and(|w| items.len() >= w);
            if enough || start.is_none() {
                items.truncate(wanted.unwrap_or(usize::MAX));
                return Ok(items);
            }
        }
    }

    /// Writes an item whose key must be new: `AlreadyExists` when it is taken.
    pub(super) async fn put_new(&self, item: Item) -> StoreResult<()> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match checked(attempt(put).await)? {
            Checked::Written(_) => Ok(()),
            // The item is there just as this write makes it: a try whose answer was lost did
            // it (a new item holds a fresh id or a fresh hash: no one else writes the same).
            Checked::Failed { old, lost: true } if old.as_ref() == Some(&item) => Ok(()),
            Checked::Failed { lost: true, .. } => Err(StoreError::Unknown(
                "a try's answer was lost, then the key was found taken".into(),
            )),
            Checked::Failed { .. } => Err(StoreError::AlreadyExists),
        }
    }

    /// Runs conditional writes a hundred to a transaction (one request each); a transaction
    /// that some item's condition fails is done again item by item, where the failing ones are
    /// simply skipped. Each transaction carries the change-log entry (in `owner`'s log) of
    /// what its actions change (`changes`, one per action). Returns which were written (their
    /// indexes). A failure after some were written is [`StoreError::Unknown`]: the caller must
    /// not hear "nothing happened".
    pub(super) async fn write_many(
        &self,
        actions: Vec<TransactWriteItem>,
        owner: &Username,
        changes: &[TodoChange],
    ) -> StoreResult<Vec<usize>> {
        let mut written = Vec::new();
        let partly = |written: &Vec<usize>, e: StoreError| match e {
            StoreError::Unavailable(why) | StoreError::Internal(why) if !written.is_empty() => {
                let total = actions.len();
                StoreError::Unknown(format!("{} of {total} written, then: {why}", written.len()))
            }
            other => other,
        };
        let logged = |range: std::ops::Range<usize>| -> StoreResult<Vec<TransactWriteItem>> {
            let mut transaction = actions[range.clone()].to_vec();
            transaction.push(self.todos_entry(owner, &changes[range])?);
            Ok(transaction)
        };
        // One action of each transaction is the entry.
        let per = TRANSACTION_LIMIT - 1;
        for first in (0..actions.len()).step_by(per) {
            let end = (first + per).min(actions.len());
            let done = self.transact(logged(first..end)?).await;
            match done.map_err(|e| partly(&written, e))? {
                Transaction::Written => written.extend(first..end),
                Transaction::ConditionFailed => {
                    for i in first..end {
                        let done = self.transact(logged(i..i + 1)?).await;
                        if done.map_err(|e| partly(&written, e))? == Transaction::Written {
                            written.push(i);
                        }
                    }
                }
            }
        }
        Ok(written)
    }

    /// Runs one transaction, again while it only conflicted with another one in flight.
    pub(super) async fn transact(
        &self,
        actions: Vec<TransactWriteItem>,
    ) -> StoreResult<Transaction> {
        let actions = &actions;
        let tries = retrying(CONFLICT_BACKOFF, (), move |()| async move {
            // One token for every try: DynamoDB does a transaction once per token, so a try
            // after one whose answer was lost cannot do it twice.
            let transaction = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .client_request_token(uuid::Uuid::new_v4().to_string());
            let attempted = attempt(transaction).await;
            let Err(e) = attempted.result else {
                return Ok(Try::Done(Transaction::Written));
            };
            let reasons = cancellation_reasons(&e);
            if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                Ok(Try::Done(Transaction::ConditionFailed))
            } else if reasons.iter().any(|r| r == "TransactionConflict") {
                Ok(Try::Again((), from_write(e, attempted.lost)))
            } else {
                Err(from_write(e, attempted.lost))
            }
        });
        by(write_deadline(), tries).await
    }

    /// The items under `keys` that exist, read strongly, a hundred keys to a BatchGetItem (again
    /// for what DynamoDB leaves unprocessed), in no particular order.
    pub(super) async fn get_many(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let read = retrying(
                BATCH_BACKOFF,
                (chunk.to_vec(), Vec::new()),
                move |(keys, mut items): (Vec<Item>, Vec<Item>)| async move {
                    let asked = KeysAndAttributes::builder()
                        .set_keys(Some(keys))
                        .consistent_read(true);
                    let answer = self
                        .client
                        .batch_get_item()
                        .request_items(&self.table, built(asked.build())?)
                        .send()
                        .await
                        .map_err(failed("BatchGetItem"))?;
                    items.extend(
                        answer
                            .responses
                            .and_then(|mut r| r.remove(&self.table))
                            .unwrap_or_default(),
                    );
                    let left = answer
                        .unprocessed_keys
                        .and_then(|mut left| left.remove(&self.table))
                        .map(|left| left.keys)
                        .unwrap_or_default();
                    if left.is_empty() {
                        return Ok(Try::Done(items));
                    }
                    let why = StoreError::Unavailable(format!(
                        "{} reads still unprocessed after retries",
                        left.len()
                    ));
                    Ok(Try::Again((left, items), why))
                },
            );
            found.extend(read.await?);
        }
        Ok(found)
    }

    /// Deletes items by key in batches, again for what DynamoDB leaves unprocessed.
    pub(super) async fn delete_keys(&self, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(BATCH_LIMIT) {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder().set_key(Some(key.clone()));
                    Ok(WriteRequest::builder()
                        .delete_request(built(delete.build())?)
                        .build())
                })
                .collect::<StoreResult<_>>()?;
            retrying(BATCH_BACKOFF, requests, move |requests| async move {
                let written = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(failed("BatchWriteItem"))?;
                let left = written
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                if left.is_empty() {
                    return Ok(Try::Done(()));
                }
                let why = StoreError::Unavailable(format!(
                    "{} deletes still unprocessed after retries",
                    left.len()
                ));
                Ok(Try::Again(left, why))
            })
            .await?;
        }
        Ok(())
    }
}

/// The codes of the reasons a transaction was cancelled for.
fn cancellation_reasons<R>(
    e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> Vec<String> {
    e.as_service_error()
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
        .unwrap_or_default()
}

/// A request part from its builder, a missing field being a bug of ours.
pub(super) fn built<T>(built: Result<T, BuildError>) -> StoreResult<T> {
    built.map_err(|e| StoreError::Internal(e.to_string()))
}

/// The primary key of an item.
pub(super) fn key_of(item: &Item) -> Item {
    [PK, SK]
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), item.get(*k)?.clone())))
        .collect()
}

/// When a write logged in the change log, whose entry is stamped now, must have committed.
pub(super) fn write_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + WRITE_BUDGET
}

/// `write` given up as unknown at `deadline` (see [`write_deadline`]): a write logged in the
/// change log then commits within its sync overlap of its entry's stamp, or not at all.
pub(super) async fn by<T>(
    deadline: tokio::time::Instant,
    write: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    tokio::time::timeout_at(deadline, write)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unknown(
                "a write was not answered in time".into(),
            ))
        })
}
