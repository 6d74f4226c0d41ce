//! Profiles on DynamoDB: the `PROFILE` item of a user's partition, and the sweep of what a
//! deleted user left in it.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, ReturnValue, TransactWriteItem};

use super::DynamoStore;
use super::attempts::attempt;
use super::error::{from_write, unless_condition_failed};
use super::items::{
    GSI1, GSI1PK, GSI1SK, Item, PROFILE, SK, TODO_PREFIX, USERS_PARTITION, profile_key, s,
    user_from_item, user_item, user_pk,
};
use super::request::{TRANSACTION_LIMIT, Transaction, built};
use crate::domain::{User, Username, Zone};
use crate::store::{Page, PageRequest, StoreError, StoreResult, UserStore};

impl DynamoStore {
    /// An update of `owner`'s profile, to be given its expression: `NotFound` (a failed
    /// condition) when there is none, so that no update makes a profile again.
    pub(super) fn profile_update(&self, owner: &Username) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(owner)))
            .condition_expression("attribute_exists(PK)")
    }

    /// The keys of every item in `owner`'s partition but the profile: todos and sessions.
    async fn owned_keys(&self, owner: &Username) -> StoreResult<Vec<Item>> {
        let query = || {
            self.query()
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", user_pk(owner))
                .projection_expression("PK, SK")
                .consistent_read(true)
        };
        // A filter cannot name a key attribute: the profile is left out here.
        let is_profile =
            |k: &Item| k.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) == Some(PROFILE);
        let mut keys = self.query_all(query).await?;
        keys.retain(|k| !is_profile(k));
        Ok(keys)
    }

    /// Deletes what is left under `owner`'s name while, and only while, there is no profile of
    /// that name: each delete goes in a transaction with that check. A user created meanwhile
    /// under the name stops the sweep before it can touch anything of theirs (`None`).
    /// Returns how many todos went.
    async fn sweep_orphans(&self, owner: &Username) -> StoreResult<Option<u64>> {
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
                .condition_expression("attribute_not_exists(PK)");
            let mut actions = vec![
                TransactWriteItem::builder()
                    .condition_check(built(absent.build())?)
                    .build(),
            ];
            for key in chunk {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()));
                actions.push(
                    TransactWriteItem::builder()
                        .delete(built(delete.build())?)
                        .build(),
                );
            }
            if self.transact(actions).await? == Transaction::ConditionFailed {
                return Ok(None);
            }
        }
        Ok(Some(todos))
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
        match self.sweep_orphans(&user.username).await? {
            Some(_) => self.put_new(user_item(user)).await,
            None => Err(StoreError::AlreadyExists),
        }
    }

    async fn get_user(&self, username: &Username) -> StoreResult<Option<User>> {
        let found = self.get(profile_key(username)).await?;
        found.as_ref().map(user_from_item).transpose()
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
            self.query()
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
            .profile_update(username)
            .update_expression("SET password_hash = :hash")
            .expression_attribute_values(":hash", s(hash));
        let updated = attempt(updated).await;
        unless_condition_failed(updated, StoreError::NotFound).map(drop)
    }

    async fn set_admin(&self, username: &Username, admin: bool) -> StoreResult<()> {
        let updated = self
            .profile_update(username)
            .update_expression("SET #admin = :admin")
            .expression_attribute_names("#admin", "admin")
            .expression_attribute_values(
                ":admin",
                aws_sdk_dynamodb::types::AttributeValue::Bool(admin),
            );
        let updated = attempt(updated).await;
        unless_condition_failed(updated, StoreError::NotFound).map(drop)
    }

    async fn set_zone(&self, username: &Username, zone: Option<&Zone>) -> StoreResult<()> {
        let update = self
            .profile_update(username)
            .expression_attribute_names("#tz", "tz");
        let update = match zone {
            Some(zone) => update
                .update_expression("SET #tz = :tz")
                .expression_attribute_values(":tz", s(zone.name())),
            None => update.update_expression("REMOVE #tz"),
        };
        let updated = attempt(update).await;
        unless_condition_failed(updated, StoreError::NotFound).map(drop)
    }

    async fn delete_user(&self, username: &Username) -> StoreResult<u64> {
        // The profile goes first, so the authorizer refuses the user's tokens from now on, and
        // writes racing the deletion take themselves back (see `put_owned`).
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(username)))
            .return_values(ReturnValue::AllOld);
        let attempted = attempt(delete).await;
        // A try whose answer was lost may be what removed it.
        let lost = attempted.lost;
        let removed = attempted.result.map_err(|e| from_write(e, lost))?;
        // Someone made a new account of this name meanwhile (`None`): what is left is theirs.
        // The other halves of its memberships first: the sweep takes its own.
        self.forget_shares(username).await?;
        let count = self.sweep_orphans(username).await?.unwrap_or(0);
        if removed.attributes.is_none() && !lost && count == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(count)
        }
    }
}
