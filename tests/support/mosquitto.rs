//! A real Mosquitto MQTT broker on an ephemeral 127.0.0.1 port, with one user and password
//! (anonymous clients refused), killed when dropped. Run as `nobody` when the tests run as
//! root, as a broker should not run as root.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Mosquitto {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

pub const USER: &str = "spin";
pub const PASSWORD: &str = "s3cret";

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this process runs as root (then servers are started as `nobody`).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program args..`, as `nobody` when running as root.
pub fn unprivileged(program: &str, dir: &Path) -> Command {
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(dir)
            .status()
            .expect("chown runs");
        assert!(status.success(), "chown {} to nobody", dir.display());
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

impl Mosquitto {
    /// Starts one, or returns `None` (after saying so) where mosquitto is not installed;
    /// under CI (`CI=true`) a missing mosquitto is a failure.
    pub fn start() -> Option<Self> {
        if !installed("mosquitto") || !installed("mosquitto_passwd") {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("mosquitto is required in CI: install it (apt-get install mosquitto)");
            }
            eprintln!("SKIPPED: no mosquitto found (apt-get install mosquitto)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let passwords = dir.path().join("passwords");
        let status = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwords)
            .args([USER, PASSWORD])
            .status()
            .expect("mosquitto_passwd runs");
        assert!(status.success(), "mosquitto_passwd failed");
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
                 persistence false\nlog_dest stderr\n",
                passwords.display()
            ),
        )
        .unwrap();
        let child = unprivileged("mosquitto", dir.path())
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            port,
            child,
            _dir: dir,
        })
    }

    /// The address a guest opens, with its client id.
    pub fn address(&self, client_id: &str) -> String {
        format!("mqtt://127.0.0.1:{}?client_id={client_id}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
