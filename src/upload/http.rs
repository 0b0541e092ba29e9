//! The HTTP batch destination (stub; see the upload issue).
