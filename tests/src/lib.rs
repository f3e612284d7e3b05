//! Shared helpers for orbit's end-to-end tests against real peers.
