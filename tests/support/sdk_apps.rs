//! Builds the Spin apps under `tests/apps/` that were written with other SDKs (Rust spin-sdk
//! 5, JavaScript, Python), each with its own toolchain, and returns a manifest to run.
//!
//! Cache: every build's output lives in `<repo>/target/sdk-apps/<app>-<hash>/` (the wasm, a
//! `spin.toml` whose `source` is that wasm's absolute path, and `inputs.txt`, the list of
//! what was hashed). The hash covers the files the app's BUILD.md names as cache-key inputs,
//! the tool versions BUILD.md names (rustc and the target for Rust, node for JS), and this
//! module's recipe version. When that directory exists nothing runs; a build writes into
//! `<app>-<hash>.partial/` and renames it into place only when complete, then removes the
//! app's directories for other hashes. The manifest is rewritten (atomically, only when it
//! differs) on every call, so edits to an app's spin.toml show without a rebuild.
//!
//! Sources stay clean: a build copies exactly the hashed files into a scratch directory,
//! `target/sdk-apps/work/<app>/`, and builds there, so what is built is what was hashed. The
//! JS app's `wit/deps/fermyon-spin@2.0.0` is a relative symlink into `runner/wit`; the
//! scratch copy holds the files behind it as a plain directory, so no relative path has to
//! survive the copy. Tool state that is expensive to recreate persists beside the scratch
//! copies: the Rust target dir (`target/sdk-apps/cargo-target/`), the JS app's
//! `node_modules` (`npm ci` runs again only when package.json, package-lock.json or node
//! change) and the Python venv (recreated only when requirements.txt or python3 change).
//!
//! Locking: one lock file per app (`target/sdk-apps/<app>.lock`, an OS file lock, released
//! by the OS if a test process dies), taken around the check-build-rename, so test threads
//! and test binaries asking at once build each app once and the others wait and reuse it.
//!
//! A missing tool (the wasm32-wasip1 target, which is added with rustup if rustup exists;
//! node; npm; python3 with venv) fails under CI (`CI=true`) and otherwise is reported as
//! `SKIPPED: ...` with `None` returned. A failing or overlong build step panics with the
//! command and the tail of its output.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bump when the build commands below change, so cached outputs are rebuilt.
const RECIPE: &str = "sdk-apps recipe 1";

/// One of the apps under `tests/apps/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdkApp {
    /// `tests/apps/rust-sdk5`: spin-sdk 5.2.0, wasm32-wasip1 core module.
    RustSdk5,
    /// `tests/apps/rust-sdk6`: Spin 4's `http-rust` template (spin-sdk 6.0.0), a component
    /// importing WASI 0.3's release candidate.
    RustSdk6,
    /// `tests/apps/js`: Spin JS SDK (build-tools 1.0.7), a component.
    Js,
    /// `tests/apps/python`: spin-sdk 3.4.1 + componentize-py 0.17.2, a component.
    Python,
}

impl SdkApp {
    /// The directory name under `tests/apps/`, also the app's name in `target/sdk-apps/`.
    pub fn name(self) -> &'static str {
        match self {
            SdkApp::RustSdk5 => "rust-sdk5",
            SdkApp::RustSdk6 => "rust-sdk6",
            SdkApp::Js => "js",
            SdkApp::Python => "python",
        }
    }

    /// What `/` answers: `hello from <sdk>`.
    pub fn hello(self) -> String {
        format!("hello from {}", self.name())
    }

    /// How the SDK spells a `fermyon:spin/key-value` `access-denied` error in `/denied-store`.
    pub fn access_denied_spelling(self) -> &'static str {
        match self {
            SdkApp::RustSdk5 | SdkApp::RustSdk6 | SdkApp::Python => "AccessDenied",
            SdkApp::Js => "access-denied",
        }
    }

    pub fn source_dir(self) -> PathBuf {
        super::repo_root().join("tests/apps").join(self.name())
    }

    /// The target a Rust app is built for.
    fn rust_target(self) -> &'static str {
        match self {
            SdkApp::RustSdk6 => "wasm32-wasip2",
            _ => "wasm32-wasip1",
        }
    }

    /// The wasm file a build produces (its name in the output directory too).
    fn wasm_name(self) -> &'static str {
        match self {
            SdkApp::RustSdk5 => "rust_sdk5.wasm",
            SdkApp::RustSdk6 => "hello.wasm",
            SdkApp::Js => "js.wasm",
            SdkApp::Python => "app.wasm",
        }
    }
}

/// `<repo>/target/sdk-apps`.
pub fn cache_root() -> PathBuf {
    super::repo_root().join("target/sdk-apps")
}

/// Builds `app` (or finds it built) and returns the path of a manifest that runs it;
/// `None` (after printing `SKIPPED: ...`) when a tool it needs is missing outside CI.
pub fn manifest(app: SdkApp) -> Option<PathBuf> {
    // Within one test binary, work out each app once.
    static DONE: OnceLock<Mutex<HashMap<SdkApp, Option<PathBuf>>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    if let Some(known) = done.lock().unwrap_or_else(|e| e.into_inner()).get(&app) {
        return known.clone();
    }
    let result = prepare(app);
    done.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(app, result.clone());
    result
}

fn prepare(app: SdkApp) -> Option<PathBuf> {
    let tools = match check_tools(app) {
        Ok(tools) => tools,
        Err(missing) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{missing} is required in CI for the {} app", app.name());
            }
            eprintln!("SKIPPED: the {} app cannot be built: {missing}", app.name());
            return None;
        }
    };
    let inputs = inputs(app);
    let (hash, listing) = cache_key(app, &inputs, &tools);
    let root = cache_root();
    let out = root.join(format!("{}-{hash}", app.name()));
    if !out.is_dir() {
        fs::create_dir_all(&root).expect("create target/sdk-apps");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(format!("{}.lock", app.name())))
            .expect("open the build lock file");
        lock.lock().expect("take the build lock");
        // Another thread or process may have built it while this one waited.
        if !out.is_dir() {
            let started = Instant::now();
            eprintln!("building the {} app into {}", app.name(), out.display());
            let partial = root.join(format!("{}-{hash}.partial", app.name()));
            remove_dir(&partial);
            fs::create_dir_all(&partial).expect("create the partial output dir");
            build(app, &inputs, &partial);
            assert!(
                partial.join(app.wasm_name()).is_file(),
                "the {} build produced no {}",
                app.name(),
                app.wasm_name()
            );
            fs::write(partial.join("inputs.txt"), &listing).expect("write inputs.txt");
            fs::rename(&partial, &out).expect("move the build into place");
            prune_other_outputs(app, &root, &out);
            eprintln!(
                "built the {} app in {:.1}s",
                app.name(),
                started.elapsed().as_secs_f64()
            );
        }
        // The lock is released when `lock` is dropped.
    }
    Some(write_manifest(app, &out))
}

/// The tool versions that belong in the cache key, or what is missing.
fn check_tools(app: SdkApp) -> Result<Vec<(String, String)>, String> {
    match app {
        SdkApp::RustSdk5 | SdkApp::RustSdk6 => {
            let rustc = version("rustc", &["-vV"]).ok_or("rustc (a Rust toolchain)")?;
            let target = app.rust_target();
            runner::ensure_rust_target(target).map_err(|e| format!("{e:#}"))?;
            Ok(vec![
                ("rustc -vV".into(), rustc),
                ("target".into(), target.into()),
            ])
        }
        SdkApp::Js => {
            let node = version("node", &["--version"])
                .ok_or("node (Node.js 20; apt-get install nodejs npm)")?;
            version("npm", &["--version"]).ok_or("npm (apt-get install npm)")?;
            Ok(vec![("node --version".into(), node)])
        }
        SdkApp::Python => {
            version("python3", &["--version"]).ok_or("python3 (3.11 or later)")?;
            version("python3", &["-c", "import venv, ensurepip"])
                .ok_or("python3's venv module (apt-get install python3-venv)")?;
            // BUILD.md: the host Python only runs pip, so its version is not in the key.
            Ok(Vec::new())
        }
    }
}

/// The output of `program args` when it runs and succeeds.
fn version(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The app's cache-key input files as (path in the build's scratch copy, real path), sorted.
fn inputs(app: SdkApp) -> Vec<(String, PathBuf)> {
    let dir = app.source_dir();
    let mut files = BTreeMap::new();
    let mut add = |relative: &str| {
        files.insert(relative.to_string(), dir.join(relative));
    };
    match app {
        SdkApp::RustSdk5 | SdkApp::RustSdk6 => {
            add("Cargo.toml");
            add("Cargo.lock");
            for file in files_under(&dir, "src", "rs") {
                add(&file);
            }
        }
        SdkApp::Js => {
            for file in [
                "package.json",
                "package-lock.json",
                "build.mjs",
                "wit/world.wit",
            ] {
                add(file);
            }
            for file in files_under(&dir, "src", "js") {
                add(&file);
            }
            // Behind the wit/deps symlink: the runner's own copy of the WIT.
            let deps = "wit/deps/fermyon-spin@2.0.0";
            let runner_wit = super::repo_root().join("runner").join(deps);
            for file in files_under(&runner_wit, "", "wit") {
                files.insert(format!("{deps}/{file}"), runner_wit.join(&file));
            }
        }
        SdkApp::Python => {
            add("requirements.txt");
            for file in files_under(&dir, "", "py") {
                add(&file);
            }
        }
    }
    for (relative, path) in &files {
        assert!(
            path.is_file(),
            "{} app input {relative} ({}) is missing",
            app.name(),
            path.display()
        );
    }
    files.into_iter().collect()
}

/// Files ending in `.ext` under `base/sub`, as paths relative to `base`; skips the
/// directories builds create.
fn files_under(base: &Path, sub: &str, ext: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::from(sub)];
    while let Some(relative) = pending.pop() {
        let entries = fs::read_dir(base.join(&relative))
            .unwrap_or_else(|e| panic!("read {}: {e}", base.join(&relative).display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = relative.join(&name);
            let file_type = fs::metadata(entry.path()).expect("metadata").file_type();
            if file_type.is_dir() {
                let generated = [
                    "node_modules",
                    "target",
                    "build",
                    "dist",
                    "__pycache__",
                    ".spin",
                ];
                if !generated.contains(&name.as_str()) && !name.starts_with(".venv") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == ext) {
                found.push(path.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// A short hex SHA-256 of the recipe, the tool versions and every input, and the listing of
/// what went into it.
fn cache_key(
    app: SdkApp,
    inputs: &[(String, PathBuf)],
    tools: &[(String, String)],
) -> (String, String) {
    let mut hasher = Sha256::new();
    let mut listing = format!("{RECIPE}\napp {}\n", app.name());
    for (name, value) in tools {
        listing.push_str(&format!("tool {name}: {}\n", value.replace('\n', " | ")));
    }
    hasher.update(listing.as_bytes());
    for (relative, path) in inputs {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let file_hash = Sha256::digest(&bytes);
        listing.push_str(&format!("file {relative} {}\n", hex(&file_hash)));
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update(file_hash);
    }
    (hex(&hasher.finalize())[..16].to_string(), listing)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces `dir`'s contents, except the entries named in `keep`, with copies of `inputs`.
fn refresh_scratch(dir: &Path, inputs: &[(String, PathBuf)], keep: &[&str]) {
    fs::create_dir_all(dir).expect("create the scratch dir");
    for entry in fs::read_dir(dir).expect("read the scratch dir") {
        let entry = entry.expect("directory entry");
        if keep.iter().any(|k| entry.file_name() == *k) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().expect("file type").is_dir() {
            remove_dir(&path);
        } else {
            fs::remove_file(&path).expect("remove a scratch file");
        }
    }
    for (relative, source) in inputs {
        let target = dir.join(relative);
        fs::create_dir_all(target.parent().unwrap()).expect("create a scratch subdir");
        fs::copy(source, &target)
            .unwrap_or_else(|e| panic!("copy {} to scratch: {e}", source.display()));
    }
}

fn remove_dir(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", dir.display()),
    }
}

/// Runs the app's build commands in its scratch copy; the wasm ends up in `out`.
fn build(app: SdkApp, inputs: &[(String, PathBuf)], out: &Path) {
    let work = cache_root().join("work").join(app.name());
    match app {
        SdkApp::RustSdk5 | SdkApp::RustSdk6 => {
            refresh_scratch(&work, inputs, &[]);
            let target_dir = cache_root().join("cargo-target").join(app.name());
            let mut cargo = Command::new("cargo");
            cargo
                .current_dir(&work)
                .args([
                    "build",
                    "--target",
                    app.rust_target(),
                    "--release",
                    "--locked",
                ])
                .env("CARGO_TARGET_DIR", &target_dir)
                // The outer build's flags are for the host, not this wasm build.
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("CARGO_BUILD_RUSTFLAGS")
                .env_remove("CARGO_BUILD_TARGET");
            run(&mut cargo, Duration::from_secs(30 * 60));
            copy_output(
                &target_dir
                    .join(app.rust_target())
                    .join("release")
                    .join(app.wasm_name()),
                &out.join(app.wasm_name()),
            );
        }
        SdkApp::Js => {
            // node_modules stays (with a stamp saying what it was installed from); build/
            // and dist/ go, so build-tools componentizes from scratch.
            let stamp_name = "npm-ci.stamp";
            refresh_scratch(&work, inputs, &["node_modules", stamp_name]);
            let stamp_path = work.join(stamp_name);
            let stamp = {
                let mut text = version("node", &["--version"]).unwrap_or_default();
                for file in ["package.json", "package-lock.json"] {
                    let bytes = fs::read(work.join(file)).expect("read a package file");
                    text.push_str(&format!("\n{file} {}", hex(&Sha256::digest(&bytes))));
                }
                text
            };
            if fs::read_to_string(&stamp_path).ok().as_deref() != Some(stamp.as_str()) {
                let _ = fs::remove_file(&stamp_path);
                let mut npm_ci = npm(&work);
                npm_ci.args(["ci", "--no-audit", "--no-fund"]);
                run(&mut npm_ci, Duration::from_secs(20 * 60));
                fs::write(&stamp_path, &stamp).expect("write the npm ci stamp");
            }
            let mut npm_build = npm(&work);
            npm_build.args(["run", "build"]);
            run(&mut npm_build, Duration::from_secs(20 * 60));
            copy_output(
                &work.join("dist").join(app.wasm_name()),
                &out.join(app.wasm_name()),
            );
        }
        SdkApp::Python => {
            let venv = ensure_venv(app, &work);
            let site = {
                let mut python = Command::new(venv.join("bin/python"));
                python.args([
                    "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                ]);
                run(&mut python, Duration::from_secs(60)).trim().to_string()
            };
            // Only the app's sources in the directory componentize-py scans with `-p .`.
            let app_dir = work.join("app");
            let sources: Vec<_> = inputs
                .iter()
                .filter(|(relative, _)| relative.ends_with(".py"))
                .cloned()
                .collect();
            refresh_scratch(&app_dir, &sources, &[]);
            let mut componentize = Command::new(venv.join("bin/componentize-py"));
            componentize
                .current_dir(&app_dir)
                .args([
                    "-w",
                    "spin-http",
                    "componentize",
                    "-p",
                    ".",
                    "-p",
                    &site,
                    "app",
                ])
                .arg("-o")
                .arg(out.join(app.wasm_name()));
            run(&mut componentize, Duration::from_secs(20 * 60));
        }
    }
}

fn npm(dir: &Path) -> Command {
    let mut npm = Command::new("npm");
    npm.current_dir(dir)
        .env("NPM_CONFIG_UPDATE_NOTIFIER", "false")
        .env("NPM_CONFIG_FUND", "false");
    npm
}

/// `work/venv` with requirements.txt installed, recreated when it or python3 changed.
fn ensure_venv(app: SdkApp, work: &Path) -> PathBuf {
    let venv = work.join("venv");
    let stamp_path = work.join("venv.stamp");
    let requirements = app.source_dir().join("requirements.txt");
    let stamp = format!(
        "{}\n{}\nrequirements.txt {}",
        version("python3", &["--version"]).unwrap_or_default(),
        version("python3", &["-c", "import sys; print(sys.base_prefix)"]).unwrap_or_default(),
        hex(&Sha256::digest(
            fs::read(&requirements).expect("read requirements.txt")
        ))
    );
    if fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str())
        && venv.join("bin/componentize-py").is_file()
    {
        return venv;
    }
    let _ = fs::remove_file(&stamp_path);
    remove_dir(&venv);
    fs::create_dir_all(work).expect("create the python work dir");
    let mut create = Command::new("python3");
    create.current_dir(work).args(["-m", "venv"]).arg(&venv);
    run(&mut create, Duration::from_secs(5 * 60));
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.current_dir(work)
        .args(["install", "--disable-pip-version-check", "--no-input", "-r"])
        .arg(&requirements);
    run(&mut pip, Duration::from_secs(20 * 60));
    fs::write(&stamp_path, &stamp).expect("write the venv stamp");
    venv
}

fn copy_output(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap_or_else(|e| {
        panic!(
            "copy the build output {} to {}: {e}",
            from.display(),
            to.display()
        )
    });
}

/// Runs `command` to completion within `timeout`; panics with the command and the tail of
/// its output if it fails or takes longer. Returns its stdout.
fn run(command: &mut Command, timeout: Duration) -> String {
    let described = format!("{command:?}");
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
    let combined = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = child.stdout.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut text);
        text
    });
    let sink = combined.clone();
    let stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let deadline = started + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a build step") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout_text = stdout_reader.join().unwrap_or_default();
    let _ = stderr_reader.join();
    let tail = || {
        let stderr_lines = combined.lock().unwrap();
        let lines: Vec<&str> = stdout_text
            .lines()
            .chain(stderr_lines.iter().map(String::as_str))
            .collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    match status {
        None => panic!(
            "build step timed out after {timeout:?}: {described}\n--- output (stdout, then stderr; last 60 lines) ---\n{}",
            tail()
        ),
        Some(status) if !status.success() => panic!(
            "build step failed ({status}) after {:.1}s: {described}\n--- output (stdout, then stderr; last 60 lines) ---\n{}",
            started.elapsed().as_secs_f64(),
            tail()
        ),
        Some(_) => stdout_text,
    }
}

/// Removes the app's outputs for other hashes (and leftover partial builds).
fn prune_other_outputs(app: SdkApp, root: &Path, keep: &Path) {
    let prefix = format!("{}-", app.name());
    for entry in fs::read_dir(root).expect("read target/sdk-apps").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let hash = rest.strip_suffix(".partial").unwrap_or(rest);
        let is_output = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if is_output && entry.path() != keep {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Writes `out/spin.toml`: the app's spin.toml with `source` naming the built wasm by
/// absolute path and without the `build` table (its commands are for the source dir).
fn write_manifest(app: SdkApp, out: &Path) -> PathBuf {
    let original = app.source_dir().join("spin.toml");
    let text = fs::read_to_string(&original)
        .unwrap_or_else(|e| panic!("read {}: {e}", original.display()));
    let wasm = out.join(app.wasm_name());
    let mut sources = 0;
    let mut in_build_table = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            let header = trimmed.trim_end();
            in_build_table = header.starts_with("[component.") && header.ends_with(".build]");
        }
        if in_build_table {
            continue;
        }
        if trimmed.starts_with("source =") || trimmed.starts_with("source=") {
            sources += 1;
            // A TOML literal string: no escapes to worry about in a path.
            lines.push(format!("source = '{}'", wasm.display()));
        } else {
            lines.push(line.to_string());
        }
    }
    assert_eq!(
        sources,
        1,
        "{} should have exactly one `source = ...` line",
        original.display()
    );
    let manifest = format!("{}\n", lines.join("\n").trim_end());
    let path = out.join("spin.toml");
    if fs::read_to_string(&path).ok().as_deref() != Some(manifest.as_str()) {
        let temporary = out.join(format!(
            "spin.toml.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        fs::write(&temporary, &manifest).expect("write the manifest");
        fs::rename(&temporary, &path).expect("move the manifest into place");
    }
    path
}
