//! Raw file import of keys and keystores (reference §2.2.9, §2.3.9): the multipart form, and the
//! files per environment — one file for the `environmentList`, or a ZIP made by `export-file`
//! whose `<name>-<environment>.<ext>` entries are matched by environment name or through
//! `environmentMapping`. `read_zip` is the one reader of uploaded ZIPs (keys, keystores,
//! certificate files): entry count, per-entry and total unpacked size capped, unsafe names refused.

use std::collections::HashMap;
use std::io::Read;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use keyward_store::Environment;

use super::fields;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::messages;
use keyward_core::environment_named;

/// Most multipart parts accepted.
/// Largest text field.
const MAX_TEXT_FIELD: usize = 64 * 1024;
/// Most entries read from an import ZIP, and the largest entry (uncompressed).
const MAX_ZIP_ENTRIES: usize = 64;
const MAX_ZIP_ENTRY: u64 = 4 << 20;
/// Most bytes read from all entries of one import ZIP together (uncompressed).
pub const MAX_ZIP_TOTAL: u64 = 16 << 20;

/// A read multipart form: text fields and the one file part.
pub struct Form {
    pub fields: HashMap<String, String>,
    /// `(file name, bytes)` of the file part.
    pub file: Option<(Option<String>, Vec<u8>)>,
}

impl Form {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A boolean field (`true`/`false`, default false).
    pub fn flag(&self, name: &str) -> ApiResult<bool> {
        match self.text(name).map(str::trim) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::bad_request(messages::not_one_of(
                name,
                v,
                &["true", "false"],
            ))),
        }
    }
}

/// Reads the form; query parameters are fields too. A field given twice (in the form, or in the
/// form and the query) is merged when it is a list and refused otherwise ([`fields`]).
pub async fn read_form(
    multipart: Result<Multipart, MultipartRejection>,
    query: HashMap<String, String>,
    file_field: &str,
    config: &crate::Config,
) -> ApiResult<Form> {
    let body_limit = config.body_limit;
    let max_parts = config.limits.max_parts;
    let broken = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(body_limit)
        } else {
            ApiError::bad_request(format!(
                "Request body is not valid multipart/form-data: {}",
                e.body_text()
            ))
        }
    };
    let mut mp = multipart.map_err(|e| {
        ApiError::bad_request(format!(
            "Request body must be multipart/form-data with a {file_field} part: {}",
            e.body_text()
        ))
    })?;
    let mut form = Form {
        fields: HashMap::new(),
        file: None,
    };
    let mut parts = 0;
    while let Some(field) = mp.next_field().await.map_err(broken)? {
        parts += 1;
        if parts > max_parts {
            return Err(ApiError::bad_request(messages::too_many_parts(max_parts)));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == file_field {
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(broken)?.to_vec();
            fields::once(&mut form.file, file_field, (file_name, bytes))?;
        } else {
            let bytes = field.bytes().await.map_err(broken)?;
            if bytes.len() > MAX_TEXT_FIELD {
                return Err(ApiError::bad_request(format!("{name} value is too long!")));
            }
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::bad_request(format!("{name} value is not valid UTF-8!")))?;
            fields::add(&mut form.fields, name, text)?;
        }
    }
    fields::add_query(&mut form.fields, query)?;
    Ok(form)
}

/// One file of an import ZIP.
pub struct ZipFile {
    /// The entry's name without its folders.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Reads every file of an import ZIP, within the caps: at most `MAX_ZIP_ENTRIES` entries, each
/// at most `MAX_ZIP_ENTRY` and all together at most `MAX_ZIP_TOTAL` bytes once unpacked (read
/// through `take()`, whatever the headers claim). An entry name that is absolute or climbs with
/// `..` refuses the whole archive. Folders are skipped.
pub fn read_zip(bytes: &[u8], file_field: &str) -> ApiResult<Vec<ZipFile>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        ApiError::bad_request(format!("{file_field} is not a readable ZIP file: {e}!"))
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "{file_field} holds more than {MAX_ZIP_ENTRIES} entries!"
        )));
    }
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| unreadable(&e))?;
        let raw = entry.name().map_err(|e| unreadable(&e))?.into_owned();
        let unsafe_name = raw.starts_with('/')
            || raw.starts_with('\\')
            || raw.as_bytes().get(1) == Some(&b':')
            || raw.split(['/', '\\']).any(|part| part == "..");
        if unsafe_name {
            return Err(ApiError::bad_request(messages::zip_unsafe_entry_name(
                file_field, &raw,
            )));
        }
        if entry.is_dir() {
            continue;
        }
        let name = raw
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_owned();
        let room = MAX_ZIP_TOTAL - total;
        let mut content = Vec::new();
        (&mut entry)
            .take(MAX_ZIP_ENTRY.min(room) + 1)
            .read_to_end(&mut content)
            .map_err(|e| unreadable(&e))?;
        let len = content.len() as u64;
        if len > MAX_ZIP_ENTRY {
            return Err(ApiError::bad_request(format!(
                "An entry of {file_field} is larger than {MAX_ZIP_ENTRY} bytes!"
            )));
        }
        if len > room {
            return Err(ApiError::bad_request(messages::zip_too_large(
                file_field,
                MAX_ZIP_TOTAL,
            )));
        }
        total += len;
        out.push(ZipFile {
            name,
            bytes: content,
        });
    }
    Ok(out)
}

pub fn is_zip(bytes: &[u8]) -> bool {
    // A local file header, or the end record that alone makes an empty archive.
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

pub fn mapping_error(raw: &str) -> ApiError {
    ApiError::bad_request(format!(
        "environmentMapping must be a JSON object of \"package environment name\":\"target environment name\" pairs (an empty value means \"do not transfer this environment\"). Received: {raw}"
    ))
}

/// The file of each target environment: the one file for every environment of `environmentList`,
/// or the entries of an `export-file` ZIP of object `name`.
pub async fn files_per_environment(
    app: &AppState,
    form: &Form,
    file_field: &str,
    name: &str,
) -> ApiResult<Vec<(Environment, Vec<u8>)>> {
    let bytes = match &form.file {
        Some((_, b)) if !b.iter().all(u8::is_ascii_whitespace) => b,
        _ => return Err(ApiError::bad_request(messages::empty(file_field))),
    };
    let mut out: Vec<(Environment, Vec<u8>)> = Vec::new();
    if !is_zip(bytes) {
        let list = form
            .text("environmentList")
            .ok_or_else(|| ApiError::bad_request(messages::empty("environmentList")))?;
        for env_name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let env = environment_named(app, env_name).await?;
            if !out.iter().any(|(e, _)| e.id == env.id) {
                out.push((env, bytes.clone()));
            }
        }
        if out.is_empty() {
            return Err(ApiError::bad_request(messages::empty("environmentList")));
        }
        return Ok(out);
    }
    let mapping: Option<HashMap<String, String>> = match form.text("environmentMapping") {
        None => None,
        Some(raw) => Some(serde_json::from_str(raw).map_err(|_| mapping_error(raw))?),
    };
    for entry in read_zip(bytes, file_field)? {
        let entry_name = entry.name;
        let stem = entry_name
            .rsplit_once('.')
            .map_or(entry_name.as_str(), |(s, _)| s);
        let package_env = stem.strip_prefix(&format!("{name}-")).unwrap_or(stem);
        let target = match &mapping {
            Some(m) => match m.get(package_env) {
                Some(t) if t.trim().is_empty() => continue,
                Some(t) => t.trim().to_owned(),
                None => package_env.to_owned(),
            },
            None => package_env.to_owned(),
        };
        let Some(env) = app
            .store
            .environment_by_name(&target)
            .await
            .map_err(ApiError::internal)?
        else {
            // Unmatched environments of a package are dropped.
            continue;
        };
        if !out.iter().any(|(e, _)| e.id == env.id) {
            out.push((env, entry.bytes));
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{file_field} holds no file for an existing environment! Name its entries <name>-<environmentName>.<ext> or send environmentMapping."
        )));
    }
    Ok(out)
}
