//! The HAProxy backend: a HAProxy map (service -> backend of the active site)
//! rewritten atomically over the runtime API and persisted to the map file. It
//! implements [`orbit_core::Redirector`].
