//! placeholder: process runner (own process group, timeout, capped output).
