//! The success envelope: `{"status":"SUCCESS","success":true,"resultList":[…],"resultCount":N}`,
//! plus `resultMessage` when there is one and `deploymentResult` on mutations.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::deployment::DeploymentResult;

/// A successful answer under construction.
pub struct Success {
    list: Vec<Value>,
    message: Option<String>,
    deployment: Option<DeploymentResult>,
    unresolved: Vec<String>,
}

impl Success {
    pub fn list<T: Serialize>(items: impl IntoIterator<Item = T>) -> Success {
        Success {
            list: items
                .into_iter()
                .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
                .collect(),
            message: None,
            deployment: None,
            unresolved: Vec::new(),
        }
    }

    pub fn one<T: Serialize>(item: T) -> Success {
        Success::list([item])
    }

    pub fn empty() -> Success {
        Success {
            list: Vec::new(),
            message: None,
            deployment: None,
            unresolved: Vec::new(),
        }
    }

    pub fn message(mut self, message: impl Into<String>) -> Success {
        self.message = Some(message.into());
        self
    }

    /// Adds `unresolvedReferences` (file imports): what was left out, and why. Nothing is added
    /// when the list is empty.
    pub fn unresolved(mut self, references: Vec<String>) -> Success {
        self.unresolved = references;
        self
    }

    /// Adds the `deploymentResult` of a deploying mutation (see `Publisher::settle`).
    pub fn deployment(mut self, result: DeploymentResult) -> Success {
        self.deployment = Some(result);
        self
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        let mut body = json!({
            "status": "SUCCESS",
            "success": true,
            "resultCount": self.list.len(),
            "resultList": self.list,
        });
        if let Some(m) = self.message {
            body["resultMessage"] = Value::String(m);
        }
        if !self.unresolved.is_empty() {
            body["unresolvedReferences"] = json!(self.unresolved);
        }
        if let Some(d) = self.deployment {
            body["deploymentResult"] = serde_json::to_value(d).unwrap_or(Value::Null);
        }
        Json(body).into_response()
    }
}
