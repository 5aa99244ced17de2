//! Follow-up sequences in the hosts, in one test binary: the operator API
//! (`GET /api/sequences/{email}`, manual stop, list, per-step figures), `cli sequences` end to
//! end, and the SQL stores (SQLite file, PostgreSQL when available) across a restart.

mod webhook_support;

#[path = "sequences/api.rs"]
mod api;
#[path = "sequences/cli.rs"]
mod cli;
#[path = "sequences/store.rs"]
mod store;
