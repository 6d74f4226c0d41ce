//! Black-box tests: the API over HTTP on a random port, the store contract, and the CLI binary.

mod api_auth;
mod api_lists;
mod api_login;
mod api_todos;
mod cli;
mod contract;
mod dynamodb;
mod helpers;
mod lambda;
mod routes;
#[path = "../support/runtime_api.rs"]
mod runtime_api;
mod template;
