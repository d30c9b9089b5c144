//! The core's refusals and faults: each carries the exact message the caller is shown, and a
//! [`Kind`] that a door turns into its own form (an HTTP status, a console alert, an exit status).

use keyward_store::StoreError;

use crate::heavy::HeavyError;
use crate::messages;

/// What kind of failure an operation met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is refused: validation, duplicates, unknown objects, inaccessible projects,
    /// permission denials (the API answers 400, as Apinizer does).
    Refused,
    /// A missing, unknown, expired or revoked credential, or bad credentials (401).
    Unauthenticated,
    /// An input over its configured limit (413).
    TooLarge,
    /// The bounded heavy-work pool had no turn for this request in time (503).
    Busy,
    /// A real fault: the detail is logged, never shown (500).
    Internal,
}

#[derive(Debug)]
pub struct CoreError {
    pub kind: Kind,
    /// The exact, user-facing message (from [`messages`]).
    pub message: String,
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    /// A refusal with its message.
    pub fn bad_request(message: impl Into<String>) -> CoreError {
        CoreError {
            kind: Kind::Refused,
            message: message.into(),
        }
    }

    /// A credential that does not authenticate.
    pub fn unauthorized(message: impl Into<String>) -> CoreError {
        CoreError {
            kind: Kind::Unauthenticated,
            message: message.into(),
        }
    }

    /// An input over `limit` bytes.
    pub fn too_large(limit: usize) -> CoreError {
        CoreError {
            kind: Kind::TooLarge,
            message: messages::body_too_large(limit),
        }
    }

    /// No turn on the heavy-work pool in time.
    pub fn busy(message: impl Into<String>) -> CoreError {
        CoreError {
            kind: Kind::Busy,
            message: message.into(),
        }
    }

    /// A real fault. The detail is logged, never shown.
    pub fn internal(detail: impl std::fmt::Display) -> CoreError {
        tracing::error!(error = %detail, "internal error");
        CoreError {
            kind: Kind::Internal,
            message: messages::SERVER_ERROR.into(),
        }
    }

    /// The caller lacks the permission the operation needs.
    pub fn denied() -> CoreError {
        CoreError::bad_request(messages::PERMISSION_DENIED)
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CoreError {}

impl From<HeavyError> for CoreError {
    fn from(e: HeavyError) -> CoreError {
        match e {
            HeavyError::Busy => CoreError::busy(messages::HEAVY_WORK_BUSY),
            other => CoreError::internal(other),
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> CoreError {
        match e {
            StoreError::Rejected(m) => CoreError::bad_request(m),
            StoreError::AliasInUse(a) => CoreError::bad_request(messages::alias_in_use(&a)),
            StoreError::KidTaken { kid, jwk } => {
                CoreError::bad_request(messages::jwk_kid_taken(&kid, &jwk))
            }
            // NotFound/AlreadyExists carry no name: callers map them with context first.
            other => CoreError::internal(other),
        }
    }
}
