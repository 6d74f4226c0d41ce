use rusqlite::ErrorCode;
use rusqlite::ffi;

use crate::store::StoreError;

/// Maps engine errors to the store's terms: constraint hits become `AlreadyExists` (a taken key)
/// or `NotFound` (a missing owner), a locked database or a full disk is `Unavailable`.
pub(super) fn from_sqlite(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(err, _) => match (err.code, err.extended_code) {
            (ErrorCode::ConstraintViolation, ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
            | (ErrorCode::ConstraintViolation, ffi::SQLITE_CONSTRAINT_UNIQUE) => {
                StoreError::AlreadyExists
            }
            (ErrorCode::ConstraintViolation, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                StoreError::NotFound
            }
            (ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked, _) => {
                StoreError::Unavailable(e.to_string())
            }
            // The transaction is rolled back whole: nothing was written, and writes work
            // again once there is room.
            (ErrorCode::DiskFull, _) => StoreError::Unavailable(format!("the disk is full: {e}")),
            _ => StoreError::Internal(e.to_string()),
        },
        _ => StoreError::Internal(e.to_string()),
    }
}
