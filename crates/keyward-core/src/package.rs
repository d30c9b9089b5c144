//! Export packages of keys and keystores (reference §2.2.6–§2.2.7, §2.3.6–§2.3.7): the package
//! format, its optional passphrase encryption, and where an imported package's environments go.
//!
//! A package is a ZIP holding one entry, `package.json`:
//!
//! ```json
//! {"format":"keyward-package","version":1,"type":"CRYPTO_KEY_INFO","exportedAt":"…",
//!  "object":{"name":…,"description":…,"environments":[{"environmentName":…,"alias":…,…}]}}
//! ```
//!
//! An encrypted package hides even that entry's name: the whole ZIP is sealed with AES-256-GCM
//! under a key derived from the passphrase with Argon2id. Layout (all integers big-endian):
//!
//! ```text
//! "KWPKGENC" | version u8 (1) | m_cost KiB u32 | t_cost u32 | lanes u32 | salt [16] | nonce [12]
//! | AES-256-GCM(zip) with the 41 header bytes as additional data
//! ```
//!
//! The header is authenticated, so a changed parameter fails like a wrong passphrase. The KDF
//! parameters a package may demand are capped ([`MAX_M_COST_KIB`], [`MAX_T_COST`], [`MAX_LANES`],
//! [`MAX_WORK`]) so a crafted package cannot make an import pin a core or exhaust memory. Every
//! derivation runs on the heavy-work pool (`heavy.rs`), and at most [`KDF_SLOTS`] of them at once
//! (a memory cap inside the pool's CPU budget).

use std::collections::HashMap;
use std::sync::LazyLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::error::{CoreError, CoreResult};
use crate::heavy::HeavyWork;
use crate::messages;

pub const MAGIC: &[u8; 8] = b"KWPKGENC";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 8 + 1 + 4 + 4 + 4 + SALT_LEN + NONCE_LEN;

/// What an export uses: RFC 9106's second recommended option (64 MiB, 3 passes), one lane.
pub const EXPORT_M_COST_KIB: u32 = 64 * 1024;
pub const EXPORT_T_COST: u32 = 3;
pub const EXPORT_LANES: u32 = 1;

/// The most a package may ask of an import: 256 MiB, 10 passes, 4 lanes, and memory × passes at
/// most 4 × the export default.
pub const MAX_M_COST_KIB: u32 = 256 * 1024;
pub const MAX_T_COST: u32 = 10;
pub const MAX_LANES: u32 = 4;
pub const MAX_WORK: u64 = 4 * EXPORT_M_COST_KIB as u64 * EXPORT_T_COST as u64;

/// Concurrent passphrase derivations (each may hold up to 256 MiB); a slot is taken before the
/// heavy-work permit, so a derivation waiting for memory holds no core.
pub const KDF_SLOTS: usize = 2;
static KDF: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(KDF_SLOTS));

/// The name of the one entry of a package.
pub const ENTRY: &str = "package.json";
pub const FORMAT: &str = "keyward-package";

/// The header carrying the passphrase: base64 of its UTF-8 bytes.
pub const PASSPHRASE_HEADER: &str = "x-apinizer-package-passphrase";

/// Why a sealed package could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The header is malformed or asks for more work than allowed.
    Unreadable,
    /// The authentication tag did not verify: wrong passphrase or a changed package.
    WrongPassphrase,
}

/// Argon2id parameters of one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub lanes: u32,
}

impl KdfParams {
    pub const EXPORT: KdfParams = KdfParams {
        m_cost_kib: EXPORT_M_COST_KIB,
        t_cost: EXPORT_T_COST,
        lanes: EXPORT_LANES,
    };

    fn within_caps(self) -> bool {
        (1..=MAX_T_COST).contains(&self.t_cost)
            && (1..=MAX_LANES).contains(&self.lanes)
            && self.m_cost_kib >= 8 * self.lanes
            && self.m_cost_kib <= MAX_M_COST_KIB
            && u64::from(self.m_cost_kib) * u64::from(self.t_cost) <= MAX_WORK
    }

    fn derive(self, passphrase: &[u8], salt: &[u8]) -> Option<zeroize::Zeroizing<[u8; 32]>> {
        let params =
            argon2::Params::new(self.m_cost_kib, self.t_cost, self.lanes, Some(32)).ok()?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, salt, key.as_mut())
            .ok()?;
        Some(key)
    }
}

pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Seals `zip` under `passphrase`. CPU- and memory-heavy: call from a blocking task.
pub fn seal(zip: &[u8], passphrase: &[u8], params: KdfParams) -> Option<Vec<u8>> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).ok()?;
    getrandom::fill(&mut nonce).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + zip.len() + 16);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&params.m_cost_kib.to_be_bytes());
    out.extend_from_slice(&params.t_cost.to_be_bytes());
    out.extend_from_slice(&params.lanes.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    let key = params.derive(passphrase, &salt)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).ok()?;
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: zip,
                aad: &out[..HEADER_LEN],
            },
        )
        .ok()?;
    out.extend_from_slice(&sealed);
    Some(out)
}

/// The header's parameters, if the header is well-formed and within the caps.
pub fn sealed_params(bytes: &[u8]) -> Result<KdfParams, OpenError> {
    if bytes.len() < HEADER_LEN + 16 || !is_sealed(bytes) || bytes[8] != VERSION {
        return Err(OpenError::Unreadable);
    }
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let params = KdfParams {
        m_cost_kib: u32_at(9),
        t_cost: u32_at(13),
        lanes: u32_at(17),
    };
    if !params.within_caps() {
        return Err(OpenError::Unreadable);
    }
    Ok(params)
}

/// Opens a sealed package. CPU- and memory-heavy: call from a blocking task.
pub fn open(bytes: &[u8], passphrase: &[u8]) -> Result<Vec<u8>, OpenError> {
    let params = sealed_params(bytes)?;
    let salt = &bytes[21..21 + SALT_LEN];
    let nonce: [u8; NONCE_LEN] = bytes[21 + SALT_LEN..HEADER_LEN]
        .try_into()
        .map_err(|_| OpenError::Unreadable)?;
    let key = params
        .derive(passphrase, salt)
        .ok_or(OpenError::Unreadable)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| OpenError::Unreadable)?;
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &bytes[HEADER_LEN..],
                aad: &bytes[..HEADER_LEN],
            },
        )
        .map_err(|_| OpenError::WrongPassphrase)
}

/// The passphrase of the request: the value of the [`PASSPHRASE_HEADER`] decoded from base64
/// (`None` without the header).
pub fn passphrase(value: Option<&[u8]>) -> CoreResult<Option<zeroize::Zeroizing<Vec<u8>>>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = std::str::from_utf8(value)
        .map_err(|_| CoreError::bad_request(messages::PACKAGE_PASSPHRASE_NOT_BASE64))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bytes = keyward_jose::b64::decode_standard_lenient(text.trim())
        .map_err(|_| CoreError::bad_request(messages::PACKAGE_PASSPHRASE_NOT_BASE64))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    Ok(Some(zeroize::Zeroizing::new(bytes)))
}

/// Seals on the heavy-work pool, within the shared derivation slots.
pub async fn seal_blocking(
    heavy: &HeavyWork,
    zip: Vec<u8>,
    passphrase: zeroize::Zeroizing<Vec<u8>>,
) -> CoreResult<Vec<u8>> {
    let _slot = KDF.acquire().await.map_err(CoreError::internal)?;
    heavy
        .run(move || seal(&zip, &passphrase, KdfParams::EXPORT))
        .await?
        .ok_or_else(|| CoreError::bad_request(messages::PACKAGE_ENCRYPT_FAILED))
}

/// The ZIP inside an uploaded package: as is, or opened with the request's passphrase.
pub async fn unsealed(
    heavy: &HeavyWork,
    bytes: Vec<u8>,
    passphrase: Option<zeroize::Zeroizing<Vec<u8>>>,
) -> CoreResult<Vec<u8>> {
    if !is_sealed(&bytes) {
        return Ok(bytes);
    }
    let Some(passphrase) = passphrase else {
        return Err(CoreError::bad_request(messages::PACKAGE_NEEDS_PASSPHRASE));
    };
    // Refuse a crafted header before waiting for a derivation slot.
    sealed_params(&bytes).map_err(|_| CoreError::bad_request(messages::PACKAGE_UNREADABLE))?;
    let _slot = KDF.acquire().await.map_err(CoreError::internal)?;
    heavy
        .run(move || open(&bytes, &passphrase))
        .await?
        .map_err(|e| {
            CoreError::bad_request(match e {
                OpenError::Unreadable => messages::PACKAGE_UNREADABLE,
                OpenError::WrongPassphrase => messages::PACKAGE_WRONG_PASSPHRASE,
            })
        })
}

// ---- the package document ------------------------------------------------------------------------

/// `package.json`: one object of one type.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package<T> {
    pub format: String,
    pub version: u32,
    /// `CRYPTO_KEY_INFO` or `KEY_STORE` (the generic export/import type names).
    #[serde(rename = "type")]
    pub kind: String,
    pub exported_at: String,
    pub object: T,
}

/// A key in a package; `content` is what the store keeps (PKCS#8 PEM of a private key, the
/// public key as uploaded, the raw bytes of a secret key), base64.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyObject {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub key_type: String,
    #[serde(default)]
    pub algorithm: Option<String>,
    pub environments: Vec<KeyEnvironment>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyEnvironment {
    pub environment_name: String,
    #[serde(default)]
    pub alias: String,
    pub content: String,
}

/// A keystore in a package: the original file (base64) and what was extracted from it at import
/// (the keystore password is never stored, so the file alone could not be opened again).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreObject {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub environments: Vec<KeystoreEnvironment>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreEnvironment {
    pub environment_name: String,
    #[serde(default)]
    pub alias: String,
    pub key_store_type: String,
    pub file: String,
    pub extracted: super::keystores::Extracted,
}

pub const KIND_KEY: &str = "CRYPTO_KEY_INFO";
pub const KIND_KEYSTORE: &str = "KEY_STORE";

/// The ZIP of one package document.
pub fn zip_package<T: Serialize>(kind: &str, object: T) -> CoreResult<Vec<u8>> {
    use std::io::Write;
    let doc = Package {
        format: FORMAT.to_owned(),
        version: 1,
        kind: kind.to_owned(),
        exported_at: super::iso_ms(keyward_store::now_ms()),
        object,
    };
    let json =
        zeroize::Zeroizing::new(serde_json::to_vec_pretty(&doc).map_err(CoreError::internal)?);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(ENTRY, options)
        .map_err(CoreError::internal)?;
    zip.write_all(&json).map_err(CoreError::internal)?;
    Ok(zip.finish().map_err(CoreError::internal)?.into_inner())
}

/// The package document of kind `kind`, given the bytes of the ZIP's [`ENTRY`] (`None`: the ZIP
/// has no such entry).
pub fn read_package<T: for<'de> Deserialize<'de>>(
    entry: Option<&[u8]>,
    file_field: &str,
    kind: &str,
) -> CoreResult<T> {
    let not_a_package = || CoreError::bad_request(messages::not_a_package(file_field, kind));
    let entry = entry.ok_or_else(not_a_package)?;
    let header: Package<serde_json::Value> =
        serde_json::from_slice(entry).map_err(|_| not_a_package())?;
    if header.format != FORMAT || header.kind != kind {
        return Err(not_a_package());
    }
    if header.version != 1 {
        return Err(CoreError::bad_request(messages::package_version(
            header.version,
        )));
    }
    serde_json::from_value(header.object)
        .map_err(|e| CoreError::bad_request(messages::package_invalid(file_field, &e.to_string())))
}

// ---- where an imported package's environments go ------------------------------------------------

string_enum!(
    /// `certEnvironmentMergeMethod` of an overriding import.
    MergeMethod {
        MatchByName = "MATCH_BY_NAME",
        OverwriteAll = "OVERWRITE_ALL",
    }
);

string_enum!(
    /// `certEnvironmentUncoveredAction` of an overriding import.
    UncoveredAction {
        FillFromPackage = "FILL_FROM_PACKAGE",
        RemoveFromTarget = "REMOVE_FROM_TARGET",
    }
);

use crate::permissions::string_enum;

/// How a package is placed onto this server.
#[derive(Debug, Default)]
pub struct Placement {
    /// `environmentMapping` (used only when not overriding): package name → target name; an
    /// empty target skips the environment.
    pub mapping: Option<HashMap<String, String>>,
    pub merge: Option<MergeMethod>,
    pub uncovered: Option<UncoveredAction>,
}

/// Why a placement cannot be made.
#[derive(Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// Overriding would leave these target environments with their old material.
    Uncovered(Vec<String>),
    /// Two package environments land on this target.
    Repeated(String),
}

impl Placement {
    /// Target environment name → index of the package entry written there, in package order.
    /// `target` holds the environments of the object being overridden (`None`: a new object).
    pub fn place(
        &self,
        package_envs: &[&str],
        target: Option<&[&str]>,
    ) -> Result<Vec<(String, usize)>, PlacementError> {
        let mut out: Vec<(String, usize)> = Vec::new();
        let mut push = |env: String, i: usize| {
            if out.iter().any(|(e, _)| *e == env) {
                return Err(PlacementError::Repeated(env));
            }
            out.push((env, i));
            Ok(())
        };
        let Some(target) = target else {
            for (i, env) in package_envs.iter().enumerate() {
                let to = match self.mapping.as_ref().and_then(|m| m.get(*env)) {
                    Some(t) if t.trim().is_empty() => continue,
                    Some(t) => t.trim().to_owned(),
                    None => (*env).to_owned(),
                };
                push(to, i)?;
            }
            return Ok(out);
        };
        if package_envs.is_empty() {
            return Ok(out);
        }
        match self.merge.unwrap_or(MergeMethod::MatchByName) {
            MergeMethod::OverwriteAll => {
                for env in target {
                    push((*env).to_owned(), 0)?;
                }
            }
            MergeMethod::MatchByName => {
                for (i, env) in package_envs.iter().enumerate() {
                    push((*env).to_owned(), i)?;
                }
                let uncovered: Vec<String> = target
                    .iter()
                    .filter(|t| !package_envs.contains(t))
                    .map(|t| (*t).to_owned())
                    .collect();
                match (self.uncovered, uncovered.is_empty()) {
                    (_, true) | (Some(UncoveredAction::RemoveFromTarget), _) => {}
                    (Some(UncoveredAction::FillFromPackage), false) => {
                        for env in uncovered {
                            push(env, 0)?;
                        }
                    }
                    (None, false) => return Err(PlacementError::Uncovered(uncovered)),
                }
            }
        }
        Ok(out)
    }
}

/// The name an import without override uses: the package's, or `<name>-imported` (then
/// `-imported-2`, …) when that is taken.
pub fn free_name(name: &str, taken: impl Fn(&str) -> bool) -> Option<String> {
    if !taken(name) {
        return Some(name.to_owned());
    }
    let first = format!("{name}-imported");
    if !taken(&first) {
        return Some(first);
    }
    (2..=100)
        .map(|n| format!("{name}-imported-{n}"))
        .find(|c| !taken(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        m_cost_kib: 64,
        t_cost: 1,
        lanes: 1,
    };

    #[test]
    fn seal_round_trip_and_wrong_passphrase() {
        let sealed = seal(b"PK\x03\x04zip bytes", b"correct horse", FAST).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(9).any(|w| w == b"zip bytes"));
        assert_eq!(
            open(&sealed, b"correct horse").unwrap(),
            b"PK\x03\x04zip bytes"
        );
        assert_eq!(open(&sealed, b"wrong"), Err(OpenError::WrongPassphrase));
    }

    #[test]
    fn every_header_byte_is_authenticated() {
        let sealed = seal(b"payload", b"pw", FAST).unwrap();
        for i in 9..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(&bad, b"pw").is_err(), "byte {i} not authenticated");
        }
    }

    #[test]
    fn crafted_parameters_are_refused_before_any_work() {
        let sealed = seal(b"payload", b"pw", FAST).unwrap();
        for (at, value) in [
            (9, MAX_M_COST_KIB + 1),
            (9, u32::MAX),
            (13, 0),
            (13, MAX_T_COST + 1),
            (17, 0),
            (17, MAX_LANES + 1),
        ] {
            let mut bad = sealed.clone();
            bad[at..at + 4].copy_from_slice(&value.to_be_bytes());
            assert_eq!(
                open(&bad, b"pw"),
                Err(OpenError::Unreadable),
                "{at}={value}"
            );
        }
        // Memory and passes each within their cap, but not their product.
        let mut bad = sealed.clone();
        bad[9..13].copy_from_slice(&MAX_M_COST_KIB.to_be_bytes());
        bad[13..17].copy_from_slice(&MAX_T_COST.to_be_bytes());
        assert_eq!(sealed_params(&bad), Err(OpenError::Unreadable));
        assert!(KdfParams::EXPORT.within_caps());
        for len in 0..HEADER_LEN + 16 {
            assert_eq!(open(&sealed[..len], b"pw"), Err(OpenError::Unreadable));
        }
    }

    #[test]
    fn placement_without_override_maps_and_skips() {
        let p = Placement {
            mapping: Some(HashMap::from([
                ("UAT".to_owned(), "Production".to_owned()),
                ("Dev".to_owned(), " ".to_owned()),
            ])),
            ..Placement::default()
        };
        assert_eq!(
            p.place(&["UAT", "Dev", "Test"], None).unwrap(),
            vec![("Production".to_owned(), 0), ("Test".to_owned(), 2)]
        );
        let clash = Placement {
            mapping: Some(HashMap::from([("UAT".to_owned(), "Test".to_owned())])),
            ..Placement::default()
        };
        assert_eq!(
            clash.place(&["UAT", "Test"], None),
            Err(PlacementError::Repeated("Test".to_owned()))
        );
    }

    #[test]
    fn placement_with_override() {
        let target: &[&str] = &["Test", "Production"];
        let by_name = Placement::default();
        assert_eq!(
            by_name.place(&["Test"], Some(target)),
            Err(PlacementError::Uncovered(vec!["Production".to_owned()]))
        );
        assert_eq!(
            by_name
                .place(&["Test", "Production", "Dev"], Some(target))
                .unwrap(),
            vec![
                ("Test".to_owned(), 0),
                ("Production".to_owned(), 1),
                ("Dev".to_owned(), 2)
            ]
        );
        let fill = Placement {
            uncovered: Some(UncoveredAction::FillFromPackage),
            ..Placement::default()
        };
        assert_eq!(
            fill.place(&["Dev", "Test"], Some(target)).unwrap(),
            vec![
                ("Dev".to_owned(), 0),
                ("Test".to_owned(), 1),
                ("Production".to_owned(), 0)
            ]
        );
        let remove = Placement {
            uncovered: Some(UncoveredAction::RemoveFromTarget),
            ..Placement::default()
        };
        assert_eq!(
            remove.place(&["Test"], Some(target)).unwrap(),
            vec![("Test".to_owned(), 0)]
        );
        let all = Placement {
            merge: Some(MergeMethod::OverwriteAll),
            ..Placement::default()
        };
        assert_eq!(
            all.place(&["UAT", "Dev"], Some(target)).unwrap(),
            vec![("Test".to_owned(), 0), ("Production".to_owned(), 0)]
        );
    }

    #[test]
    fn free_names() {
        let taken = ["k", "k-imported", "k-imported-2"];
        assert_eq!(free_name("x", |n| taken.contains(&n)).unwrap(), "x");
        assert_eq!(
            free_name("k", |n| taken.contains(&n)).unwrap(),
            "k-imported-3"
        );
        assert_eq!(free_name("k", |_| true), None);
    }
}
