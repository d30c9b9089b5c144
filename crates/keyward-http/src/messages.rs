//! Every message keyward shows a user, in one place.
//!
//! The strings of the Apinizer reference are reproduced exactly; the others follow the same style
//! (name the field or object, end with `!`, list the accepted values).

/// `<field> value can not be empty!`
pub fn empty(field: &str) -> String {
    format!("{field} value can not be empty!")
}

/// `<field> (<value>) is not valid! Accepted values: A, B`
pub fn not_one_of(field: &str, value: &str, accepted: &[&str]) -> String {
    format!(
        "{field} ({value}) is not valid! Accepted values: {}",
        accepted.join(", ")
    )
}

pub fn invalid_name(field: &str) -> String {
    format!(
        "{field} value is not valid! Use at most 200 characters, without spaces, control characters, '/' or '\\'."
    )
}

pub fn project_not_accessible(project: &str) -> String {
    format!("Project ({project}) is not found or user does not have privilege to access it!")
}

pub fn environment_not_accessible(environment: &str) -> String {
    format!(
        "Environment ({environment}) is not found or user does not have privilege to access it!"
    )
}

pub const PERMISSION_DENIED: &str = "User does not have required permission for this operation!";

// ---- authentication (401) ----------------------------------------------------------------------

pub const TOKEN_MISSING: &str = "Empty Key! Client must be authenticated to access this resource.";
pub const TOKEN_INVALID: &str = "Token is not valid!";
pub const TOKEN_EXPIRED: &str = "Token was expired!";
pub const BAD_CREDENTIALS: &str = "Bad credentials";
pub const GRANT_TYPE: &str = "GrantType value must be client_credentials!";

// ---- certificates ------------------------------------------------------------------------------

pub fn certificate_not_found(name: &str) -> String {
    format!("Certificate (name: {name}) is not found!")
}

pub fn certificate_exists(name: &str) -> String {
    format!("Certificate (name: {name}) is already exist!")
}

pub fn alias_in_use(alias: &str) -> String {
    format!("Alias ({alias}) is already used for another certificate, try changing this value!")
}

pub fn certificate_lacks_environment(name: &str, environment: &str) -> String {
    format!("Certificate (name: {name}) has no content for environment ({environment})!")
}

pub const TRUSTSTORE_ADMIN_ONLY: &str =
    "Truststore certificates can only be listed in the admin project (projectName: admin)!";

// ---- JWKs --------------------------------------------------------------------------------------

pub const JWK_NAME_EMPTY: &str = "JWK name can not be empty!";
pub const SOURCE_TYPE_REQUIRED: &str = "Source type is required!";

pub fn jwk_not_found(name: &str) -> String {
    format!("JWK (name: {name}) is not found!")
}

pub fn jwk_not_found_for_update(name: &str) -> String {
    format!("JWK (name: {name}) is not found! Try create operation.")
}

pub fn jwk_exists_on_create(name: &str) -> String {
    format!(
        "JWK (name: {name}) is already exist! Try update operation if want to change its value."
    )
}

pub fn jwk_exists(name: &str) -> String {
    format!("JWK (name: {name}) is already exist!")
}

pub fn source_type_not_supported(source_type: &str) -> String {
    format!(
        "Source type ({source_type}) is not supported by this server yet! Supported source types: CERTIFICATE"
    )
}

pub fn rederive_failed(jwk: &str, detail: &str) -> String {
    format!("JWK (name: {jwk}) can not be updated from the new certificate: {detail}")
}

// ---- identity ----------------------------------------------------------------------------------

pub fn environment_exists(name: &str) -> String {
    format!("Environment (name: {name}) is already exist!")
}

pub fn project_exists(name: &str) -> String {
    format!("Project (name: {name}) is already exist!")
}

pub fn user_exists(name: &str) -> String {
    format!("User (name: {name}) is already exist!")
}

pub fn user_not_found(name: &str) -> String {
    format!("User (name: {name}) is not found!")
}

pub fn token_exists(name: &str) -> String {
    format!("Token (name: {name}) is already exist!")
}

pub fn token_not_found(name: &str) -> String {
    format!("Token (name: {name}) is not found!")
}

pub const EXPIRES_AT_INVALID: &str = "expiresAt value must be null or an RFC 3339 date-time in the future (e.g. 2027-01-31T00:00:00Z)!";

pub const PASSWORD_TOO_SHORT: &str = "password value must have at least 8 characters!";

// ---- requests ----------------------------------------------------------------------------------

pub fn body_too_large(limit: usize) -> String {
    format!("Request body is larger than the limit of {limit} bytes!")
}

pub const SERVER_ERROR: &str = "An unexpected error occurred on the server; it has been logged.";

pub fn no_route(method: &str, path: &str) -> String {
    format!("No endpoint matches {method} {path}!")
}
