//! A component's `files`, as `spin up` mounts them: each component's entries are copied into
//! a directory of its own (under one temporary directory per app, removed with it), which
//! its instances see read-only at `/`.
//!
//! What an entry means, as in Spin: a path or glob (`static`, `assets/**/*.css`, relative to
//! the manifest's directory) keeps its relative path under `/`; a directory means everything
//! below it; `{ source, destination }` puts a file, or a directory's contents, at
//! `destination`. Globs match files only, `*` stays within one path segment, and a glob that
//! matches nothing is no error. `exclude_files` globs (relative to the manifest's directory,
//! `*` crossing segments) leave out what they match.
//!
//! Nothing outside the application directory reaches a guest: entries are resolved to real
//! paths first, and a file or symbolic link that leads outside the manifest's directory is
//! refused, naming it (Spin follows such links and copies what they point to). Once mounted,
//! the guest's paths are confined to the mount by wasmtime's capability-based filesystem:
//! `..` and absolute paths cannot leave `/`.

use crate::manifest::{ComponentDecl, FileMount, Manifest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The files of every component that has any, each in a directory of its own.
pub struct MountedFiles {
    /// Removed, with everything in it, when the app is dropped.
    _root: tempfile::TempDir,
    mounts: BTreeMap<String, PathBuf>,
}

impl MountedFiles {
    /// Where `component`'s files are, if it has any.
    pub fn mount(&self, component: &str) -> Option<&Path> {
        self.mounts.get(component).map(PathBuf::as_path)
    }
}

/// Copies the files of every component of `manifest` that has `files` into a new temporary
/// directory (kept while the result lives); `None` when no component has files.
pub fn mount_all(manifest: &Manifest) -> Result<Option<MountedFiles>, crate::ConfigError> {
    let with_files: Vec<&ComponentDecl> = manifest
        .components
        .values()
        .filter(|decl| !decl.files.is_empty())
        .collect();
    if with_files.is_empty() {
        return Ok(None);
    }
    let root = tempfile::Builder::new()
        .prefix("runner-files-")
        .tempdir()
        .map_err(|e| manifest.error("component", format!("creating a directory for files: {e}")))?;
    let mut mounts = BTreeMap::new();
    for decl in with_files {
        let mount = root.path().join(&decl.id);
        copy_component_files(&manifest.dir, decl, &mount).map_err(|(index, reason)| {
            manifest.error(format!("component.{}.files[{index}]", decl.id), reason)
        })?;
        mounts.insert(decl.id.clone(), mount);
    }
    Ok(Some(MountedFiles {
        _root: root,
        mounts,
    }))
}

/// Copies `decl`'s files into `mount`; a failure names the entry's index.
fn copy_component_files(
    app_dir: &Path,
    decl: &ComponentDecl,
    mount: &Path,
) -> Result<(), (usize, String)> {
    std::fs::create_dir_all(mount)
        .map_err(|e| (0, format!("creating {}: {e}", mount.display())))?;
    let app_dir = app_dir
        .canonicalize()
        .unwrap_or_else(|_| app_dir.to_path_buf());
    for (index, entry) in decl.files.iter().enumerate() {
        let copies = entry_files(&app_dir, entry, &decl.exclude_files).map_err(|r| (index, r))?;
        for (from, to) in copies {
            let target = mount.join(&to);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| (index, format!("creating {}: {e}", parent.display())))?;
            }
            std::fs::copy(&from, &target).map_err(|e| {
                (
                    index,
                    format!("copying {} to /{}: {e}", from.display(), to.display()),
                )
            })?;
        }
    }
    Ok(())
}

/// The files one entry mounts: (real path to copy, path under the guest's `/`).
fn entry_files(
    app_dir: &Path,
    entry: &FileMount,
    exclude: &[glob::Pattern],
) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    match entry {
        FileMount::Pattern(pattern) => {
            let path = app_dir.join(pattern);
            let found = if path.is_dir() {
                glob_files(app_dir, &format!("{}/**/*", glob::Pattern::escape(pattern)))?
            } else if path.exists() {
                vec![path]
            } else if glob::Pattern::escape(pattern) != *pattern {
                glob_files(app_dir, pattern)?
            } else {
                return Err(format!(
                    "\"{pattern}\" does not exist and doesn't appear to be a glob pattern"
                ));
            };
            found
                .into_iter()
                .filter(|file| !excluded(app_dir, file, exclude))
                .map(|file| {
                    let real = inside(app_dir, &file)?;
                    let relative = file.strip_prefix(app_dir).unwrap_or(&file).to_path_buf();
                    Ok((real, relative))
                })
                .collect()
        }
        FileMount::Placement {
            source,
            destination,
        } => {
            let from = app_dir.join(source);
            let to = PathBuf::from(destination.trim_start_matches('/'));
            if from.is_dir() {
                let escaped = glob::Pattern::escape(&from.to_string_lossy());
                glob_files(&from, &format!("{escaped}/**/*"))?
                    .into_iter()
                    .filter(|file| !excluded(app_dir, file, exclude))
                    .map(|file| {
                        let real = inside(app_dir, &file)?;
                        let relative = file.strip_prefix(&from).unwrap_or(&file);
                        Ok((real, to.join(relative)))
                    })
                    .collect()
            } else if from.exists() {
                if destination.ends_with('/') || to.as_os_str().is_empty() {
                    return Err(format!(
                        "\"{destination}\" is not a valid destination file name"
                    ));
                }
                Ok(vec![(inside(app_dir, &from)?, to)])
            } else {
                Err(format!("file or directory \"{source}\" does not exist"))
            }
        }
    }
}

/// The files (not directories) a glob matches; `pattern` is relative to `base` or absolute.
fn glob_files(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let full = match Path::new(pattern).is_absolute() {
        true => pattern.to_string(),
        false => format!(
            "{}/{pattern}",
            glob::Pattern::escape(&base.to_string_lossy())
        ),
    };
    let matches = glob::glob(&full).map_err(|e| format!("`{pattern}`: {e}"))?;
    Ok(matches
        .filter_map(Result::ok)
        .filter(|path| path.is_file())
        .collect())
}

/// Whether `file` is left out by `exclude_files` (matched against its path relative to the
/// manifest's directory).
fn excluded(app_dir: &Path, file: &Path, exclude: &[glob::Pattern]) -> bool {
    let relative = file.strip_prefix(app_dir).unwrap_or(file);
    exclude.iter().any(|pattern| pattern.matches_path(relative))
}

/// `file`'s real path, if it lies inside the application directory.
fn inside(app_dir: &Path, file: &Path) -> Result<PathBuf, String> {
    let real = file
        .canonicalize()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if real.starts_with(app_dir) {
        Ok(real)
    } else {
        Err(format!(
            "{} leads outside the application directory (to {}); files must be within it",
            file.display(),
            real.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(files: &str, exclude: &str) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("static/index.html", "<h1>hi</h1>");
        write("static/css/site.css", "body{}");
        write("static/secret/key.pem", "no");
        write("notes.txt", "notes");
        write("a.wasm", "");
        let manifest = format!(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[[trigger.http]]\n\
             route = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"a.wasm\"\n\
             files = {files}\nexclude_files = {exclude}\n"
        );
        let path = dir.path().join("spin.toml");
        std::fs::write(&path, manifest).unwrap();
        let manifest = Manifest::load(&path).unwrap();
        (dir, manifest)
    }

    fn mounted(files: &str, exclude: &str) -> Result<Vec<String>, crate::ConfigError> {
        let (_dir, manifest) = app(files, exclude);
        let files = mount_all(&manifest)?.expect("mounted");
        let mount = files.mount("c").expect("c's mount");
        let mut seen = Vec::new();
        for file in glob::glob(&format!("{}/**/*", mount.display())).unwrap() {
            let file = file.unwrap();
            if file.is_file() {
                seen.push(file.strip_prefix(mount).unwrap().display().to_string());
            }
        }
        seen.sort();
        Ok(seen)
    }

    #[test]
    fn a_directory_keeps_its_path_and_a_mapping_moves_its_contents() {
        assert_eq!(
            mounted(r#"["static", "notes.txt"]"#, "[]").unwrap(),
            [
                "notes.txt",
                "static/css/site.css",
                "static/index.html",
                "static/secret/key.pem"
            ]
        );
        assert_eq!(
            mounted(
                r#"[{ source = "static", destination = "/" }]"#,
                r#"["static/secret/*"]"#
            )
            .unwrap(),
            ["css/site.css", "index.html"]
        );
        assert_eq!(
            mounted(
                r#"[{ source = "notes.txt", destination = "/docs/n.txt" }]"#,
                "[]"
            )
            .unwrap(),
            ["docs/n.txt"]
        );
    }

    #[test]
    fn globs_match_files_within_a_segment_and_may_match_nothing() {
        assert_eq!(
            mounted(r#"["static/*.html"]"#, "[]").unwrap(),
            ["static/index.html"]
        );
        assert_eq!(
            mounted(r#"["static/**/*.css", "nothing/*.x"]"#, "[]").unwrap(),
            ["static/css/site.css"]
        );
    }

    #[test]
    fn missing_sources_and_links_out_of_the_tree_are_refused_by_entry() {
        let e = mounted(r#"["static", "missing.txt"]"#, "[]").unwrap_err();
        assert_eq!(e.key, "component.c.files[1]");
        assert!(e.reason.contains("does not exist"), "{e}");

        let (dir, manifest) = app(r#"["static"]"#, "[]");
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "top secret").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            dir.path().join("static/link"),
        )
        .unwrap();
        let e = mount_all(&manifest).err().expect("refused");
        assert_eq!(e.key, "component.c.files[0]");
        assert!(
            e.reason.contains("outside the application directory"),
            "{e}"
        );
    }
}
