//! The requests every role makes, in one place: reads of one item and of query pages, writes
//! of new items, transactions, batch deletes.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{DeleteRequest, TransactWriteItem, WriteRequest};

use super::DynamoStore;
use super::error::{from_sdk, unless_condition_failed};
use super::items::{Item, PK, SK};
use crate::store::{StoreError, StoreResult};
use std::time::Duration;

/// Most items one BatchWriteItem takes.
pub(super) const BATCH_LIMIT: usize = 25;
/// Most actions one TransactWriteItems takes.
pub(super) const TRANSACTION_LIMIT: usize = 100;

impl DynamoStore {
    /// Runs `query` from `start` until it has `limit + 1` items or the partition ends: a page may
    /// need several requests when items are large (DynamoDB stops each response at 1 MB).
    pub(super) async fn query_page(
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
    pub(super) async fn put_new(&self, item: Item) -> StoreResult<()> {
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

    /// Runs conditional writes a hundred to a transaction (one request each); a transaction
    /// that some item's condition fails is done again item by item, where the failing ones are
    /// simply skipped. Returns which were written (their indexes).
    pub(super) async fn write_many(
        &self,
        actions: Vec<TransactWriteItem>,
    ) -> StoreResult<Vec<usize>> {
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
    pub(super) async fn transact(&self, actions: Vec<TransactWriteItem>) -> StoreResult<()> {
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

    /// Deletes items by key in batches, retrying what DynamoDB leaves unprocessed.
    pub(super) async fn delete_keys(&self, keys: Vec<Item>) -> StoreResult<()> {
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

/// The primary key of an item.
pub(super) fn key_of(item: &Item) -> Item {
    [PK, SK]
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), item.get(*k)?.clone())))
        .collect()
}
