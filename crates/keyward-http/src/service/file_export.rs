//! Raw file export of keys and keystores (reference §2.2.8, §2.3.8): one environment's file as it
//! is, or a ZIP of `<name>-<environment><ext>` entries, one per environment.

use std::io::Write;

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult};
use crate::messages;

/// One environment's exportable file.
pub struct ExportFile {
    pub environment_name: String,
    pub bytes: Vec<u8>,
    /// With the dot: `.pem`, `.der`, `.p12`, `.jks`, `.key`.
    pub extension: &'static str,
    pub content_type: &'static str,
}

/// The file of `environment`, or (without one) a ZIP `<name>-<zip_suffix>.zip` of every file.
pub fn export_response(
    name: &str,
    files: Vec<ExportFile>,
    environment: Option<&str>,
    zip_suffix: &str,
) -> ApiResult<Response> {
    let safe = name.replace(['"', '\\'], "");
    if let Some(env) = environment {
        let available: Vec<&str> = files.iter().map(|f| f.environment_name.as_str()).collect();
        let Some(file) = files.iter().find(|f| f.environment_name == env) else {
            return Err(ApiError::bad_request(
                messages::no_material_for_environment(name, env, &available),
            ));
        };
        let disposition = format!(
            "attachment; filename=\"{safe}-{}{}\"",
            env.replace(['"', '\\'], ""),
            file.extension
        );
        return Ok((
            [
                (header::CONTENT_TYPE, file.content_type.to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            file.bytes.clone(),
        )
            .into_response());
    }
    if files.is_empty() {
        return Err(ApiError::bad_request(messages::nothing_to_export(name)));
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for f in &files {
        zip.start_file(
            format!("{name}-{}{}", f.environment_name, f.extension),
            options,
        )
        .map_err(ApiError::internal)?;
        zip.write_all(&f.bytes).map_err(ApiError::internal)?;
    }
    let bytes = zip.finish().map_err(ApiError::internal)?.into_inner();
    let disposition = format!("attachment; filename=\"{safe}-{zip_suffix}.zip\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
