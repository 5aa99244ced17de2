//! The mailbox conformance suite.
