//! A real PostgreSQL server for tests, from the OS packages (Debian's `postgresql`): a fresh
//! cluster in a temp dir (`initdb`, user `postgres` with a password, md5 authentication over
//! TCP), listening on an ephemeral port of 127.0.0.1, optionally with TLS; stopped and removed
//! when dropped. As root, the server runs as `nobody` (PostgreSQL refuses root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password of the `postgres` user.
pub const PASSWORD: &str = "pg-probe-secret";
/// The database the tests use (created at start).
pub const DATABASE: &str = "probe";

/// Where `initdb` and `postgres` are: `PG_BIN`, else `pg_config --bindir`, else Debian's
/// newest `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| has_server(d));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// TLS for the server: a certificate chain and its key, PEM.
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A running server; `port` stays the same across `restart`.
pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_nobody: bool,
    tls: bool,
    child: Option<Child>,
}

impl PgServer {
    /// Starts one without TLS, or returns `None` (after saying so) where PostgreSQL is not
    /// installed; under CI (`CI=true`) a missing server is a failure.
    pub async fn start() -> Option<Self> {
        Self::start_with(None).await
    }

    /// Starts one that also offers TLS with `tls`'s certificate.
    pub async fn start_with(tls: Option<ServerTls>) -> Option<Self> {
        let Some(bin) = bin_dir() else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL is required in CI: install it (apt-get install postgresql)");
            }
            eprintln!(
                "SKIPPED: no PostgreSQL server found (apt-get install postgresql, or set PG_BIN)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let as_nobody = is_root();
        std::fs::write(dir.path().join("pwfile"), PASSWORD).unwrap();
        std::fs::create_dir(dir.path().join("sock")).unwrap();
        if let Some(tls) = &tls {
            std::fs::write(dir.path().join("server.crt"), &tls.cert_pem).unwrap();
            std::fs::write(dir.path().join("server.key"), &tls.key_pem).unwrap();
            set_mode(&dir.path().join("server.key"), 0o600);
        }
        if as_nobody {
            for entry in ["", "pwfile", "sock", "server.crt", "server.key"] {
                let path = dir.path().join(entry);
                if path.exists() {
                    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
                }
            }
        }
        let data = dir.path().join("data");
        let mut initdb = command(&bin.join("initdb"), as_nobody);
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=md5",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .args(["--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", dir.path().join("pwfile").display()));
        let out = initdb.output().expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            port,
            bin,
            dir,
            as_nobody,
            tls: tls.is_some(),
            child: None,
        };
        server.run().await;
        let client = server.client("postgres").await;
        client
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await
            .expect("create database");
        Some(server)
    }

    /// Starts the server process on the cluster and port, and waits until it takes logins.
    async fn run(&mut self) {
        let mut postgres = command(&self.bin.join("postgres"), self.as_nobody);
        postgres
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-k")
            .arg(self.dir.path().join("sock"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200", "-c", "shared_buffers=16MB"]);
        if self.tls {
            postgres
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    self.dir.path().join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    self.dir.path().join("server.key").display()
                ));
        }
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        postgres
            .stdout(Stdio::null())
            .stderr(log)
            .stdin(Stdio::null());
        self.child = Some(postgres.spawn().expect("postgres starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.try_client("postgres").await.is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("postgres exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not take logins within 30 s: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A key=value connection string for `database` as `postgres` with `password`.
    pub fn address_with(&self, database: &str, password: &str, sslmode: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres password={password} dbname={database} sslmode={sslmode}",
            self.port
        )
    }

    /// The test database's connection string (no TLS).
    pub fn address(&self) -> String {
        self.address_with(DATABASE, PASSWORD, "disable")
    }

    async fn try_client(
        &self,
        database: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(
            &self.address_with(database, PASSWORD, "disable"),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// The test's own connection to `database`, to look at what the guests did.
    pub async fn client(&self, database: &str) -> tokio_postgres::Client {
        self.try_client(database)
            .await
            .unwrap_or_else(|e| panic!("connect to {database}: {e}: {}", self.log()))
    }

    /// Stops the server at once (an immediate shutdown, as a crash: every connection is cut
    /// and nothing is flushed), waiting until it has exited.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -QUIT {}", child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the killed server again, on the same port and data.
    pub async fn restart(&mut self) {
        self.kill();
        self.run().await;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn command(program: &Path, as_nobody: bool) -> Command {
    if as_nobody {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
