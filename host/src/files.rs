//! A component's `files`, as Spin mounts them: each entry is copied into a directory of its
//! own in the state folder (`.edge/files/<component>/`), which the component sees read-only
//! at `/`.
//!
//! - `"path/file.txt"` or `"dir"`: the file, or everything below the directory, at the same
//!   path in the guest;
//! - `"assets/**/*.png"`: every file matching the glob pattern, at its own path;
//! - `{ source = "dir", destination = "/static" }`: the directory's files (or one file) at
//!   `destination`;
//! - `exclude_files`: glob patterns (relative to the manifest) of files left out.

use crate::manifest::{ComponentDecl, FilesMount};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Component, Path, PathBuf};

const HOW: &str = "If you want to include a directory, use source-destination form, or a glob pattern ending in **/*.";

/// One file to copy: from (absolute) to (relative to the mount root).
type Copy = (PathBuf, PathBuf);

/// The checks Spin makes on `files` when it loads an application.
pub fn check(app_dir: &Path, decl: &ComponentDecl) -> Result<()> {
    plan(app_dir, decl).map(drop)
}

/// Copy the component's files under `root` (emptied first); the directory to mount at `/`,
/// or none when the component has no files.
pub fn mount(app_dir: &Path, root: &Path, decl: &ComponentDecl) -> Result<Option<PathBuf>> {
    if root.exists() {
        std::fs::remove_dir_all(root).with_context(|| format!("cannot empty {}", root.display()))?;
    }
    if decl.files.is_empty() {
        return Ok(None);
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    for (from, to) in plan(app_dir, decl)? {
        let dest = root.join(&to);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(&from, &dest)
            .with_context(|| format!("Failed to copy {} to {}", from.display(), dest.display()))?;
    }
    Ok(Some(root.to_path_buf()))
}

fn plan(app_dir: &Path, decl: &ComponentDecl) -> Result<Vec<Copy>> {
    let app_dir = app_dir.canonicalize().with_context(|| format!("cannot read {}", app_dir.display()))?;
    let excluded = decl
        .exclude_files
        .iter()
        .map(|p| glob::Pattern::new(p).with_context(|| format!("Invalid exclude_files glob pattern {p:?}")))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for mount in &decl.files {
        match mount {
            FilesMount::Pattern(p) => pattern(&app_dir, p, &excluded, &mut out)?,
            FilesMount::Placement { source, destination } => {
                placement(&app_dir, source, destination, &excluded, &mut out)?
            }
        }
    }
    Ok(out)
}

fn pattern(app_dir: &Path, p: &str, excluded: &[glob::Pattern], out: &mut Vec<Copy>) -> Result<()> {
    if p == ".." || p.ends_with("/..") {
        bail!("A file pattern can't end in a parent directory path (..)\n{HOW}");
    }
    if p == "." || p.ends_with("/.") {
        bail!("A file pattern can't end in a current directory path (.)\n{HOW}");
    }
    let path = app_dir.join(p);
    if path.is_dir() {
        globbed(app_dir, &path.join("**/*"), app_dir, Path::new(""), excluded, out)
    } else if path.exists() {
        out.push((path, guest_relative(p)?));
        Ok(())
    } else if glob::Pattern::escape(p) != p {
        globbed(app_dir, &path, app_dir, Path::new(""), excluded, out)
    } else {
        bail!("{p:?} does not exist and doesn't appear to be a glob pattern")
    }
}

fn placement(
    app_dir: &Path,
    source: &str,
    destination: &str,
    excluded: &[glob::Pattern],
    out: &mut Vec<Copy>,
) -> Result<()> {
    let src = app_dir.join(source);
    let Ok(meta) = std::fs::metadata(&src) else { bail!("File or directory {source:?} does not exist") };
    let dest = guest_relative(destination)?;
    if meta.is_dir() {
        globbed(app_dir, &src.join("**/*"), &src, &dest, excluded, out)
    } else {
        if destination.ends_with('/') || destination.ends_with('.') || dest.as_os_str().is_empty() {
            bail!("{destination:?} is not a valid destination file name");
        }
        out.push((src, dest));
        Ok(())
    }
}

/// Every file matching `pattern`, placed under `dest` at its path below `prefix`.
fn globbed(
    app_dir: &Path,
    pattern: &Path,
    prefix: &Path,
    dest: &Path,
    excluded: &[glob::Pattern],
    out: &mut Vec<Copy>,
) -> Result<()> {
    let text = pattern.to_str().ok_or_else(|| anyhow!("invalid (non-UTF-8) file pattern {pattern:?}"))?;
    let paths = glob::glob(text).with_context(|| format!("Failed to resolve glob pattern {text:?}"))?;
    for path in paths {
        let path = path?;
        if !path.is_file() {
            continue;
        }
        let Ok(in_app) = path.strip_prefix(app_dir) else {
            bail!("{text} cannot be mapped because it is outside the application directory. Files must be within the application directory.");
        };
        if excluded.iter().any(|e| e.matches_path(in_app)) {
            continue;
        }
        let below = path.strip_prefix(prefix).unwrap_or(in_app);
        out.push((path.clone(), dest.join(below)));
    }
    Ok(())
}

/// A guest path made relative to the mount root; it may not climb out of it.
fn guest_relative(p: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(p.trim_start_matches('/')).components() {
        match part {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => bail!("{p:?} is not a valid path in the guest (it leaves the mounted directory)"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{App, Purpose};

    fn component(dir: &Path, files: &str) -> Result<ComponentDecl> {
        let text = format!(
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"a\"\n\
             [component.a]\nsource = \"a.wasm\"\n{files}\n"
        );
        let app = App::from_text(&text, dir.to_path_buf(), Purpose::Build)?;
        Ok(app.manifest.component["a"].clone())
    }

    #[test]
    fn entries_are_copied_where_spin_puts_them() {
        let dir = std::env::temp_dir().join(format!("edge-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("static/sub")).unwrap();
        for f in ["static/a.txt", "static/b.txt", "static/sub/c.md", "top.txt"] {
            std::fs::write(dir.join(f), f).unwrap();
        }
        let c = component(
            &dir,
            r#"files = ["top.txt", "static/*.txt", { source = "static/sub", destination = "/docs" }, { source = "top.txt", destination = "/etc/top" }]
exclude_files = ["static/b.txt"]"#,
        )
        .unwrap();
        let root = dir.join(".edge/files/a");
        assert_eq!(mount(&dir, &root, &c).unwrap().as_deref(), Some(root.as_path()));
        for (guest, content) in [
            ("top.txt", "top.txt"),
            ("static/a.txt", "static/a.txt"),
            ("docs/c.md", "static/sub/c.md"),
            ("etc/top", "top.txt"),
        ] {
            assert_eq!(std::fs::read_to_string(root.join(guest)).unwrap(), content, "{guest}");
        }
        assert!(!root.join("static/b.txt").exists(), "excluded");

        let refused = |files: &str| format!("{:#}", check(&dir, &component(&dir, files).unwrap()).unwrap_err());
        assert!(refused(r#"files = ["nope.txt"]"#).contains("does not exist and doesn't appear to be a glob pattern"));
        assert!(refused(r#"files = [".."]"#).contains("parent directory path"));
        assert!(refused(r#"files = ["static/."]"#).contains("current directory path"));
        assert!(refused(r#"files = ["static/[a"]"#).contains("Failed to resolve glob pattern"));
        assert!(refused(r#"files = [{ source = "nodir", destination = "/" }]"#).contains("does not exist"));
        assert!(refused(r#"files = [{ source = "top.txt", destination = "/x/" }]"#)
            .contains("not a valid destination file name"));
        check(&dir, &component(&dir, r#"files = ["static/*.nothing"]"#).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
