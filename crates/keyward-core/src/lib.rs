//! keyward's core: the domain operations every door calls.
//!
//! The API (`keyward-http`), the console, the CLI and the scheduler are doors: they extract what a
//! caller sent, call a function of this crate and present its typed result. Every rule — who may
//! do what, what is valid, the exact message of each refusal, the audit record of each mutation
//! and the deployment it causes — lives here, once. This crate knows no HTTP and no UI (checked by
//! `tests/no_http.rs`).

pub mod agents;
pub mod auth;
pub mod certificates;
pub mod error;
pub mod file_export;
pub mod heavy;
pub mod identity;
pub mod jwk_sources;
pub mod jwks;
pub mod keys;
pub mod keystores;
pub mod messages;
pub mod package;
pub mod permissions;
mod rules;

pub use error::{CoreError, CoreResult, Kind};
pub use rules::*;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keyward_store::{EnvDeployment, Store};

use crate::auth::Auth;
use crate::heavy::HeavyWork;

/// What every operation works with: the store, the resolved-caller cache, the heavy-work pool
/// and the outbound fetcher. Cheap to clone; a door holds one.
#[derive(Clone)]
pub struct Core {
    pub store: Store,
    pub auth: Arc<Auth>,
    /// The bounded pool of every costly computation (`heavy.rs`).
    pub heavy: HeavyWork,
    /// Fetches JWK Sets by URL under the operator's policy (the SSRF guard is the door's:
    /// `keyward-http/src/fetch.rs`).
    pub fetcher: Arc<dyn Fetcher>,
}

/// How long a fetch may take and how much it may read.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub size_limit: usize,
}

/// A boxed future of a fetch: the body, or the sentence that says why there is none.
pub type Fetching<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// Fetches a document by URL (JWK Sets by URL). Implemented by the HTTP door with its
/// SSRF-guarded client; the core never opens a connection itself.
pub trait Fetcher: Send + Sync {
    fn fetch<'a>(&'a self, url: &'a str, limits: &'a FetchLimits) -> Fetching<'a>;
}

/// A committed mutation: its result and the deployments it caused, which a door must settle
/// (wait for the environments' agents, as long as `--deploy-wait` allows) and report as the
/// answer's `deploymentResult`. It cannot be dropped unnoticed.
#[must_use = "a mutation's deployments must be settled and reported (deploymentResult)"]
pub struct Mutation<T> {
    value: T,
    deployed: Vec<EnvDeployment>,
}

impl<T> Mutation<T> {
    pub fn new(value: T, deployed: Vec<EnvDeployment>) -> Mutation<T> {
        Mutation { value, deployed }
    }

    /// The result and the deployments to settle. Only a door's envelope calls this.
    pub fn into_parts(self) -> (T, Vec<EnvDeployment>) {
        (self.value, self.deployed)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Mutation<U> {
        Mutation {
            value: f(self.value),
            deployed: self.deployed,
        }
    }
}
