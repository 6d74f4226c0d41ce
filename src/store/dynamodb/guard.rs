//! Login failure records and idempotency records on DynamoDB.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::DynamoStore;
use super::attempts::attempt;
use super::error::{Checked, checked, failed, unless_condition_failed};
use super::items::{
    EXPIRES, failures_key, n, remembered_from_item, remembered_item, remembered_key,
};
use crate::domain::{Timestamp, Username};
use crate::store::{Failures, GuardStore, Remembered, StoreError, StoreResult};

/// An idempotency record may be written where none is, or where the one there has expired.
pub(super) const KEY_FREE: &str = "attribute_not_exists(PK) OR #expires < :now";

impl DynamoStore {
    /// The unexpired record under an owner and idempotency key, read strongly.
    pub(super) async fn read_remembered(
        &self,
        owner: &Username,
        key: &str,
    ) -> StoreResult<Option<Remembered>> {
        let found = self.get(remembered_key(owner, key)).await?;
        let now = Timestamp::now().unix_seconds();
        Ok(found
            .as_ref()
            .map(remembered_from_item)
            .transpose()?
            .filter(|r| r.expires >= now))
    }
}

#[async_trait]
impl GuardStore for DynamoStore {
    async fn get_failures(&self, key: &str) -> StoreResult<Option<Failures>> {
        let Some(item) = self.get(failures_key(key)).await? else {
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
        unless_condition_failed(attempt(put).await, StoreError::Changed).map(drop)
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(failures_key(key)))
            .send()
            .await
            .map_err(failed("DeleteItem"))?;
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
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match checked(attempt(put).await)? {
            Checked::Written(_) => Ok(None),
            // After a lost try, the record held may be this one: the same request's answer.
            Checked::Failed { old, .. } => old.as_ref().map(remembered_from_item).transpose(),
        }
    }
}
