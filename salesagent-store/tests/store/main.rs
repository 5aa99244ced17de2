//! Integration tests of `SqlStore` on SQLite (memory and file) and PostgreSQL.

mod audit;
mod checkpoint;
mod common;
mod conformance;
mod entities;
mod erase;
mod jobs;
mod operators;
mod privacy;
mod props;
mod send;
mod shared_pool;
