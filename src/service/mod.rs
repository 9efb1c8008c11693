//! placeholder: owned by its issue's worker.
