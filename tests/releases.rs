//! Released means frozen. A released version's install script
//! (`sql/releases/llm_cost--<version>.sql`) and every upgrade script that leads
//! to a released version (`sql/llm_cost--<from>--<version>.sql`) are what
//! databases in the field were built from: changing one after the release
//! makes those databases differ from what the file says they are, and
//! tests/upgrade.rs would then test a history that never shipped. This test
//! fails when such a file changes, disappears, or is added without its digest.
//!
//! The digests are in `sql/releases/SHA256SUMS`, in `sha256sum` format with
//! paths relative to `sql/` (check by hand with
//! `cd sql && sha256sum -c releases/SHA256SUMS`). Cutting a release adds the
//! new version's two files to it (RELEASING.md); nothing else ever edits it.
//! Needs no database.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

fn sql_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sql")
}

/// Versions with a frozen install script in sql/releases/.
fn released_versions() -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir(sql_dir().join("releases"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("llm_cost--")?.strip_suffix(".sql").map(str::to_owned)
        })
        .collect();
    versions.sort();
    versions
}

/// Every file that must never change again, relative to sql/: the released
/// install scripts and the upgrade scripts whose target version is released.
fn frozen_files() -> Vec<String> {
    let released = released_versions();
    let mut files: Vec<String> = released.iter().map(|v| format!("releases/llm_cost--{v}.sql")).collect();
    for entry in std::fs::read_dir(sql_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(versions) = name.strip_prefix("llm_cost--").and_then(|n| n.strip_suffix(".sql")) else { continue };
        if let Some((_from, to)) = versions.split_once("--") {
            if released.iter().any(|v| v == to) {
                files.push(name);
            }
        }
    }
    files.sort();
    files
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// sql/releases/SHA256SUMS: file (relative to sql/) → digest.
fn recorded() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(sql_dir().join("releases/SHA256SUMS")).expect("sql/releases/SHA256SUMS");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (digest, file) =
                l.split_once("  ").unwrap_or_else(|| panic!("SHA256SUMS: not `<sha256>  <file>`: {l:?}"));
            (file.to_owned(), digest.to_owned())
        })
        .collect()
}

#[test]
fn released_scripts_are_frozen() {
    let frozen = frozen_files();
    let recorded = recorded();
    assert!(!frozen.is_empty(), "no released version found in sql/releases/");
    let mut problems = Vec::new();
    for file in &frozen {
        match recorded.get(file) {
            None => problems.push(format!(
                "{file}: released (or leads to a released version) but has no digest in sql/releases/SHA256SUMS; \
                 if you are cutting a release, add it: cd sql && sha256sum {file} >> releases/SHA256SUMS"
            )),
            Some(digest) if *digest != sha256_hex(&sql_dir().join(file)) => problems.push(format!(
                "{file}: changed after its release. Released scripts never change: revert it and make the change in \
                 the upgrade script of the version in development (RELEASING.md)"
            )),
            Some(_) => {}
        }
    }
    for file in recorded.keys() {
        if !frozen.contains(file) {
            problems.push(format!(
                "{file}: has a digest in sql/releases/SHA256SUMS but is not (or no longer) a released script; \
                 a released script is never removed or renamed"
            ));
        }
    }
    assert!(problems.is_empty(), "released SQL scripts are frozen:\n{}", problems.join("\n"));
}
