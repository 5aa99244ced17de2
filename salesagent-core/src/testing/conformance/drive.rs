//! The drive conformance suite.
