//! The directory writer of `keyward agent`: lays a bundle out under `--out` (`docs/agent.md`).
//!
//! Pure and synchronous (the loop runs it in `spawn_blocking`). Rules:
//! - every name is made safe (`[A-Za-z0-9._-]`, anything else becomes `_`, no leading `.`, never
//!   empty); two objects whose safe names collide get `-2`, `-3`, … in the order of their original
//!   names, so the layout is deterministic;
//! - nothing is written outside `out` and no symbolic link inside it is followed: every directory on
//!   the way is created one level at a time and checked to be a real directory, and files are
//!   renamed over their names (a rename replaces a link, it does not write through it);
//! - each file is written to a temporary file in its own directory, flushed, given its mode, then
//!   renamed; a file whose bytes and mode are already right is not touched;
//! - the files of objects no longer deployed are removed, but only files listed in the manifest
//!   `out/.keyward-manifest` (what the agent wrote before); the manifest is widened *before* new
//!   files are written, so a crash never leaves a file the agent would not know to remove;
//! - `out/.keyward-revision` is written last.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, anyhow, bail};
use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::bundle::{Bundle, ProjectBundle};

/// The revision last applied, written last.
pub const REVISION_FILE: &str = ".keyward-revision";
/// What the agent wrote, so that it removes only its own files.
pub const MANIFEST_FILE: &str = ".keyward-manifest";
/// Present while the last `--on-change` command failed: the revision it failed for.
pub const ON_CHANGE_FAILED_FILE: &str = ".keyward-on-change-failed";
/// Prefix of temporary files (a leading `.`: no safe name can start with it).
const TEMP_PREFIX: &str = ".keyward-tmp-";
/// Longest safe base name (keyward's names have at most 200 characters), leaving room in 255 bytes
/// for a suffix and an extension.
const MAX_BASE: usize = 200;

const PUBLIC: u32 = 0o644;
const SECRET: u32 = 0o600;
const DIR_MODE: u32 = 0o755;
const OUT_MODE: u32 = 0o700;

/// One file to write, relative to `out` (`/`-separated safe components).
pub struct Planned {
    pub rel: String,
    pub bytes: Zeroizing<Vec<u8>>,
    pub mode: u32,
}

/// What one application did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Files created or replaced.
    pub written: usize,
    /// Files of objects no longer deployed that were removed.
    pub removed: usize,
}

impl Outcome {
    pub fn changed(&self) -> bool {
        self.written > 0 || self.removed > 0
    }
}

/// A name made safe for a file system: `[A-Za-z0-9._-]` kept, every other character (not byte)
/// becomes `_`; a leading `.` becomes `_` (so `.`, `..` and hidden names are impossible); an empty
/// name becomes `_`; at most `MAX_BASE` characters.
pub fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_BASE)
        .collect();
    if s.is_empty() {
        s.push('_');
    }
    if s.starts_with('.') {
        s.replace_range(0..1, "_");
    }
    s
}

/// Picks the first of `base`, `base-2`, `base-3`, … whose files (`base` + each suffix) are all free
/// in `taken`, and takes them.
fn allocate(taken: &mut HashSet<String>, base: &str, suffixes: &[&str]) -> String {
    let mut n = 1usize;
    loop {
        let candidate = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        if suffixes
            .iter()
            .all(|s| !taken.contains(&format!("{candidate}{s}")))
        {
            for s in suffixes {
                taken.insert(format!("{candidate}{s}"));
            }
            return candidate;
        }
        n += 1;
    }
}

/// Indices of `items` in the order of their original names (ties keep bundle order).
fn by_name<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| name(&items[a]).cmp(name(&items[b])));
    order
}

fn decode_base64(what: &str, text: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Base64::decode_vec(&compact)
        .map(Zeroizing::new)
        .map_err(|_| anyhow!("{what}: contentBase64 is not valid base64"))
}

fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

/// The certificate followed by its chain. `chainPem` holds the whole chain starting with the
/// certificate (keyward's server) or, from another server, possibly only the chain after it; both
/// give the same file (PEM line breaks do not matter in the comparison).
fn chain_file(pem: &str, chain: Option<&str>) -> String {
    match chain.filter(|c| !c.trim().is_empty()) {
        None => pem.to_string(),
        Some(c) if without_whitespace(c).starts_with(&without_whitespace(pem)) => c.to_string(),
        Some(c) => {
            let mut s = pem.to_string();
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(c);
            s
        }
    }
}

fn keystore_extension(keystore_type: Option<&str>) -> &'static str {
    match keystore_type.map(str::to_ascii_uppercase).as_deref() {
        Some("PKCS12") => ".p12",
        Some("JKS") => ".jks",
        Some("JCEKS") => ".jceks",
        _ => ".bin",
    }
}

fn plan_project(dir: &str, p: &ProjectBundle, files: &mut Vec<Planned>) -> anyhow::Result<()> {
    let mut push = |rel: String, bytes: Zeroizing<Vec<u8>>, mode: u32| {
        files.push(Planned { rel, bytes, mode })
    };

    let mut taken = HashSet::new();
    for i in by_name(&p.certificates, |c| &c.name) {
        let c = &p.certificates[i];
        let base = allocate(&mut taken, &sanitize(&c.name), &[".pem", "-chain.pem"]);
        push(
            format!("{dir}/certificates/{base}.pem"),
            Zeroizing::new(c.pem.as_bytes().to_vec()),
            PUBLIC,
        );
        push(
            format!("{dir}/certificates/{base}-chain.pem"),
            Zeroizing::new(chain_file(&c.pem, c.chain_pem.as_deref()).into_bytes()),
            PUBLIC,
        );
    }

    let mut taken = HashSet::new();
    for i in by_name(&p.keys, |k| &k.name) {
        let k = &p.keys[i];
        let what = || format!("key {:?} of project {:?}", k.name, p.name);
        let (ext, bytes) = match (&k.pem, &k.content_base64) {
            (Some(pem), _) => (".pem", Zeroizing::new(pem.as_bytes().to_vec())),
            // A secret key's raw bytes; any other key the server holds in binary form (DER).
            (None, Some(b64)) if k.key_type.as_deref() == Some("SECRET_KEY") => {
                (".key", decode_base64(&what(), b64)?)
            }
            (None, Some(b64)) => (".der", decode_base64(&what(), b64)?),
            (None, None) => bail!(
                "key {:?} of project {:?} has neither pem nor contentBase64",
                k.name,
                p.name
            ),
        };
        let base = allocate(&mut taken, &sanitize(&k.name), &[ext]);
        push(format!("{dir}/keys/{base}{ext}"), bytes, SECRET);
    }

    let mut taken = HashSet::new();
    for i in by_name(&p.keystores, |k| &k.name) {
        let k = &p.keystores[i];
        let ext = keystore_extension(k.keystore_type.as_deref());
        let bytes = decode_base64(
            &format!("keystore {:?} of project {:?}", k.name, p.name),
            &k.content_base64,
        )?;
        let base = allocate(&mut taken, &sanitize(&k.name), &[ext]);
        push(format!("{dir}/keystores/{base}{ext}"), bytes, SECRET);
    }

    let empty = serde_json::json!({ "keys": [] });
    let jwks = p.jwks.as_ref().filter(|v| !v.is_null()).unwrap_or(&empty);
    push(
        format!("{dir}/jwks.json"),
        Zeroizing::new(serde_json::to_vec(jwks)?),
        PUBLIC,
    );
    if let Some(private) = p.private_jwks.as_ref().filter(|v| !v.is_null()) {
        push(
            format!("{dir}/jwks-private.json"),
            Zeroizing::new(serde_json::to_vec(private)?),
            SECRET,
        );
    }
    Ok(())
}

/// Every file of a bundle, with its path relative to `out`, its bytes and its mode.
pub fn plan(bundle: &Bundle) -> anyhow::Result<Vec<Planned>> {
    let mut files = Vec::new();
    let mut taken = HashSet::new();
    for i in by_name(&bundle.projects, |p| &p.name) {
        let p = &bundle.projects[i];
        let dir = allocate(&mut taken, &sanitize(&p.name), &[""]);
        plan_project(&dir, p, &mut files)?;
    }
    Ok(files)
}

/// `OUT/.keyward-manifest`: the files and directories the agent wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
}

impl Manifest {
    fn to_bytes(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let mut v = serde_json::to_vec_pretty(self)?;
        v.push(b'\n');
        Ok(Zeroizing::new(v))
    }
}

/// A manifest entry is trusted only if it is made of safe components (it could have been edited).
fn safe_rel(rel: &str) -> bool {
    !rel.is_empty() && rel.split('/').all(|c| !c.is_empty() && sanitize(c) == c)
}

/// The previous manifest; a missing or unreadable one is empty (nothing is removed).
fn read_manifest(out: &Path) -> Manifest {
    let path = out.join(MANIFEST_FILE);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        _ => return Manifest::default(),
    }
    let Ok(bytes) = fs::read(&path) else {
        return Manifest::default();
    };
    let mut m: Manifest = serde_json::from_slice(&bytes).unwrap_or_default();
    m.files.retain(|f| safe_rel(f));
    m.dirs.retain(|d| safe_rel(d));
    m
}

/// Creates `out` (0700) if it does not exist; it must be a directory (it may be a link the
/// operator made: `out` itself is trusted, what is inside it is not).
fn ensure_out(out: &Path) -> anyhow::Result<()> {
    if fs::symlink_metadata(out).is_err() {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        match DirBuilder::new().mode(OUT_MODE).create(out) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", out.display())),
        }
    }
    let m = fs::metadata(out).with_context(|| format!("cannot read {}", out.display()))?;
    if !m.is_dir() {
        bail!("{} is not a directory", out.display());
    }
    Ok(())
}

fn real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir())
}

/// Creates `out/rel` one level at a time (0755), checking that every level is a real directory and
/// not a link or a file put there.
fn ensure_dir(out: &Path, rel: &str) -> anyhow::Result<()> {
    let mut path = out.to_path_buf();
    for component in rel.split('/') {
        path.push(component);
        if fs::symlink_metadata(&path).is_err() {
            match DirBuilder::new().mode(DIR_MODE).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
        if !real_dir(&path) {
            bail!(
                "{} is not a directory (a link or a file is in its place); refusing to write through it",
                path.display()
            );
        }
    }
    Ok(())
}

/// Whether every directory between `out` and the file `rel` is a real directory.
fn parents_are_real(out: &Path, rel: &str) -> bool {
    let mut path = out.to_path_buf();
    let components: Vec<&str> = rel.split('/').collect();
    for c in &components[..components.len() - 1] {
        path.push(c);
        if !real_dir(&path) {
            return false;
        }
    }
    true
}

/// Every directory that holds a planned file (parents before children).
fn dirs_of<'a>(files: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for f in files {
        let mut end = 0;
        while let Some(i) = f[end..].find('/') {
            end += i;
            dirs.insert(f[..end].to_string());
            end += 1;
        }
    }
    dirs
}

/// Removes temporary files a crashed run left in `dir`.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let is_temp = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if is_temp && e.file_type().is_ok_and(|t| !t.is_dir()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether `path` already is a regular file with exactly these bytes and this mode.
fn same_file(path: &Path, bytes: &[u8], mode: u32) -> bool {
    let Ok(m) = fs::symlink_metadata(path) else {
        return false;
    };
    if !m.file_type().is_file() || m.mode() & 0o7777 != mode || m.len() != bytes.len() as u64 {
        return false;
    }
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut current = Zeroizing::new(Vec::with_capacity(bytes.len()));
    f.read_to_end(&mut current).is_ok() && current.as_slice() == bytes
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `out/rel` atomically unless it already holds these bytes with this mode; whether it wrote.
fn write_if_changed(out: &Path, rel: &str, bytes: &[u8], mode: u32) -> anyhow::Result<bool> {
    let path = out.join(rel);
    if same_file(&path, bytes, mode) {
        return Ok(false);
    }
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_dir()) {
        bail!(
            "{} is a directory; cannot write a file there",
            path.display()
        );
    }
    let dir = path.parent().unwrap_or(out);
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        // The umask may have taken bits away: set the mode exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&temp, &path)?;
        sync_dir(dir)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(true)
}

/// Lays `bundle` out under `out`; see the module documentation.
pub fn apply(out: &Path, bundle: &Bundle) -> anyhow::Result<Outcome> {
    let files = plan(bundle)?;
    ensure_out(out)?;
    remove_leftovers(out);
    let old = read_manifest(out);
    let new = Manifest {
        files: files.iter().map(|f| f.rel.clone()).collect(),
        dirs: dirs_of(files.iter().map(|f| f.rel.as_str())),
    };

    // Intent first: whatever is about to be written is in the manifest before it exists.
    if !new.files.is_subset(&old.files) || !new.dirs.is_subset(&old.dirs) {
        let union = Manifest {
            files: old.files.union(&new.files).cloned().collect(),
            dirs: old.dirs.union(&new.dirs).cloned().collect(),
        };
        write_if_changed(out, MANIFEST_FILE, &union.to_bytes()?, PUBLIC)?;
    }

    for d in &new.dirs {
        ensure_dir(out, d)?;
        remove_leftovers(&out.join(d));
    }
    let mut outcome = Outcome::default();
    for f in &files {
        if write_if_changed(out, &f.rel, &f.bytes, f.mode)? {
            outcome.written += 1;
        }
    }

    for gone in old.files.difference(&new.files) {
        if !parents_are_real(out, gone) {
            continue;
        }
        let path = out.join(gone);
        match fs::symlink_metadata(&path) {
            Ok(m) if !m.file_type().is_dir() => {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                outcome.removed += 1;
                if let Some(parent) = path.parent() {
                    let _ = sync_dir(parent);
                }
            }
            _ => {}
        }
    }
    // Deepest first; a directory that still holds something (e.g. a file the operator put there)
    // stays.
    let gone_dirs: Vec<&String> = old.dirs.difference(&new.dirs).collect();
    for gone in gone_dirs.into_iter().rev() {
        if parents_are_real(out, gone) && real_dir(&out.join(gone)) {
            let _ = fs::remove_dir(out.join(gone));
        }
    }

    write_if_changed(out, MANIFEST_FILE, &new.to_bytes()?, PUBLIC)?;
    write_if_changed(
        out,
        REVISION_FILE,
        format!("{}\n", bundle.revision).as_bytes(),
        PUBLIC,
    )?;
    Ok(outcome)
}

/// Records (`Some(revision)`) or clears (`None`) that the on-change command failed.
pub fn mark_on_change_failed(out: &Path, revision: Option<u64>) -> anyhow::Result<()> {
    match revision {
        Some(r) => {
            write_if_changed(
                out,
                ON_CHANGE_FAILED_FILE,
                format!("{r}\n").as_bytes(),
                PUBLIC,
            )?;
        }
        None => match fs::remove_file(out.join(ON_CHANGE_FAILED_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("cannot remove the on-change failure mark"),
        },
    }
    Ok(())
}

/// The revision the on-change command last failed for, if its failure is not yet repaired.
pub fn on_change_failed(out: &Path) -> Option<u64> {
    let path = out.join(ON_CHANGE_FAILED_FILE);
    if !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
        return None;
    }
    Some(fs::read_to_string(path).ok()?.trim().parse().unwrap_or(0))
}

/// The revision last applied in `out`, if any.
pub fn applied_revision(out: &Path) -> Option<u64> {
    fs::read_to_string(out.join(REVISION_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::bundle::{CertificateEntry, KeyEntry, KeystoreEntry};
    use serde_json::json;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, SystemTime};

    fn cert(name: &str, pem: &str, chain: Option<&str>) -> CertificateEntry {
        CertificateEntry {
            name: name.into(),
            alias: Some(name.into()),
            pem: pem.into(),
            chain_pem: chain.map(Into::into),
        }
    }

    fn pem_key(name: &str, pem: &str) -> KeyEntry {
        KeyEntry {
            name: name.into(),
            key_type: Some("PRIVATE_KEY".into()),
            algorithm: Some("RSA".into()),
            pem: Some(pem.into()),
            content_base64: None,
        }
    }

    fn secret_key(name: &str, raw: &[u8]) -> KeyEntry {
        KeyEntry {
            name: name.into(),
            key_type: Some("SECRET_KEY".into()),
            algorithm: Some("AES".into()),
            pem: None,
            content_base64: Some(Base64::encode_string(raw)),
        }
    }

    fn keystore(name: &str, ty: &str, raw: &[u8]) -> KeystoreEntry {
        KeystoreEntry {
            name: name.into(),
            keystore_type: Some(ty.into()),
            content_base64: Base64::encode_string(raw),
        }
    }

    fn project(name: &str) -> ProjectBundle {
        ProjectBundle {
            name: name.into(),
            certificates: vec![],
            keys: vec![],
            keystores: vec![],
            jwks: Some(json!({"keys": []})),
            private_jwks: None,
        }
    }

    fn bundle(revision: u64, projects: Vec<ProjectBundle>) -> Bundle {
        Bundle {
            environment_name: "production".into(),
            revision,
            projects,
        }
    }

    fn full() -> Bundle {
        let mut p = project("payments");
        p.certificates = vec![cert("api", "CERT-API\n", Some("CERT-CA\n"))];
        p.keys = vec![
            pem_key("signer", "PRIVATE-SIGNER\n"),
            secret_key("hmac", b"\x00\x01secret"),
        ];
        p.keystores = vec![
            keystore("tls", "PKCS12", b"p12 bytes"),
            keystore("legacy", "JKS", b"jks bytes"),
            keystore("old", "JCEKS", b"jceks bytes"),
            keystore("odd", "BKS", b"other bytes"),
        ];
        p.jwks = Some(json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}));
        p.private_jwks = Some(
            json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB", "d": "x"}]}),
        );
        let mut q = project("billing");
        q.certificates = vec![cert("only", "CERT-ONLY\n", None)];
        bundle(7, vec![p, q])
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    /// Every entry under `dir`, relative, sorted (directories end with `/`).
    fn tree(dir: &Path) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, acc: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let rel = e.path().strip_prefix(base).unwrap().display().to_string();
                if e.file_type().unwrap().is_dir() {
                    acc.push(format!("{rel}/"));
                    walk(base, &e.path(), acc);
                } else {
                    acc.push(rel);
                }
            }
        }
        let mut acc = Vec::new();
        walk(dir, dir, &mut acc);
        acc.sort();
        acc
    }

    #[test]
    fn sanitize_rules() {
        assert_eq!(sanitize("api-1.v2_x"), "api-1.v2_x");
        assert_eq!(sanitize("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(sanitize("a/b"), "a_b");
        assert_eq!(sanitize("."), "_");
        assert_eq!(sanitize(".."), "_.");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize(".hidden"), "_hidden");
        assert_eq!(sanitize("ключ é"), "______");
        assert_eq!(sanitize("a\0b\nc"), "a_b_c");
        assert_eq!(sanitize(&"x".repeat(1000)).len(), MAX_BASE);
        for hostile in ["..", ".", "", "../x", "/", "a/../../b", ".keyward-revision"] {
            let s = sanitize(hostile);
            assert!(
                !s.starts_with('.') && !s.contains('/') && !s.is_empty(),
                "{hostile:?}"
            );
        }
    }

    #[test]
    fn layout_contents_and_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let outcome = apply(&out, &full()).unwrap();
        assert!(outcome.changed());
        assert_eq!(outcome.removed, 0);

        assert_eq!(
            tree(&out),
            [
                ".keyward-manifest",
                ".keyward-revision",
                "billing/",
                "billing/certificates/",
                "billing/certificates/only-chain.pem",
                "billing/certificates/only.pem",
                "billing/jwks.json",
                "payments/",
                "payments/certificates/",
                "payments/certificates/api-chain.pem",
                "payments/certificates/api.pem",
                "payments/jwks-private.json",
                "payments/jwks.json",
                "payments/keys/",
                "payments/keys/hmac.key",
                "payments/keys/signer.pem",
                "payments/keystores/",
                "payments/keystores/legacy.jks",
                "payments/keystores/odd.bin",
                "payments/keystores/old.jceks",
                "payments/keystores/tls.p12",
            ]
        );
        // Every file but the manifest and the revision.
        let files = tree(&out).iter().filter(|p| !p.ends_with('/')).count();
        assert_eq!(outcome.written, files - 2);
        let read = |rel: &str| fs::read(out.join(rel)).unwrap();
        assert_eq!(read("payments/certificates/api.pem"), b"CERT-API\n");
        assert_eq!(
            read("payments/certificates/api-chain.pem"),
            b"CERT-API\nCERT-CA\n"
        );
        assert_eq!(read("billing/certificates/only-chain.pem"), b"CERT-ONLY\n");
        assert_eq!(read("payments/keys/signer.pem"), b"PRIVATE-SIGNER\n");
        assert_eq!(read("payments/keys/hmac.key"), b"\x00\x01secret");
        assert_eq!(read("payments/keystores/tls.p12"), b"p12 bytes");
        assert_eq!(read("payments/keystores/odd.bin"), b"other bytes");
        let jwks: serde_json::Value = serde_json::from_slice(&read("payments/jwks.json")).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "k1");
        assert!(jwks["keys"][0].get("d").is_none());
        let private: serde_json::Value =
            serde_json::from_slice(&read("payments/jwks-private.json")).unwrap();
        assert_eq!(private["keys"][0]["d"], "x");
        assert_eq!(read("billing/jwks.json"), br#"{"keys":[]}"#);
        assert_eq!(read(".keyward-revision"), b"7\n");
        assert_eq!(applied_revision(&out), Some(7));

        assert_eq!(mode(&out), 0o700);
        for (rel, want) in [
            ("payments", 0o755),
            ("payments/keys", 0o755),
            ("payments/certificates/api.pem", 0o644),
            ("payments/certificates/api-chain.pem", 0o644),
            ("payments/jwks.json", 0o644),
            ("payments/jwks-private.json", 0o600),
            ("payments/keys/signer.pem", 0o600),
            ("payments/keys/hmac.key", 0o600),
            ("payments/keystores/tls.p12", 0o600),
            ("payments/keystores/odd.bin", 0o600),
            (".keyward-revision", 0o644),
        ] {
            assert_eq!(mode(&out.join(rel)), want, "{rel}");
        }
    }

    #[test]
    fn a_binary_key_that_is_not_secret_is_written_as_der() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut p = project("p");
        let mut k = secret_key("pub", b"\x30\x82");
        k.key_type = Some("PUBLIC_KEY".into());
        p.keys = vec![k, secret_key("s", b"raw")];
        apply(&out, &bundle(1, vec![p])).unwrap();
        assert_eq!(fs::read(out.join("p/keys/pub.der")).unwrap(), b"\x30\x82");
        assert_eq!(fs::read(out.join("p/keys/s.key")).unwrap(), b"raw");
        assert_eq!(mode(&out.join("p/keys/pub.der")), 0o600);
    }

    #[test]
    fn chain_pem_holding_the_whole_chain_is_not_doubled() {
        assert_eq!(chain_file("A\n", Some("A\nB\n")), "A\nB\n");
        assert_eq!(chain_file("A", Some("B\n")), "A\nB\n");
        assert_eq!(chain_file("A\n", Some("  ")), "A\n");
        // Other line breaks of the same certificate.
        assert_eq!(chain_file("AB\nCD\n", Some("ABC\nD\nE\n")), "ABC\nD\nE\n");
        assert_eq!(chain_file("A\n", None), "A\n");
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let b = full();
        apply(&out, &b).unwrap();
        let stamp = |rel: &str| {
            let m = fs::symlink_metadata(out.join(rel)).unwrap();
            (m.ino(), m.modified().unwrap())
        };
        // Make an mtime change observable even on coarse-grained file systems.
        std::thread::sleep(Duration::from_millis(20));
        let before: Vec<_> = tree(&out).iter().map(|r| (r.clone(), stamp(r))).collect();

        let mut again = b.clone();
        again.revision = 8;
        let outcome = apply(&out, &again).unwrap();
        assert_eq!(outcome, Outcome::default());
        assert!(!outcome.changed());
        for (rel, s) in &before {
            if rel != ".keyward-revision" && !rel.ends_with('/') {
                assert_eq!(&stamp(rel), s, "{rel} was rewritten");
            }
        }
        assert_eq!(applied_revision(&out), Some(8));

        // One object changes: only its file is replaced.
        let mut changed = again.clone();
        changed.revision = 9;
        changed.projects[0].keys[0].pem = Some("PRIVATE-SIGNER-2\n".into());
        let outcome = apply(&out, &changed).unwrap();
        assert_eq!(
            outcome,
            Outcome {
                written: 1,
                removed: 0
            }
        );
        assert_ne!(
            stamp("payments/keys/signer.pem"),
            before_of(&before, "payments/keys/signer.pem")
        );
        assert_eq!(
            stamp("payments/keys/hmac.key"),
            before_of(&before, "payments/keys/hmac.key")
        );

        // A file whose mode was changed by hand is put right (same bytes, wrong mode).
        fs::set_permissions(
            out.join("payments/keys/hmac.key"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let outcome = apply(&out, &changed).unwrap();
        assert_eq!(outcome.written, 1);
        assert_eq!(mode(&out.join("payments/keys/hmac.key")), 0o600);

        fn before_of(list: &[(String, (u64, SystemTime))], rel: &str) -> (u64, SystemTime) {
            list.iter().find(|(r, _)| r == rel).unwrap().1
        }
    }

    #[test]
    fn no_temporary_file_remains_and_leftovers_are_cleaned() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        apply(&out, &full()).unwrap();
        // A crashed run's leftover.
        fs::write(out.join("payments/keys/.keyward-tmp-1-1"), b"partial").unwrap();
        fs::write(out.join(".keyward-tmp-9-9"), b"partial").unwrap();
        let mut b = full();
        b.revision = 8;
        apply(&out, &b).unwrap();
        let temps: Vec<_> = tree(&out)
            .into_iter()
            .filter(|p| p.contains(TEMP_PREFIX))
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
    }

    #[test]
    fn undeployed_objects_are_removed_and_foreign_files_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        apply(&out, &full()).unwrap();
        // The operator's own files: never removed.
        fs::write(out.join("README"), b"mine").unwrap();
        fs::write(out.join("payments/keystores/notes.txt"), b"mine").unwrap();

        let mut b = full();
        b.revision = 8;
        b.projects.retain(|p| p.name == "payments");
        let p = &mut b.projects[0];
        p.keys.retain(|k| k.name != "hmac");
        p.keystores.clear();
        p.certificates.clear();
        p.private_jwks = None;
        let outcome = apply(&out, &b).unwrap();
        assert_eq!(outcome.written, 0);
        // billing: 3 files; hmac; 4 keystores; 2 certificate files; jwks-private.
        assert_eq!(outcome.removed, 3 + 1 + 4 + 2 + 1);
        assert_eq!(
            tree(&out),
            [
                ".keyward-manifest",
                ".keyward-revision",
                "README",
                "payments/",
                "payments/jwks.json",
                "payments/keys/",
                "payments/keys/signer.pem",
                "payments/keystores/",
                "payments/keystores/notes.txt",
            ]
        );
        // Everything undeployed.
        let outcome = apply(&out, &bundle(9, vec![])).unwrap();
        assert_eq!(outcome.removed, 2);
        assert_eq!(
            tree(&out),
            [
                ".keyward-manifest",
                ".keyward-revision",
                "README",
                "payments/",
                "payments/keystores/",
                "payments/keystores/notes.txt",
            ]
        );
    }

    #[test]
    fn hostile_names_stay_inside_out_and_collisions_are_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut p = project("../../escape");
        p.keys = vec![
            pem_key("../../etc/passwd", "A"),
            pem_key("a_b", "B"),
            pem_key("a/b", "C"),
            pem_key("ключ", "D"),
            pem_key("..", "E"),
            pem_key(".", "F"),
            pem_key("", "G"),
            pem_key(".hidden", "H"),
        ];
        p.certificates = vec![cert("x-chain", "X2", None), cert("x", "X1", None)];
        let mut q = project("..");
        q.keys = vec![pem_key("k", "Q")];
        let b = bundle(1, vec![p, q, project("/")]);
        apply(&out, &b).unwrap();
        // Nothing beside `out`.
        assert_eq!(
            tree(tmp.path())
                .iter()
                .filter(|p| !p.starts_with("out"))
                .count(),
            0
        );
        let t = tree(&out);
        let keys: Vec<_> = t
            .iter()
            .filter_map(|p| p.strip_prefix("_._.._escape/keys/"))
            .filter(|k| !k.is_empty())
            .collect();
        assert_eq!(
            keys,
            [
                "_._.._etc_passwd.pem",
                "_..pem",
                "_.pem",
                "_hidden.pem",
                "_-2.pem",
                "a_b-2.pem",
                "a_b.pem",
                "____.pem",
            ]
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        // Sorted by original name: "" < "." < ".." and "a/b" < "a_b".
        let read = |rel: &str| fs::read_to_string(out.join("_._.._escape/keys").join(rel)).unwrap();
        assert_eq!(read("_.pem"), "G"); // "" → "_"
        assert_eq!(read("_-2.pem"), "F"); // "." → "_", taken by "" first
        assert_eq!(read("_..pem"), "E"); // ".." → "_."
        assert_eq!(read("a_b.pem"), "C");
        assert_eq!(read("a_b-2.pem"), "B");
        // A certificate named "x-chain" does not overwrite the chain file of "x".
        let certs = out.join("_._.._escape/certificates");
        assert_eq!(fs::read_to_string(certs.join("x-chain.pem")).unwrap(), "X1");
        assert_eq!(
            fs::read_to_string(certs.join("x-chain-2.pem")).unwrap(),
            "X2"
        );
        assert_eq!(
            fs::read_to_string(certs.join("x-chain-2-chain.pem")).unwrap(),
            "X2"
        );
        assert_eq!(fs::read_to_string(out.join("_./keys/k.pem")).unwrap(), "Q");
        assert!(out.join("_/jwks.json").is_file());

        // The same bundle in another order gives the same layout.
        let mut reversed = b.clone();
        reversed.projects.reverse();
        for p in &mut reversed.projects {
            p.keys.reverse();
            p.certificates.reverse();
        }
        let other = tmp.path().join("out2");
        apply(&other, &reversed).unwrap();
        assert_eq!(tree(&other), t);
    }

    #[test]
    fn a_planted_directory_link_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::create_dir(&out).unwrap();
        symlink(&elsewhere, out.join("payments")).unwrap();
        let err = apply(&out, &full()).unwrap_err();
        assert!(format!("{err:#}").contains("not a directory"), "{err:#}");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
        assert!(!out.join(REVISION_FILE).exists());

        // One level deeper.
        fs::remove_file(out.join("payments")).unwrap();
        fs::create_dir(out.join("payments")).unwrap();
        symlink(&elsewhere, out.join("payments/keys")).unwrap();
        assert!(apply(&out, &full()).is_err());
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn a_planted_file_link_is_replaced_not_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        apply(&out, &full()).unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let target = out.join("payments/keys/signer.pem");
        fs::remove_file(&target).unwrap();
        symlink(&victim, &target).unwrap();
        let mut b = full();
        b.revision = 8;
        let outcome = apply(&out, &b).unwrap();
        assert_eq!(outcome.written, 1);
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&target).unwrap().file_type().is_file());
        assert_eq!(fs::read(&target).unwrap(), b"PRIVATE-SIGNER\n");
    }

    #[test]
    fn a_link_in_place_of_a_directory_stops_removal_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        apply(&out, &full()).unwrap();
        // billing/ becomes a link to a directory holding a file of the same name.
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(elsewhere.join("certificates")).unwrap();
        fs::write(elsewhere.join("certificates/only.pem"), b"precious").unwrap();
        fs::remove_dir_all(out.join("billing")).unwrap();
        symlink(&elsewhere, out.join("billing")).unwrap();
        let mut b = full();
        b.revision = 8;
        b.projects.retain(|p| p.name == "payments");
        apply(&out, &b).unwrap();
        assert_eq!(
            fs::read(elsewhere.join("certificates/only.pem")).unwrap(),
            b"precious"
        );
    }

    #[test]
    fn a_tampered_manifest_removes_nothing_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        apply(&out, &full()).unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        fs::write(
            out.join(MANIFEST_FILE),
            serde_json::to_vec(&json!({"files": ["../victim", "/etc/hosts", "payments/../../victim"], "dirs": [".."]}))
                .unwrap(),
        )
        .unwrap();
        apply(&out, &bundle(8, vec![])).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_file_written_before_a_crash_is_still_removed_later() {
        // The manifest is widened before new files are written: simulate a crash right after.
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        apply(&out, &bundle(1, vec![project("a")])).unwrap();
        let mut two = bundle(2, vec![project("a"), project("b")]);
        two.projects[1].keys = vec![pem_key("k", "K")];
        // Write what the second apply would have written, as the intent step does, then "crash":
        // the final manifest is never written.
        let files = plan(&two).unwrap();
        let union = Manifest {
            files: files.iter().map(|f| f.rel.clone()).collect(),
            dirs: dirs_of(files.iter().map(|f| f.rel.as_str())),
        };
        write_if_changed(&out, MANIFEST_FILE, &union.to_bytes().unwrap(), PUBLIC).unwrap();
        ensure_dir(&out, "b/keys").unwrap();
        fs::write(out.join("b/keys/k.pem"), b"K").unwrap();
        // The next revision no longer has b: its file goes.
        apply(&out, &bundle(3, vec![project("a")])).unwrap();
        assert!(!out.join("b").exists());
    }

    #[test]
    fn bad_base64_fails_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut p = project("p");
        p.keystores = vec![KeystoreEntry {
            name: "ks".into(),
            keystore_type: Some("PKCS12".into()),
            content_base64: "not base64!".into(),
        }];
        let err = apply(&out, &bundle(1, vec![p])).unwrap_err();
        assert!(err.to_string().contains("contentBase64"), "{err}");
        assert!(!out.exists());
    }
}
