//! Validated domain types. Each is built only through `parse`/`TryFrom`, so a value that exists is
//! a value that passed its rules; handlers turn raw input into these first.

mod password;
mod session;
mod timestamp;
mod todo;
mod user;

pub use password::{LoginPassword, Password};
pub use session::{Revocations, Session, SessionKind};
pub use timestamp::Timestamp;
pub use todo::{Description, Metadata, Todo, TodoPatch, TodoState};
pub use user::{Email, User, Username};

/// Why a value was refused, in words meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
