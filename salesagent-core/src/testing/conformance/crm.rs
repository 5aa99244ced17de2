//! The crm conformance suite.
