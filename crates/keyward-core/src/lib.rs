//! keyward's core: the domain operations every door calls.
//!
//! The API (`keyward-http`), the console, the CLI and the scheduler are doors: they extract what a
//! caller sent, call a function of this crate and present its typed result. Every rule — who may
//! do what, what is valid, the exact message of each refusal, the audit record of each mutation
//! and the deployment it causes — lives here, once. This crate knows no HTTP and no UI (checked by
//! `tests/no_http.rs`).
