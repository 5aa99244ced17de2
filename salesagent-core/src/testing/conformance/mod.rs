//! Conformance suites: `pub async fn run(...)` per port, for any implementation to run against
//! itself inside a `#[tokio::test]`. A violation panics with a message naming the rule broken.
