//! Drive errors: the shared Google error mapping (`contracts/google/ERRORS.md`).

pub use crate::google_oauth::error::map_google_error as map_error;
