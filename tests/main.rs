//! The integration tests, one binary with a module per subject: they drive the `rolemine`
//! binary and a real PostgreSQL (`scripts/test` provides one) the way clients do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

mod console;
mod contract;
mod exports;
mod failover;
mod foundation;
mod hardening;
mod http_import;
mod import;
mod insights;
mod jobs;
mod listing;
mod metrics;
mod mining;
mod overlap;
mod potential_roles;
mod provisioning;
mod s3;
mod sdk;
mod sdk_typescript;
mod sessions;
