//! salesagent-connectors
