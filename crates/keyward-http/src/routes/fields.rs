//! Form and query fields, each given once (product decision 00-product §1 "Repeated form
//! fields"): a field repeated in a multipart form, in the query string, or in both is merged when
//! it is a list ([`LIST_FIELDS`]: the values joined with `,`, the list separator) and refused
//! otherwise ([`messages::field_repeated`]); never silently reduced to one value.
//!
//! Every multipart reader (`file_import::read_form`, the certificate upload, the JWK file import)
//! adds its text fields through [`add`] and its file part through [`once`]; every handler that
//! reads the query string as a map takes [`QueryFields`].

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::error::{ApiError, ApiResult};
use crate::messages;

/// Fields whose value is a comma-separated list: repeating them adds to the list.
pub const LIST_FIELDS: &[&str] = &["environmentList"];

/// Adds one field to `fields`: a list field is merged with the values already there, any other
/// field must not be there yet.
pub fn add(fields: &mut HashMap<String, String>, name: String, value: String) -> ApiResult<()> {
    match fields.get_mut(&name) {
        None => {
            fields.insert(name, value);
            Ok(())
        }
        Some(list) if LIST_FIELDS.contains(&name.as_str()) => {
            if !value.trim().is_empty() {
                if !list.trim().is_empty() {
                    list.push(',');
                }
                list.push_str(&value);
            }
            Ok(())
        }
        Some(_) => Err(ApiError::bad_request(messages::field_repeated(&name))),
    }
}

/// Adds every query parameter to the fields of a form (the query and the form are one set of
/// fields: a field in both is a repeat).
pub fn add_query(
    fields: &mut HashMap<String, String>,
    query: HashMap<String, String>,
) -> ApiResult<()> {
    // Sorted, so that which of two repeats is named does not depend on hashing.
    let mut pairs: Vec<(String, String)> = query.into_iter().collect();
    pairs.sort();
    for (name, value) in pairs {
        add(fields, name, value)?;
    }
    Ok(())
}

/// Sets a part that may be given once (a file part).
pub fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> ApiResult<()> {
    if slot.is_some() {
        return Err(ApiError::bad_request(messages::field_repeated(name)));
    }
    *slot = Some(value);
    Ok(())
}

/// The query string as a map, each parameter given once (lists merged), by [`add`].
pub struct QueryFields(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryFields {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::bad_request(messages::query_unreadable(&e.body_text())))?;
        let mut fields = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            add(&mut fields, name, value)?;
        }
        Ok(QueryFields(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_merge_and_other_fields_are_refused() {
        let mut f = HashMap::new();
        add(&mut f, "environmentList".into(), "a".into()).unwrap();
        add(&mut f, "environmentList".into(), "b, c".into()).unwrap();
        add(&mut f, "environmentList".into(), " ".into()).unwrap();
        assert_eq!(f["environmentList"], "a,b, c");
        add(&mut f, "alias".into(), "x".into()).unwrap();
        let err = add(&mut f, "alias".into(), "x".into()).unwrap_err();
        assert_eq!(err.message, "Field alias must be given once!");
        assert_eq!(f["alias"], "x");

        let mut q = HashMap::new();
        q.insert("environmentList".to_owned(), "d".to_owned());
        add_query(&mut f, q).unwrap();
        assert_eq!(f["environmentList"], "a,b, c,d");
        let mut q = HashMap::new();
        q.insert("alias".to_owned(), "y".to_owned());
        assert!(add_query(&mut f, q).is_err());

        let mut file = None;
        once(&mut file, "jwkFile", 1).unwrap();
        assert!(once(&mut file, "jwkFile", 2).is_err());
        assert_eq!(file, Some(1));
    }
}
