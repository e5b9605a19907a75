//! Fuzz driver (see the fuzz crate under dataplane/core/fuzz).
