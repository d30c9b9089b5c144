//! Invariant: the core depends on no HTTP or UI crate, directly or through another crate.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "axum",
    "hyper",
    "tower",
    "tower-http",
    "http",
    "reqwest",
    "utoipa",
    "utoipa-axum",
    "askama",
];

#[test]
fn the_core_depends_on_no_http_or_ui_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "keyward-core",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    let found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| FORBIDDEN.contains(name))
        .collect();
    assert!(found.is_empty(), "keyward-core depends on {found:?}");
    assert!(
        tree.lines().any(|l| l.starts_with("keyward-store ")),
        "the tree was read"
    );
}
