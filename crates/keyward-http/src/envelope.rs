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

impl Success {
    /// The answer of a core mutation: its item, and the `deploymentResult` of its deployments,
    /// settled (the connected agents of each environment waited for, within `--deploy-wait`).
    pub async fn settled<T: Serialize>(
        publisher: &crate::publish::Publisher,
        mutation: keyward_core::Mutation<T>,
    ) -> Success {
        let (item, deployed) = mutation.into_parts();
        Success::one(item).deployment(publisher.settle(&deployed).await)
    }

    /// The answer of a core mutation whose result is a message (deletes of projects and
    /// environments): an empty list, the message, and the settled `deploymentResult`.
    pub async fn settled_message(
        publisher: &crate::publish::Publisher,
        mutation: keyward_core::Mutation<String>,
    ) -> Success {
        let (message, deployed) = mutation.into_parts();
        Success::empty()
            .message(message)
            .deployment(publisher.settle(&deployed).await)
    }
}

/// A file download of the core (`keyward_core::file_export`).
pub fn download(file: keyward_core::file_export::Download) -> Response {
    use axum::http::header;
    (
        [
            (header::CONTENT_TYPE, file.content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.filename),
            ),
        ],
        file.bytes,
    )
        .into_response()
}

/// [`Success::settled`] of a core mutation's result, for a handler's last line.
pub async fn settled<T: Serialize>(
    app: &crate::AppState,
    mutation: keyward_core::CoreResult<keyward_core::Mutation<T>>,
) -> crate::error::ApiResult<Success> {
    Ok(Success::settled(&app.publisher, mutation?).await)
}
