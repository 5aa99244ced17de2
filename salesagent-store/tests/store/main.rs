//! Integration tests of `SqlStore` on SQLite (memory and file) and PostgreSQL.

mod common;
mod jobs;
