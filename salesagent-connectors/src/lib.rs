//! salesagent-connectors

pub mod outbox;
