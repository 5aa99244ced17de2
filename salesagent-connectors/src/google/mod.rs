//! Google: the Gmail, Drive and Calendar connectors and what they share.
//!
//! | what | where |
//! |---|---|
//! | the shared client builder (base URL, account, transport) | [`api`] |
//! | OAuth 2.0 consent, token exchange and refresh | [`oauth`] |
//! | Google error bodies and token-endpoint errors mapped onto the core error | [`error`] |
//! | the [`Mailbox`](salesagent_core::ports::Mailbox) over the Gmail API | [`gmail`] |
//! | the [`Drive`](salesagent_core::ports::Drive) over the Drive API | [`drive`] |
//! | the [`Calendar`](salesagent_core::ports::Calendar) over the Calendar API | [`calendar`] |
//!
//! The old top-level paths (`gmail`, `drive`, `calendar`, `google_api`, `google_oauth`) are
//! re-exported from the crate root and keep working.

pub mod api;
pub mod calendar;
pub mod drive;
pub mod error;
pub mod gmail;
pub mod oauth;
