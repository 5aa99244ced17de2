//! salesagent-store
