//! `tests/fixtures/` is the repository's copy of the external test vectors (Stripe signatures
//! and events, JWTs and keys, threat samples), so a clone tests alone. Where the upstream
//! folder (`../shared/fixtures`) sits beside the checkout, the copy must hold every file of it
//! byte for byte; without it the comparison is skipped, and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `dir`, by its path relative to `dir` (with `/`).
fn files(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, p);
            }
        }
    }
    out
}

#[test]
fn the_fixtures_in_the_repository_are_those_beside_the_checkout() {
    let copy = e2e::fixture("");
    let ours = files(&copy);
    // The copy is there whatever else is: these are the files the suites read.
    for needed in [
        "README.md",
        "jwt/tokens.json",
        "jwt/jwks.json",
        "stripe/signatures.json",
        "stripe/events/sequences.json",
        "threats/README.md",
        "threats/benign.txt",
    ] {
        assert!(ours.contains_key(needed), "{} is missing from the repository", copy.join(needed).display());
    }
    let Some(upstream) = e2e::beside_checkout(
        "fixtures",
        "the_fixtures_in_the_repository_are_those_beside_the_checkout",
        "the comparison of tests/fixtures with its upstream",
    ) else {
        return;
    };
    let theirs = files(&upstream);
    let mut wrong = Vec::new();
    for (rel, path) in &theirs {
        match ours.get(rel) {
            None => wrong.push(format!("{rel}: in {} but not in {}", upstream.display(), copy.display())),
            Some(mine) => {
                if std::fs::read(mine).unwrap() != std::fs::read(path).unwrap() {
                    wrong.push(format!("{rel}: differs from {}", path.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "tests/fixtures must be an unchanged copy (cp -r ../shared/fixtures/. tests/fixtures/):\n{}",
        wrong.join("\n")
    );
    // Files of the project's own beside the copy are allowed (more samples, say); name them.
    let extra: Vec<&String> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    eprintln!("{} upstream fixture files equal; {} of the repository's own: {extra:?}", theirs.len(), extra.len());
}
