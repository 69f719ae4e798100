//! A real, throw-away ZooKeeper server for integration tests.
//!
//! [`ZkServer::start`] runs `ZooKeeperServerMain` (standalone) from the jars that
//! `scripts/fetch-zookeeper.sh` puts in `${HERD_TEST_CACHE:-$HOME/.cache/herd-test}/zookeeper-3.9.5/lib`,
//! bound to 127.0.0.1 on a free port, with a temporary data dir, a 64 MB heap and the admin
//! server off; it returns once the server answers `srvr` with `Mode: standalone`. Dropping the
//! [`ZkServer`] kills the JVM and removes the data dir. If the test process dies without
//! unwinding, a tiny `sh` watchdog kills the JVM when its stdin (a pipe from the test) closes.
//!
//! Missing jars are a test failure, never a skip: run `scripts/fetch-zookeeper.sh`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The ZooKeeper version `scripts/fetch-zookeeper.sh` fetches.
pub(crate) const ZK_VERSION: &str = "3.9.5";

/// How long a server may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running standalone ZooKeeper; killed on drop.
pub(crate) struct ZkServer {
    port: u16,
    child: Child,
    /// Closing it makes the watchdog shell kill the JVM.
    watchdog_stdin: Option<ChildStdin>,
    dir: tempfile::TempDir,
}

impl ZkServer {
    /// Starts a server and waits (at most 30 s) until it serves clients.
    ///
    /// # Panics
    /// If the jars are missing (run `scripts/fetch-zookeeper.sh`), `java` cannot be started,
    /// or the server does not come up in time (the panic shows the end of its log).
    pub(crate) fn start() -> ZkServer {
        let lib = zookeeper_lib();
        // A port taken between probing and binding shows as a server that never serves: try
        // a few ports.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(&lib) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("ZooKeeper did not start:\n{}", failures.join("\n---\n"));
    }

    /// `127.0.0.1:<port>`, for a ZooKeeper connect string.
    pub(crate) fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn try_start(lib: &Path) -> Result<ZkServer, String> {
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("herd-zk-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let data = dir.path().join("data");
        let config = dir.path().join("zoo.cfg");
        let logback = dir.path().join("logback.xml");
        let log = dir.path().join("zookeeper.log");
        let pid_file = dir.path().join("java.pid");
        std::fs::create_dir(&data).map_err(|e| format!("mkdir {}: {e}", data.display()))?;
        // tickTime 500 ms: sessions may be 1–10 s long, so ephemeral nodes of a dead session
        // vanish quickly.
        std::fs::write(
            &config,
            format!(
                "tickTime=500\n\
                 dataDir={}\n\
                 clientPort={port}\n\
                 clientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n\
                 maxClientCnxns=0\n",
                data.display()
            ),
        )
        .map_err(|e| format!("write {}: {e}", config.display()))?;
        std::fs::write(&logback, LOGBACK_XML).map_err(|e| format!("write {}: {e}", logback.display()))?;

        let java = java_binary();
        // sh runs java in the background, records its pid, and kills it as soon as stdin hits
        // EOF: when the test drops the server, or when the test process dies.
        let script = r#"log="$1"; pidfile="$2"; shift 2
"$@" >"$log" 2>&1 &
echo $! >"$pidfile"
read -r _ || true
kill "$!" 2>/dev/null
wait "$!" 2>/dev/null
exit 0"#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("herd-zk-watchdog")
            .arg(&log)
            .arg(&pid_file)
            .arg(&java)
            .arg("-Xmx64m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg("-Dzookeeper.admin.enableServer=false")
            .arg(format!("-Dlogback.configurationFile={}", logback.display()))
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh (to start {}): {e}", java.display()))?;
        let watchdog_stdin = child.stdin.take();
        let mut server = ZkServer { port, child, watchdog_stdin, dir };

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if srvr_says_serving(port) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "java exited ({status}) before serving on 127.0.0.1:{port}; log:\n{}",
                    log_tail(&log)
                ));
            }
            if Instant::now() >= deadline {
                let tail = log_tail(&log);
                drop(server);
                return Err(format!(
                    "ZooKeeper not serving on 127.0.0.1:{port} after {START_TIMEOUT:?}; log:\n{tail}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        // EOF on the watchdog's stdin: it kills java and waits for it.
        drop(self.watchdog_stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The watchdog is stuck: kill both, the JVM by the pid it recorded.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("java.pid")) {
            let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `<cache>/zookeeper-<version>/lib`, or a panic telling how to fetch it.
fn zookeeper_lib() -> PathBuf {
    let cache = match std::env::var_os("HERD_TEST_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache/herd-test"),
            None => panic!("neither HERD_TEST_CACHE nor HOME is set: cannot locate ZooKeeper jars"),
        },
    };
    let root = cache.join(format!("zookeeper-{ZK_VERSION}"));
    let lib = root.join("lib");
    assert!(
        root.join(".complete").is_file() && lib.is_dir(),
        "ZooKeeper {ZK_VERSION} jars are missing from {} — run `bash scripts/fetch-zookeeper.sh` \
         from the workspace root (it needs mvn and network access to Maven Central) and rerun \
         the tests",
        lib.display()
    );
    lib
}

fn java_binary() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/java").is_file() => Path::new(&home).join("bin/java"),
        _ => PathBuf::from("java"),
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Whether the server answers the `srvr` four-letter word as a serving standalone server
/// (before it serves — or if its main thread died — it answers "not currently serving").
fn srvr_says_serving(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"srvr").is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.contains("Mode: standalone")
}

fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(log) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

const LOGBACK_XML: &str = r#"<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="OUT"/></root>
</configuration>
"#;
