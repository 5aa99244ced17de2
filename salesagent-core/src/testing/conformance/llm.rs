//! The llm conformance suite.
