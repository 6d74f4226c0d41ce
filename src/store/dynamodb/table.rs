//! Creating and deleting the table of the single-table layout, for `checkoff resources` and tests.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, PointInTimeRecoverySpecification, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};

use super::error::from_sdk;
use super::items::{EXPIRES, GSI1, GSI1PK, GSI1SK, KEY_ATTRIBUTES, LSI1, LSI1SK, PK, SK};
use crate::aws::Outcome;
use crate::store::StoreError;

/// How long to wait for a table to become active or go away.
const WAIT_LIMIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(250);

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

fn all_attributes() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

/// Creates `table` (on demand, with GSI1 and LSI1) and waits until it is active; `progress` hears
/// what is happening. Point-in-time recovery is switched on where the endpoint supports it.
pub async fn create_table(
    client: &Client,
    table: &str,
    progress: impl Fn(&str),
) -> Result<Outcome, StoreError> {
    let gsi1 = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key(GSI1PK, KeyType::Hash))
        .key_schema(key(GSI1SK, KeyType::Range))
        .projection(all_attributes())
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let lsi1 = LocalSecondaryIndex::builder()
        .index_name(LSI1)
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(LSI1SK, KeyType::Range))
        .projection(all_attributes())
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .set_attribute_definitions(Some(KEY_ATTRIBUTES.map(string_attribute).to_vec()))
        .global_secondary_indexes(gsi1)
        .local_secondary_indexes(lsi1)
        .send()
        .await;
    let outcome = match created {
        Ok(_) => {
            progress(&format!("Creating table {table}"));
            Outcome::Done
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            progress(&format!("Table {table} already exists"));
            Outcome::AlreadyThere
        }
        Err(e) => return Err(from_sdk(e)),
    };
    wait_until(client, table, Some(TableStatus::Active), &progress).await?;
    // Ended sessions and old login failures expire on their own.
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(EXPIRES)
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    match client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        Ok(_) => progress(&format!("Items expire by their {EXPIRES:?} attribute")),
        Err(e) => {
            let e = from_sdk(e);
            // Already on (a second `resources create`) is the one expected refusal.
            if !e.to_string().contains("already enabled") {
                progress(&format!("Time to live not enabled: {e}"));
            }
        }
    }
    let recovery = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    match client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(recovery)
        .send()
        .await
    {
        Ok(_) => progress("Point-in-time recovery is on"),
        Err(e) => progress(&format!(
            "Point-in-time recovery not enabled: {}",
            from_sdk(e)
        )),
    }
    Ok(outcome)
}

/// Deletes `table` and waits until it is gone.
pub async fn delete_table(
    client: &Client,
    table: &str,
    progress: impl Fn(&str),
) -> Result<Outcome, StoreError> {
    match client.delete_table().table_name(table).send().await {
        Ok(_) => progress(&format!("Deleting table {table}")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            progress(&format!("Table {table} does not exist"));
            return Ok(Outcome::AlreadyThere);
        }
        Err(e) => return Err(from_sdk(e)),
    }
    wait_until(client, table, None, &progress).await?;
    Ok(Outcome::Done)
}

/// Polls until the table has `status` (or, for `None`, no longer exists).
async fn wait_until(
    client: &Client,
    table: &str,
    status: Option<TableStatus>,
    progress: &impl Fn(&str),
) -> Result<(), StoreError> {
    let started = tokio::time::Instant::now();
    let mut last_seen = None;
    loop {
        let current = match client.describe_table().table_name(table).send().await {
            Ok(described) => described.table().and_then(|t| t.table_status().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(from_sdk(e)),
        };
        if current == status {
            return Ok(());
        }
        if current != last_seen {
            if let Some(seen) = &current {
                progress(&format!("Table {table} is {}", seen.as_str()));
            }
            last_seen = current;
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(StoreError::Unavailable(format!(
                "table {table} did not settle within {WAIT_LIMIT:?}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
