//! checkoff: a Todo REST API. `app(state)` is the whole service as an axum router; `service`
//! builds its state from the one settings value of `config`; the local server and the Lambda
//! entry both serve it.

pub mod api;
pub mod auth;
pub mod aws;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod domain;
mod entry;
mod files;
pub mod lambda;
pub mod server;
pub mod service;
pub mod services;
pub mod store;
pub mod telemetry;

pub use api::{AppState, app};
pub use config::{ServiceSettings, Settings};
