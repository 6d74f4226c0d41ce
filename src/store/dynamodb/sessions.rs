//! Sessions on DynamoDB, and their ending: revocations and the login generation live on the
//! owner's profile.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use uuid::Uuid;

use super::DynamoStore;
use super::attempts::attempt;
use super::error::{Checked, checked, failed, unless_condition_failed};
use super::items::{
    GSI1, Item, KEPT_SESSION, LOGIN_GENERATION, SESSION_PREFIX, SK, n, revoked_attribute, s,
    session_from_item, session_item, session_key, starting_with, user_pk,
};
use super::request::key_of;
use crate::domain::{Session, SessionKind, Timestamp, Username};
use crate::store::{SessionStore, StoreError, StoreResult, UserStore};

/// Attributes set or removed by one UpdateItem: an update expression may be at most 4 KB, and
/// each takes about 15 bytes of it.
const ATTRIBUTES_PER_UPDATE: usize = 100;

impl DynamoStore {
    /// Writes a new item of `owner`'s and checks, after the write, that the owner's account
    /// exists and is not younger than the item (made before it, under the same name): an item
    /// that lost a race with the deletion of its owner is taken back and `NotFound` returned.
    /// Cheaper than a transaction on the hot path, and no conflicts among one user's writes.
    async fn put_owned(&self, owner: &Username, made: &Timestamp, item: Item) -> StoreResult<()> {
        let key = key_of(&item);
        self.put_new(item).await?;
        match self.get_user(owner).await? {
            Some(user) if user.created_at <= *made => Ok(()),
            _ => {
                self.delete_keys(vec![key]).await?;
                Err(StoreError::NotFound)
            }
        }
    }

    /// Records `ended` sessions on `owner`'s profile and drops the records of `expired` ones,
    /// in one update.
    async fn update_revocations(
        &self,
        owner: &Username,
        ended: &[(Uuid, u64)],
        expired: &[Uuid],
    ) -> StoreResult<()> {
        let mut request = self.profile_update(owner);
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
        let updated = attempt(request.update_expression(expression)).await;
        unless_condition_failed(updated, StoreError::NotFound).map(drop)
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.put_owned(&session.owner, &session.created_at, session_item(session))
            .await
    }

    async fn get_session(&self, owner: &Username, id: Uuid) -> StoreResult<Option<Session>> {
        let found = self.get(session_key(owner, id)).await?;
        found.as_ref().map(session_from_item).transpose()
    }

    /// Nothing to do: a session's item carries its expiry as the table's time-to-live
    /// attribute, and DynamoDB deletes it (within days, at no write cost); every read of a
    /// session checks the expiry itself.
    async fn forget_expired_sessions(&self, _: &Username, _: Timestamp) -> StoreResult<()> {
        Ok(())
    }

    async fn find_session(&self, id: Uuid) -> StoreResult<Option<Session>> {
        let found = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :id")
            .expression_attribute_values(":id", s(format!("{SESSION_PREFIX}{id}")))
            .send()
            .await
            .map_err(failed("Query"))?;
        let Some(item) = found.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        // The index lags the table a little: the table has the last word.
        let owner = session_from_item(&item)?.owner;
        self.get_session(&owner, id).await
    }

    async fn list_sessions(&self, owner: &Username) -> StoreResult<Vec<Session>> {
        let query = || {
            starting_with(self.query(), SK, user_pk(owner), SESSION_PREFIX).consistent_read(true)
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
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match checked(attempt(rotated).await)? {
            Checked::Written(_) => Ok(()),
            // A lost try rotated it already: the hash is the one this write sets.
            Checked::Failed {
                old: Some(old),
                lost: true,
            } if old.get("refresh_hash") == Some(&s(to)) => Ok(()),
            Checked::Failed { old: Some(_), .. } => Err(StoreError::Changed),
            Checked::Failed { old: None, .. } => Err(StoreError::NotFound),
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
            .profile_update(owner)
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
        let updated = attempt(request.update_expression(expression)).await;
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
}
