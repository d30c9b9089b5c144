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
        "{field} value is not valid! Use at most 200 visible characters, without spaces, control characters, invisible or bidirectional formatting characters (such as U+200B or U+202E), '/' or '\\'."
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

pub fn agent_token_only(environment: &str) -> String {
    format!(
        "This is an agent token of environment ({environment}): it can only follow that environment through the agent endpoints!"
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

/// 00-product §1: a project's JWKs never share a kid within an environment's published set.
pub fn jwk_kid_taken(kid: &str, holder: &str) -> String {
    format!(
        "JWK kid ({kid}) is already used by JWK (name: {holder}) in the same environment! Give another kid."
    )
}

pub const AGENT_TOKEN_NEEDS_DEPLOY: &str = "User does not have required permission for this operation! An agent token needs SECRETS DEPLOY_UNDEPLOY in at least one project.";

pub fn agent_name_taken(agent: &str) -> String {
    format!("Agent ({agent}) is already followed with another token! Give each agent its own name.")
}

pub const GENERATE_HAS_ITS_ENDPOINT: &str = "Source type (GENERATE) is not accepted here! Generate keys with POST /apiops/projects/{projectName}/jwks/generate.";

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

pub fn token_revoked(name: &str) -> String {
    format!("Token (name: {name}) is revoked.")
}

/// A token made with an expiring token is capped at the creator's expiry.
pub fn token_capped(expires_at: &str) -> String {
    format!(
        "expiresAt is {expires_at}: a token never outlives the token that created it, and the token used for this request expires then."
    )
}

pub const LAST_SYS_ADMIN: &str = "The last system admin can not be deleted or lose the system admin role! Make another user a system admin first.";
pub const CURRENT_PASSWORD_WRONG: &str =
    "currentPassword value is not the user's current password!";
pub const USER_NOTHING_TO_CHANGE: &str =
    "Nothing to change: give password (with currentPassword for your own) and/or sysAdmin!";
pub const OWN_PASSWORD_ONLY: &str = "A user may only change their own password; sysAdmin and other users' passwords are changed by a system admin!";

pub fn user_updated(name: &str) -> String {
    format!("User (name: {name}) is updated.")
}

pub fn user_deleted(name: &str, tokens: usize) -> String {
    format!("User (name: {name}) is deleted; its {tokens} token(s) are revoked.")
}

pub fn not_a_member(username: &str, project: &str) -> String {
    format!("User (name: {username}) is not a member of project ({project})!")
}

pub fn member_removed(username: &str, project: &str) -> String {
    format!("User (name: {username}) is removed from project ({project}).")
}

pub const ADMIN_PROJECT_UNDELETABLE: &str =
    "Project (admin) can not be deleted: its secrets are usable from every project!";

/// `2 certificates, 1 JWK` from `(count, singular, plural)`; the non-zero ones only.
fn what_is_left(counts: &[(i64, &str, &str)]) -> String {
    counts
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if *n == 1 { one } else { many }))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn project_not_empty(name: &str, c: &keyward_store::ProjectContents) -> String {
    format!(
        "Project (name: {name}) is not empty: it still holds {}! Delete them first, or add ?force=true to delete the project with everything in it.",
        what_is_left(&[
            (c.certificates, "certificate", "certificates"),
            (c.keys, "key", "keys"),
            (c.keystores, "keystore", "keystores"),
            (c.jwks, "JWK", "JWKs"),
        ])
    )
}

pub fn environment_not_empty(name: &str, c: &keyward_store::EnvironmentContents) -> String {
    format!(
        "Environment (name: {name}) is not empty: it still holds {}! Delete them first, or add ?force=true to delete the environment with everything in it.",
        what_is_left(&[
            (c.certificates, "certificate entry", "certificate entries"),
            (c.keys, "key entry", "key entries"),
            (c.keystores, "keystore entry", "keystore entries"),
            (c.jwks, "JWK derived from them", "JWKs derived from them"),
        ])
    )
}

pub fn project_deleted(name: &str) -> String {
    format!("Project (name: {name}) is deleted.")
}

pub fn environment_deleted(name: &str) -> String {
    format!("Environment (name: {name}) is deleted.")
}

pub fn parameter_repeated(name: &str) -> String {
    format!("{name} value is given more than once!")
}

pub const TOKEN_REQUEST_NOT_FORM: &str = "Request must be application/x-www-form-urlencoded with grant_type, client_id and client_secret!";

// ---- audit trail -------------------------------------------------------------------------------

pub fn audit_moment_invalid(field: &str, value: &str) -> String {
    format!(
        "{field} ({value}) is not valid! Use unix milliseconds or an RFC 3339 date-time (e.g. 2027-01-31T00:00:00Z)."
    )
}

pub fn audit_number_invalid(field: &str, value: &str, min: i64, max: i64) -> String {
    format!("{field} ({value}) is not valid! Use a whole number from {min} to {max}.")
}

pub const PASSWORD_TOO_SHORT: &str = "password value must have at least 8 characters!";

// ---- requests ----------------------------------------------------------------------------------

pub fn body_too_large(limit: usize) -> String {
    format!("Request body is larger than the limit of {limit} bytes!")
}

pub fn too_many_parts(max: usize) -> String {
    format!("Request body has more than {max} multipart parts!")
}

pub fn json_too_deep(max: usize) -> String {
    format!("Request body nests JSON arrays and objects deeper than {max} levels!")
}

pub fn json_duplicate_member(member: &str) -> String {
    let shown: String = member.chars().take(64).collect();
    format!("Request body gives the member {shown} more than once in one JSON object!")
}

/// A non-list form or query field given more than once (00-product §1).
pub fn field_repeated(field: &str) -> String {
    let shown: String = field.chars().take(64).collect();
    format!("Field {shown} must be given once!")
}

pub fn query_unreadable(detail: &str) -> String {
    format!("Query string could not be read: {detail}")
}

pub const BODY_UNREADABLE: &str = "Request body could not be read completely!";

pub const OVERLOADED: &str =
    "The server is handling too many requests at once! Try again in a moment (see Retry-After).";

pub fn request_timeout(limit: std::time::Duration) -> String {
    format!(
        "The request did not complete within {} and was stopped!",
        seconds(limit)
    )
}

pub fn body_timeout(limit: std::time::Duration) -> String {
    format!("The request body did not arrive within {}!", seconds(limit))
}

pub const PASSWORD_CHECKS_BUSY: &str =
    "The server is checking too many passwords at once! Try again in a moment (see Retry-After).";

pub const HEAVY_WORK_BUSY: &str = "The server is doing too much costly work at once (key decryption, keystores, packages, key generation)! Try again in a moment (see Retry-After).";

/// A source's derived JWKs kept changing while they were re-derived (`kind`: `Key`,
/// `Keystore`, `Certificate`).
pub fn jwks_changed_while_rederiving(kind: &str, name: &str) -> String {
    format!(
        "{kind} (name: {name}) or the JWKs derived from it kept changing while they were re-derived! Nothing was changed; try again."
    )
}

pub fn too_many_failures(wait: std::time::Duration) -> String {
    format!(
        "Too many failed authentication attempts from this address! Try again in {} (see Retry-After).",
        seconds(wait)
    )
}

/// `30 seconds`, `1 second`; whole seconds, rounded up.
fn seconds(d: std::time::Duration) -> String {
    let s = d.as_millis().div_ceil(1000).max(1);
    if s == 1 {
        "1 second".to_owned()
    } else {
        format!("{s} seconds")
    }
}

pub const SERVER_ERROR: &str = "An unexpected error occurred on the server; it has been logged.";

pub fn no_route(method: &str, path: &str) -> String {
    format!("No endpoint matches {method} {path}!")
}

// ---- keys and keystores ------------------------------------------------------------------------

pub fn key_not_found(name: &str) -> String {
    format!("Key (name: {name}) is not found!")
}

pub fn key_exists_on_create(name: &str) -> String {
    format!(
        "Key (name: {name}) is already exist! Try update operation if want to change its value."
    )
}

pub fn key_exists(name: &str) -> String {
    format!("Key (name: {name}) is already exist!")
}

/// `Unknown keyType (RSA)! Supported values: SECRET_KEY, PRIVATE_KEY, PUBLIC_KEY`
pub fn unknown_key_type(value: &str, accepted: &[&str]) -> String {
    format!(
        "Unknown keyType ({value})! Supported values: {}",
        accepted.join(", ")
    )
}

pub const SECRET_ALGORITHM_REQUIRED: &str =
    "algorithm is required for SECRET_KEY! Supported values: AES, DES, DESede, RSA";

/// `Unknown algorithm (foo)! Supported values: AES, DES, DESede, RSA`
pub fn unknown_key_algorithm(value: &str, accepted: &[&str]) -> String {
    format!(
        "Unknown algorithm ({value})! Supported values: {}",
        accepted.join(", ")
    )
}

pub fn key_content_not_pem_or_base64(key_type: &str) -> String {
    format!(
        "Key content is neither PEM nor valid Base64 for key type {key_type}! Send the PEM content Base64-encoded."
    )
}

pub const SECRET_CONTENT_NOT_BASE64: &str = "Key content is not valid Base64 for key type SECRET_KEY! Send the raw key bytes Base64-encoded.";

pub fn secret_key_length(algorithm: &str, accepted: &str, actual: usize) -> String {
    format!(
        "content of a {algorithm} secret key must be {accepted} bytes long, but it is {actual} bytes long!"
    )
}

pub const PRIVATE_KEY_EXPECTED: &str = "content of a PRIVATE_KEY must be a private key, but it is a public key or certificate! Use keyType PUBLIC_KEY for it.";

pub const PUBLIC_KEY_EXPECTED: &str = "content of a PUBLIC_KEY must be a public key or certificate, but it is a private key! Use keyType PRIVATE_KEY for it.";

pub fn environment_repeated(environment: &str, list: &str) -> String {
    format!("Environment ({environment}) appears more than once in {list}!")
}

pub fn keystore_not_found(name: &str) -> String {
    format!("Keystore (name: {name}) is not found!")
}

pub fn keystore_exists_on_create(name: &str) -> String {
    format!(
        "Keystore (name: {name}) is already exist! Try update operation if want to change its value."
    )
}

pub fn keystore_exists(name: &str) -> String {
    format!("Keystore (name: {name}) is already exist!")
}

pub const KEYSTORE_FILE_NOT_BASE64: &str =
    "file value must be the keystore file encoded in Base64!";

pub fn keystore_open_timeout(seconds: u64) -> String {
    format!("The keystore file could not be opened within {seconds} seconds!")
}

pub fn key_lacks_environment(name: &str, environment: &str) -> String {
    format!("Key (name: {name}) has no content for environment ({environment})!")
}

pub fn keystore_lacks_environment(name: &str, environment: &str) -> String {
    format!("Keystore (name: {name}) has no file for environment ({environment})!")
}

pub fn secret_key_not_convertible(name: &str) -> String {
    format!(
        "Key (name: {name}) is a SECRET_KEY; a JWK can only be derived from a PRIVATE_KEY or PUBLIC_KEY!"
    )
}

pub fn private_source_needs_private_key(name: &str) -> String {
    format!(
        "Key (name: {name}) is a PUBLIC_KEY; use sourceType PUBLIC_KEY to derive a JWK from it!"
    )
}

pub fn keystore_alias_is_secret(alias: &str, keystore: &str) -> String {
    format!(
        "Alias ({alias}) of keystore (name: {keystore}) holds a secret key; a JWK can only be derived from a private key or certificate entry!"
    )
}

pub fn rederive_from_failed(jwk: &str, source: &str, detail: &str) -> String {
    format!("JWK (name: {jwk}) can not be updated from the new {source}: {detail}")
}

// ---- JWK sources: URL, COPY_PASTE, GENERATE, files ---------------------------------------------

pub const URL_REQUIRED: &str = "URL is required for URL source type!";
pub const JWK_TYPE_EMPTY: &str = "JWK type can not be empty!";
pub const EXPIRATION_NOT_AFTER_NBF: &str = "expirationTime value must be after notBeforeTime!";
pub const JWK_IMPORT_NOT_MULTIPART: &str = "Request must be multipart/form-data with the fields jwkFile, jwkName, kid and (optionally) jwkDescription!";

pub fn out_of_range(field: &str, value: i64, max: i64) -> String {
    format!("{field} ({value}) is not valid! Accepted values: 1 to {max}")
}

pub fn jwk_fetch_failed(url: &str, reason: &str) -> String {
    format!("JWK can not be read from URL ({url}): {reason}!")
}

pub fn date_time_invalid(field: &str, value: &str) -> String {
    format!("{field} ({value}) is not valid! Use an ISO-8601 date-time, e.g. 2027-01-31T00:00:00Z")
}

pub fn wrap_key_size(alg: &str, need: u32, given: u32) -> String {
    format!("Algorithm {alg} needs a {need}-bit key, not {given} bits! Choose keySize {need}.")
}

pub fn jwk_symmetric_public_only(name: &str) -> String {
    format!(
        "JWK (name: {name}) is a symmetric (OCT) key and has no public part; export it with publicOnly=false!"
    )
}

/// `(signing-key) has no material for environment (prod)! Available: test, uat`
pub fn no_material_for_environment(name: &str, environment: &str, available: &[&str]) -> String {
    format!(
        "({name}) has no material for environment ({environment})! Available: {}",
        available.join(", ")
    )
}

pub fn nothing_to_export(name: &str) -> String {
    format!("({name}) carries no environment material to export!")
}

pub fn key_exists_on_import(name: &str) -> String {
    format!("Key (name: {name}) is already exist! Send override=true to update it.")
}

pub fn keystore_exists_on_import(name: &str) -> String {
    format!("Keystore (name: {name}) is already exist! Send override=true to update it.")
}

/// A partial update built on a state another request changed meanwhile.
pub fn changed_meanwhile(kind: &str, name: &str) -> String {
    format!(
        "{kind} (name: {name}) was changed by another request meanwhile; read it again and retry!"
    )
}

// ---- certificate files -------------------------------------------------------------------------

/// A ZIP import holds no `<certificateName>-<environmentName>.cer` entry (reference §2.1.8).
pub fn archive_without_certificate(name: &str) -> String {
    format!(
        "This archive holds no importable material for certificate ({name})! Entries must be named <certificateName>-<environmentName>.cer, as the export writes them."
    )
}

pub fn environment_left_out(environment: &str) -> String {
    format!("Environment ({environment}) was deliberately left out by the caller's mapping.")
}

pub fn archive_entry_ignored(entry: &str, name: &str) -> String {
    format!("Entry ({entry}) does not match {name}-<environmentName>.cer and was not imported.")
}

pub fn archive_entry_not_certificate(entry: &str, detail: &str) -> String {
    format!("Entry ({entry}) holds no readable certificate: {detail}")
}

pub fn truststore_empty(environment: &str) -> String {
    format!(
        "Environment ({environment}) reported no truststore certificate! The workers may be unreachable, or nothing is deployed to them."
    )
}

pub fn truststore_without_material(environment: &str, count: usize) -> String {
    format!(
        "Environment ({environment}) returned {count} truststore certificate(s) but none carried exportable material!"
    )
}

pub const BUNDLE_WITHOUT_FILE: &str = "The uploaded bundle holds no certificate file!";

/// `Certificate (notes) could not be imported: <reason>`
pub fn bundle_entry_failed(name: &str, reason: &str) -> String {
    format!("Certificate ({name}) could not be imported: {reason}")
}

/// `No certificate in this bundle could be imported! <each reason>`
pub fn bundle_nothing_imported(reasons: &[String]) -> String {
    format!(
        "No certificate in this bundle could be imported! {}",
        reasons.join(" ")
    )
}

pub fn zip_unsafe_entry_name(field: &str, entry: &str) -> String {
    format!(
        "{field} holds an entry with an unsafe name ({entry})! Entry names must be relative paths without '..'."
    )
}

pub fn zip_too_large(field: &str, limit: u64) -> String {
    format!("{field} unpacks to more than {limit} bytes!")
}

// ---- export packages (keys, keystores) -----------------------------------------------------------

pub const PACKAGE_PASSPHRASE_MISSING: &str =
    "Package encryption requested but no passphrase was supplied.";
pub const PACKAGE_ENCRYPT_FAILED: &str = "Export package could not be encrypted.";
pub const PACKAGE_NEEDS_PASSPHRASE: &str = "Package is encrypted; a passphrase is required.";
pub const PACKAGE_WRONG_PASSPHRASE: &str =
    "Package could not be decrypted with the given passphrase.";
pub const PACKAGE_UNREADABLE: &str = "Encrypted package could not be read.";
pub const PACKAGE_PASSPHRASE_NOT_BASE64: &str =
    "X-Apinizer-Package-Passphrase must be the Base64 of the UTF-8 passphrase!";

/// `keyExportFile parameter must be in zip file format and must end with zip extension!`
pub fn package_not_zip(field: &str) -> String {
    format!("{field} parameter must be in zip file format and must end with zip extension!")
}

pub fn not_a_package(field: &str, kind: &str) -> String {
    format!(
        "{field} is not an export package of type {kind}! Send the ZIP made by the matching export endpoint."
    )
}

pub fn package_version(version: u32) -> String {
    format!("Package format version {version} is not supported! Supported versions: 1")
}

pub fn package_invalid(field: &str, detail: &str) -> String {
    format!("{field} holds an invalid package: {detail}!")
}

/// The reference's sentence for an overriding import that would leave environments stale.
pub fn package_uncovered(kind: &str, name: &str, environments: &[String]) -> String {
    format!(
        "Replace Existing of {kind} '{name}' cannot proceed: the package carries no data for the target environment(s) {}, so they would keep their old material while the rest is replaced. Send the certEnvironmentUncoveredAction parameter with either FILL_FROM_PACKAGE (write the package's data onto them) or REMOVE_FROM_TARGET (drop them from the object) and import again.",
        environments.join(", ")
    )
}

pub fn package_environment_dropped(environment: &str) -> String {
    format!(
        "Environment ({environment}) of the package does not exist on this server; its material was not imported."
    )
}

pub fn package_no_environment(field: &str) -> String {
    format!(
        "{field} carries no material for an existing environment! Send environmentMapping to place the package's environments."
    )
}

pub fn package_entry_invalid(environment: &str, detail: &str) -> String {
    format!("The package's material for environment ({environment}) is invalid: {detail}")
}

pub fn no_free_import_name(name: &str) -> String {
    format!(
        "No free name left for importing ({name}): {name}-imported … {name}-imported-100 are all taken!"
    )
}

// ---- deployments and agents (docs/agent.md) ------------------------------------------------------

pub const NO_AGENTS: &str = "No agent is connected to this environment: the change is recorded, and agents apply it when they connect.";

pub fn agents_applied(agents: usize) -> String {
    format!("Applied by {agents} agent(s)")
}

pub fn agents_failed(failed: usize, agents: usize) -> String {
    format!("Deployment failed on {failed} of {agents} agent(s)")
}

pub fn agent_no_answer(revision: i64, wait: std::time::Duration) -> String {
    format!(
        "The agent did not acknowledge revision {revision} within {} ms",
        wait.as_millis()
    )
}

pub const JWKS_NOT_PUBLISHED: &str = "No JWKS is published at this address!";

pub fn agent_environment_mismatch(token_environment: &str, environment: &str) -> String {
    format!(
        "This agent token follows environment ({token_environment}), not environment ({environment})!"
    )
}

pub const AGENT_NAME_REQUIRED: &str = "agent value can not be empty!";

pub fn ack_revision(revision: i64, current: i64) -> String {
    format!(
        "revision ({revision}) is not valid! The environment is at revision {current}; acknowledge a revision from 0 to {current}."
    )
}
