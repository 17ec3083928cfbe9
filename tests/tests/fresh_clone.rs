//! The suite passes on a fresh clone: nothing beside the workspace is read.
//!
//! `cargo xtask e2e` runs these tests in a mount namespace where every
//! folder and file beside the workspace (but the Rust toolchain's and the
//! temporary folder) is covered by an empty one, as on a fresh clone with
//! nothing beside it. This test fails when that did not happen, so a test
//! that reads outside the repo cannot pass here by accident.

use std::path::{Path, PathBuf};

use tests::workspace;

#[test]
fn nothing_beside_the_workspace_is_visible() {
    assert_eq!(
        std::env::var("PODCTL_BESIDE_HIDDEN").as_deref(),
        Ok("1"),
        "run the end-to-end tests with `cargo xtask e2e`, which hides what is beside the workspace"
    );
    let workspace = workspace().canonicalize().unwrap();
    let parent = workspace.parent().unwrap();
    if parent == Path::new("/") {
        return;
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let toolchain: Vec<PathBuf> = [
        std::env::var_os("CARGO_HOME").map(PathBuf::from),
        std::env::var_os("RUSTUP_HOME").map(PathBuf::from),
        home.as_ref().map(|h| h.join(".cargo")),
        home.as_ref().map(|h| h.join(".rustup")),
        Some(std::env::temp_dir()),
        std::env::var_os("CARGO").map(PathBuf::from),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut visible = Vec::new();
    for entry in std::fs::read_dir(parent).unwrap().flatten() {
        let path = entry.path();
        if path == workspace || toolchain.iter().any(|t| t.starts_with(&path)) {
            continue;
        }
        // Followed through symlinks: what a test would read there.
        let empty = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::read_dir(&path).unwrap().next().is_none(),
            Ok(_) => std::fs::read(&path).map_or(true, |b| b.is_empty()),
            Err(_) => true,
        };
        if !empty {
            visible.push(path.display().to_string());
        }
    }
    assert!(
        visible.is_empty(),
        "these are readable beside the workspace, which a fresh clone would not have: {visible:?}"
    );
}
