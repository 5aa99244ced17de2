//! The calendar conformance suite.
