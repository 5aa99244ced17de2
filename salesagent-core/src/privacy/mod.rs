//! Privacy rules every store backend executes: the GDPR erasure plan ([`erasure`]).

pub mod erasure;

pub use erasure::{ErasureAction, ErasureStep, ErasureSubject, ErasureTally, erasure_audit_entry};
