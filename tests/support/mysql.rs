//! A real MariaDB server for tests, from the OS package (`mariadb-server`): a fresh data
//! directory in a temp dir, listening on an ephemeral 127.0.0.1 port, with a database and a
//! user with a password (`DATABASE`, `USER`, `PASSWORD`, made by an init file at every
//! start); run as `nobody` when the tests run as root (mariadbd refuses root); killed when
//! dropped. `MYSQLD` names another server binary, `MYSQL_INSTALL_DB` another installer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DATABASE: &str = "probe";
pub const USER: &str = "probe";
pub const PASSWORD: &str = "pw-7Gq2";

/// How long a server may take to accept the user's connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct MysqlServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    /// Server options beyond the usual ones (TLS).
    extra: Vec<String>,
}

fn server_binary() -> String {
    std::env::var("MYSQLD").unwrap_or_else(|_| "/usr/sbin/mariadbd".into())
}

fn installer() -> String {
    std::env::var("MYSQL_INSTALL_DB").unwrap_or_else(|_| "mariadb-install-db".into())
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program` as a command, run as `nobody` when we are root.
fn unprivileged(program: &str) -> Command {
    if as_root() {
        let mut command = Command::new("setpriv");
        command.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            program,
        ]);
        command
    } else {
        Command::new(program)
    }
}

impl MysqlServer {
    /// Starts one, or returns `None` (after saying so) where MariaDB is not installed; under
    /// CI (`CI=true`) a missing server is a failure.
    pub async fn start() -> Option<Self> {
        Self::start_with(false).await
    }

    /// `start`, also offering TLS with a self-signed certificate for 127.0.0.1 (connections
    /// may use it; none must).
    pub async fn start_with_tls() -> Option<Self> {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Option<Self> {
        let binary = server_binary();
        if Command::new(&binary).arg("--version").output().is_err() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("mariadbd is required in CI: install it (apt-get install mariadb-server)");
            }
            eprintln!(
                "SKIPPED: no MariaDB server found (apt-get install mariadb-server, or set MYSQLD)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        // The server's own temporary files stay in the temp dir too (parallel servers sharing
        // /tmp have collided there).
        std::fs::create_dir(tmp_dir(dir.path())).expect("tmp dir");
        if as_root() {
            // nobody:nogroup, who runs the server.
            for path in [dir.path(), &tmp_dir(dir.path())] {
                std::os::unix::fs::chown(path, Some(65534), Some(65534)).expect("chown");
            }
        }
        let init = dir.path().join("init.sql");
        std::fs::write(
            &init,
            format!(
                "CREATE DATABASE IF NOT EXISTS {DATABASE};\n\
                 CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
                 GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{USER}'@'%';\n"
            ),
        )
        .expect("init file");
        let installed = unprivileged(&installer())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data_dir(dir.path()).display()))
            .arg(format!("--tmpdir={}", tmp_dir(dir.path()).display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=4M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            installed.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let mut extra = Vec::new();
        if tls {
            let names = vec!["127.0.0.1".to_string()];
            let certified = rcgen::generate_simple_self_signed(names).unwrap();
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert, certified.cert.pem()).unwrap();
            std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
            extra.push(format!("--ssl-cert={}", cert.display()));
            extra.push(format!("--ssl-key={}", key.display()));
        }
        let port = free_port();
        let child = spawn(port, dir.path(), &extra);
        let mut server = Self {
            port,
            child,
            dir,
            extra,
        };
        server.wait_ready().await;
        Some(server)
    }

    /// Waits (bounded) until the user can connect.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if self.connect().await.is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mariadbd exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not accept connections within {START_DEADLINE:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The address a guest opens: `mysql://USER:PASSWORD@127.0.0.1:PORT/DATABASE`.
    pub fn address(&self) -> String {
        self.address_with(USER, PASSWORD)
    }

    pub fn address_with(&self, user: &str, password: &str) -> String {
        format!(
            "mysql://{user}:{password}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// A connection of the test's own, as the guests' user.
    pub async fn connect(&self) -> mysql_async::Result<mysql_async::Conn> {
        let opts = mysql_async::Opts::from_url(&self.address())?;
        let opts = mysql_async::OptsBuilder::from_opts(opts).prefer_socket(false);
        let connecting = mysql_async::Conn::new(opts);
        match tokio::time::timeout(Duration::from_secs(5), connecting).await {
            Ok(result) => result,
            Err(_) => Err(mysql_async::Error::Other("connect timed out".into())),
        }
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data (after `kill`).
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, self.dir.path(), &self.extra);
        self.wait_ready().await;
    }

    /// The server's error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(log_file(self.dir.path())).unwrap_or_default()
    }
}

impl Drop for MysqlServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// mariadbd on `port`, its data, socket, pid file and log in `dir`, with `extra` options.
fn spawn(port: u16, dir: &Path, extra: &[String]) -> Child {
    unprivileged(&server_binary())
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data_dir(dir).display()))
        .arg(format!("--tmpdir={}", tmp_dir(dir).display()))
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--log-error={}", log_file(dir).display()))
        .arg(format!("--init-file={}", dir.join("init.sql").display()))
        .args([
            "--bind-address=127.0.0.1",
            &format!("--port={port}"),
            "--skip-networking=0",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=16M",
            "--innodb-log-file-size=4M",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd starts")
}

fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

fn tmp_dir(dir: &Path) -> PathBuf {
    dir.join("tmp")
}

fn log_file(dir: &Path) -> PathBuf {
    dir.join("error.log")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
