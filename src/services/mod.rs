//! The service layer: what the API and the command line ask of checkoff. Each capability has
//! one home that owns its store handle, caches and events and answers in domain outcomes, so a
//! rule (a quota, a change published, an order of writes) is kept once, whoever calls.

mod accounts;
mod changes;
mod error;
mod limits;
mod lists;
mod sessions;
mod sharing;
mod sync;
mod todos;

pub use accounts::{Accounts, create_account, may_manage};
pub use changes::{
    Change, ChangeFeed, STREAMS_PER_ACCOUNT, STREAMS_PER_ADDRESS, StreamLimits, StreamSlot, What,
};
pub use error::{ServiceError, ServiceResult};
pub use limits::AccountLimits;
pub use lists::{Counted, MAX_LISTS};
pub use sessions::{Grant, LISTED_SESSIONS, Sessions};
pub use sharing::{Access, MAX_MEMBERS, Member};
pub use sync::{Seen, Synced};
pub use todos::{Created, Todos};
