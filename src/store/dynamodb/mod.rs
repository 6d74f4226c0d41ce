//! The DynamoDB store: one table in the layout of [`items`], one request per API call on the hot
//! paths, conditional writes instead of read-modify-write. Each role of the store is in its own
//! file ([`users`], [`sessions`], [`todos`], [`lists`], [`guard`]); the requests they share are in
//! [`request`].

mod attempts;
pub mod chalice;
mod error;
mod guard;
mod items;
mod lists;
mod request;
mod sessions;
mod sync;
mod table;
mod timing;
mod todos;
mod users;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use self::error::failed;
use self::items::{PK, SK, s};
use super::{Store, StoreResult};

pub use self::items::SHARDS;

/// The names of the table's keys and indexes, for whatever else defines the table.
pub mod layout {
    pub use super::items::{EXPIRES, GSI1, GSI1PK, GSI1SK, KEY_ATTRIBUTES, LSI1, LSI1SK, PK, SK};
}
pub use self::table::{create_table, delete_table};
pub use crate::aws::Outcome;

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
        Self::timed(client.config().to_builder(), table)
    }

    /// The store on the shared AWS configuration: its client made once, where `new` makes a
    /// second from the first (part of a Lambda cold start).
    pub async fn from_env(table: impl Into<String>) -> Self {
        Self::timed(crate::aws::config().await.into(), table)
    }

    fn timed(config: aws_sdk_dynamodb::config::Builder, table: impl Into<String>) -> Self {
        Self {
            client: Client::from_conf(config.interceptor(timing::Timing).build()),
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
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
            .map_err(failed("GetItem"))?;
        Ok(())
    }
}
