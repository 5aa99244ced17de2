//! The in-memory store (coming next).
