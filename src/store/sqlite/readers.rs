//! Read connections, reused across requests. WAL lets them read while the writer commits.
//!
//! Reads run on the calling async worker itself. They are indexed lookups and page-sized range
//! scans of microseconds; handing each to a blocking thread cost more in context switches than
//! the query (profiled: two thirds of the CPU of a list request went to switching threads).

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

use super::error::from_sqlite;
use crate::store::StoreResult;

/// Idle connections kept for reuse; there are never more busy ones than async workers.
const MAX_IDLE: usize = 16;

pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let started = std::time::Instant::now();
        let conn = self.take()?;
        let result = work(&conn);
        self.give_back(conn);
        crate::store::record_latency("sqlite", started.elapsed());
        result
    }

    fn take(&self) -> StoreResult<Connection> {
        let reused = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match reused {
            Some(conn) => Ok(conn),
            None => super::open_connection(&self.path, true).map_err(from_sqlite),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}
