//! Black-box tests: the API over HTTP on a random port, the store contract, the CLI binary, the
//! Lambda entry under a Runtime API emulator, and the SAM template.

mod api_admin;
mod api_auth;
mod api_batch;
mod api_kept;
mod api_lists;
mod api_live;
mod api_login;
mod api_sessions;
mod api_sharing;
mod api_sync;
mod api_todos;
mod api_users;
mod attack;
mod cli;
mod contract;
mod dynamodb;
mod faults;
mod helpers;
mod instances;
mod lambda;
mod layers;
mod oidc;
mod planning;
// Also run as a process for the browser test (examples/oidc_provider.rs).
#[path = "../support/oidc_provider.rs"]
mod oidc_provider;
mod provider;
mod routes;
// Shared with the Lambda benchmark (examples/lambda_bench.rs), which uses all of it.
#[path = "../support/runtime_api.rs"]
#[allow(dead_code)]
mod runtime_api;
mod security;
mod sign_in;
mod template;
mod web;
