//! Raw file export of keys and keystores (reference §2.2.8, §2.3.8): one environment's file as it
//! is, or a ZIP of `<name>-<environment><ext>` entries, one per environment.

use std::io::Write;

use crate::error::{CoreError, CoreResult};
use crate::messages;

/// One environment's exportable file.
pub struct ExportFile {
    pub environment_name: String,
    pub bytes: Vec<u8>,
    /// With the dot: `.pem`, `.der`, `.p12`, `.jks`, `.key`.
    pub extension: &'static str,
    pub content_type: &'static str,
}

/// A download: its file name (already free of `"` and `\\`), media type and bytes.
pub struct Download {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The file of `environment`, or (without one) a ZIP `<name>-<zip_suffix>.zip` of every file.
pub fn export(
    name: &str,
    files: Vec<ExportFile>,
    environment: Option<&str>,
    zip_suffix: &str,
) -> CoreResult<Download> {
    let safe = name.replace(['"', '\\'], "");
    if let Some(env) = environment {
        let available: Vec<&str> = files.iter().map(|f| f.environment_name.as_str()).collect();
        let Some(file) = files.iter().find(|f| f.environment_name == env) else {
            return Err(CoreError::bad_request(
                messages::no_material_for_environment(name, env, &available),
            ));
        };
        return Ok(Download {
            filename: format!("{safe}-{}{}", env.replace(['"', '\\'], ""), file.extension),
            content_type: file.content_type,
            bytes: file.bytes.clone(),
        });
    }
    if files.is_empty() {
        return Err(CoreError::bad_request(messages::nothing_to_export(name)));
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for f in &files {
        zip.start_file(
            format!("{name}-{}{}", f.environment_name, f.extension),
            options,
        )
        .map_err(CoreError::internal)?;
        zip.write_all(&f.bytes).map_err(CoreError::internal)?;
    }
    let bytes = zip.finish().map_err(CoreError::internal)?.into_inner();
    Ok(Download {
        filename: format!("{safe}-{zip_suffix}.zip"),
        content_type: "application/octet-stream",
        bytes,
    })
}
