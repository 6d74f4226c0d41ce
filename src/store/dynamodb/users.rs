//! Profiles on DynamoDB: the `PROFILE` item of a user's partition, and the sweep of what a
//! deleted user left in it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, ReturnValue, TransactWriteItem};

use super::DynamoStore;
use super::error::{from_sdk, unless_condition_failed};
use super::items::{
    GSI1, GSI1PK, GSI1SK, Item, PROFILE, SK, TODO_PREFIX, USERS_PARTITION, profile_key, s,
    user_from_item, user_item, user_pk,
};
use super::request::*;
use crate::domain::{User, Username};
use crate::store::{Page, PageRequest, StoreError, StoreResult, UserStore};

impl DynamoStore {
    /// The keys of every item in `owner`'s partition but the profile: todos and sessions.
    pub(super) async fn owned_keys(&self, owner: &Username) -> StoreResult<Vec<Item>> {
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
    pub(super) async fn sweep_orphans(&self, owner: &Username) -> StoreResult<u64> {
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
}

#[async_trait]
impl UserStore for DynamoStore {
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
}
