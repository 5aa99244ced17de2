//! salesagent
