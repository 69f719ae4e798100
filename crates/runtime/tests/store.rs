//! The state store's contract, run against every backend; the file store's own promises:
//! data survives a reopen, one process at a time, and batches are all-or-nothing across
//! SIGKILL; and the ZooKeeper store's: against a real ZooKeeper 3.9 server, `multi`s are
//! all-or-nothing, one scheduler leads at a time, a lost session is a clear error.
//!
//! The ZooKeeper tests need the jars: `bash scripts/fetch-zookeeper.sh` (they fail, never
//! skip, without them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../mesos-client/tests/support/zookeeper.rs"]
mod zookeeper_server;

use herd_runtime::store::{Batch, FileStore, MemoryStore, StateStore, StoreError, ZkStore};

/// What every backend must do, each case a function of the store under test.
mod contract {
    use std::time::{Duration, Instant};

    use super::*;

    pub fn put_get_overwrite(store: &dyn StateStore) {
        assert_eq!(store.get("framework_id").unwrap(), None);
        store.apply(Batch::new().put("framework_id", b"fw-1".to_vec())).unwrap();
        assert_eq!(store.get("framework_id").unwrap(), Some(b"fw-1".to_vec()));
        store.apply(Batch::new().put("framework_id", b"fw-2".to_vec())).unwrap();
        assert_eq!(store.get("framework_id").unwrap(), Some(b"fw-2".to_vec()));
        store.apply(Batch::new().put("empty", Vec::new())).unwrap();
        assert_eq!(store.get("empty").unwrap(), Some(Vec::new()));
    }

    pub fn values_are_opaque_bytes(store: &dyn StateStore) {
        let every_byte: Vec<u8> = (0..=255).collect();
        let big: Vec<u8> = (0..600 * 1024).map(|i| (i % 251) as u8).collect();
        store.apply(Batch::new().put("bytes", every_byte.clone()).put("big", big.clone())).unwrap();
        assert_eq!(store.get("bytes").unwrap(), Some(every_byte));
        assert_eq!(store.get("big").unwrap(), Some(big));
    }

    pub fn list_is_sorted_and_follows_segments(store: &dyn StateStore) {
        let keys = [
            "instances/hello-1",
            "instances",
            "plans/deploy",
            "instances/hello-0/tasks/server",
            "instances-old/x",
            "instances/hello-0",
            "instances0",
            "framework_id",
        ];
        let mut batch = Batch::new();
        for key in keys {
            batch = batch.put(key, key.as_bytes().to_vec());
        }
        store.apply(batch).unwrap();

        let mut all = keys.to_vec();
        all.sort_unstable();
        assert_eq!(store.list("").unwrap(), all);
        assert_eq!(
            store.list("instances").unwrap(),
            ["instances/hello-0", "instances/hello-0/tasks/server", "instances/hello-1"]
        );
        assert_eq!(store.list("instances/hello-0").unwrap(), ["instances/hello-0/tasks/server"]);
        assert!(store.list("instances/hello-1").unwrap().is_empty());
        assert!(store.list("nothing").unwrap().is_empty());
    }

    pub fn delete_and_delete_prefix(store: &dyn StateStore) {
        store
            .apply(
                Batch::new()
                    .put("instances", b"parent".to_vec())
                    .put("instances/a", b"1".to_vec())
                    .put("instances/a/t", b"2".to_vec())
                    .put("instances/b", b"3".to_vec())
                    .put("instances-old/c", b"4".to_vec())
                    .put("k", b"5".to_vec()),
            )
            .unwrap();
        store.apply(Batch::new().delete("k").delete("never-written")).unwrap();
        assert_eq!(store.get("k").unwrap(), None);

        store.apply(Batch::new().delete_prefix("instances/a")).unwrap();
        assert_eq!(store.list("").unwrap(), ["instances", "instances-old/c", "instances/a", "instances/b"]);
        store.apply(Batch::new().delete_prefix("instances")).unwrap();
        assert_eq!(store.list("").unwrap(), ["instances", "instances-old/c"]);
        store.apply(Batch::new().delete_prefix("")).unwrap();
        assert!(store.list("").unwrap().is_empty());
    }

    pub fn deleting_a_key_keeps_the_keys_under_it(store: &dyn StateStore) {
        store
            .apply(
                Batch::new()
                    .put("instances", b"p".to_vec())
                    .put("instances/a", b"1".to_vec())
                    .put("instances/a/t", b"2".to_vec()),
            )
            .unwrap();
        store.apply(Batch::new().delete("instances").delete("instances/a")).unwrap();
        assert_eq!(store.list("").unwrap(), ["instances/a/t"]);
        assert_eq!(store.get("instances").unwrap(), None);
        assert_eq!(store.get("instances/a").unwrap(), None);
        assert_eq!(store.get("instances/a/t").unwrap(), Some(b"2".to_vec()));
        store.apply(Batch::new().put("instances/a", b"3".to_vec())).unwrap();
        assert_eq!(store.list("instances").unwrap(), ["instances/a", "instances/a/t"]);
        store.apply(Batch::new().delete("instances/a/t").delete("instances/a")).unwrap();
        assert!(store.list("").unwrap().is_empty());
    }

    pub fn a_batch_applies_in_order(store: &dyn StateStore) {
        store
            .apply(
                Batch::new()
                    .put("a/1", b"x".to_vec())
                    .put("gone", b"x".to_vec())
                    .delete_prefix("a")
                    .put("a/2", b"y".to_vec())
                    .delete("gone")
                    .put("twice", b"first".to_vec())
                    .put("twice", b"second".to_vec()),
            )
            .unwrap();
        assert_eq!(store.list("").unwrap(), ["a/2", "twice"]);
        assert_eq!(store.get("twice").unwrap(), Some(b"second".to_vec()));
        store.apply(Batch::new()).unwrap();
        assert_eq!(store.list("").unwrap(), ["a/2", "twice"]);
    }

    pub fn a_refused_batch_changes_nothing(store: &dyn StateStore) {
        store.apply(Batch::new().put("kept", b"1".to_vec())).unwrap();
        let err = store.apply(Batch::new().delete("kept").put("bad key", b"2".to_vec())).unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { ref key, .. } if key == "bad key"));
        let too_big =
            Batch::new().delete("kept").put("v1", vec![0; 500 * 1024]).put("v2", vec![0; 500 * 1024]);
        let err = store.apply(too_big).unwrap_err();
        assert!(matches!(err, StoreError::BatchTooLarge { .. }), "{err:?}");
        assert_eq!(store.list("").unwrap(), ["kept"]);
        assert!(matches!(store.get("/kept"), Err(StoreError::InvalidKey { .. })));
        assert!(matches!(store.list("kept/"), Err(StoreError::InvalidKey { .. })));
    }

    /// Readers running beside a writer never see part of a batch: each batch N writes a/N,
    /// b/N and then `counter` = N, so a reader that sees counter N must find a/N and b/N.
    pub fn readers_never_see_part_of_a_batch(store: &dyn StateStore) {
        const BATCHES: u64 = 200;
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let mut seen = 0;
                    while seen < BATCHES {
                        assert!(Instant::now() < deadline, "the writer stalled at {seen}");
                        let Some(counter) = store.get("counter").unwrap() else {
                            std::thread::yield_now();
                            continue;
                        };
                        let n: u64 = String::from_utf8(counter).unwrap().parse().unwrap();
                        assert!(n >= seen, "the counter went back from {seen} to {n}");
                        assert!(store.get(&format!("a/{n:05}")).unwrap().is_some(), "a/{n}");
                        assert!(store.get(&format!("b/{n:05}")).unwrap().is_some(), "b/{n}");
                        assert!(store.list("a").unwrap().len() as u64 >= n);
                        seen = n;
                    }
                });
            }
            for n in 1..=BATCHES {
                store
                    .apply(
                        Batch::new()
                            .put(format!("a/{n:05}"), vec![1; 100])
                            .put(format!("b/{n:05}"), vec![2; 100])
                            .put("counter", n.to_string().into_bytes()),
                    )
                    .unwrap();
            }
        });
    }
}

/// One test per contract case and backend.
macro_rules! contract_tests {
    ($($case:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[test]
                fn $case() {
                    super::contract::$case(&super::MemoryStore::new());
                }
            )*
        }
        mod file_store {
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::FileStore::open(dir.path()).unwrap();
                    super::contract::$case(&store);
                }
            )*
        }
        mod zk_store {
            $(
                #[test]
                fn $case() {
                    let server = super::zk::shared_server();
                    // Connected from a runtime that is gone by the time the case runs: the
                    // store does not depend on it.
                    let store = super::zk::connect(&super::zk::url(&server, stringify!($case)));
                    super::contract::$case(&store);
                }
            )*
        }
    };
}

contract_tests!(
    put_get_overwrite,
    values_are_opaque_bytes,
    list_is_sorted_and_follows_segments,
    delete_and_delete_prefix,
    deleting_a_key_keeps_the_keys_under_it,
    a_batch_applies_in_order,
    a_refused_batch_changes_nothing,
    readers_never_see_part_of_a_batch,
);

#[test]
fn a_reopened_file_store_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = FileStore::open(dir.path()).unwrap();
        store
            .apply(
                Batch::new()
                    .put("framework_id", b"fw-1".to_vec())
                    .put("instances/hello-0", b"agent-1".to_vec())
                    .put("instances/hello-1", b"agent-2".to_vec()),
            )
            .unwrap();
        store.apply(Batch::new().delete("instances/hello-1")).unwrap();
    }
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.list("").unwrap(), ["framework_id", "instances/hello-0"]);
    assert_eq!(store.get("framework_id").unwrap(), Some(b"fw-1".to_vec()));
}

#[test]
fn a_second_file_store_on_the_same_dir_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileStore::open(dir.path()).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("--state-dir"), "{err}");
    // The refused open left the first store working.
    first.apply(Batch::new().put("k", b"v".to_vec())).unwrap();
    drop(first);
    let again = FileStore::open(dir.path()).unwrap();
    assert_eq!(again.get("k").unwrap(), Some(b"v".to_vec()));
}

/// A writer process, SIGKILLed at random moments, never leaves part of a batch behind.
///
/// The test spawns this test binary again, filtered to [`crash::writer`] and told by
/// [`crash::WRITER_DIR_ENV`] to act as the writer: it opens the store, reads the last batch
/// number N, and applies batches N+1, N+2, … until killed. Batch N writes `a/N` and `b/N`
/// (16 KiB each, so a batch spans several pages), `c/N/x` and `c/N/y`, sets `counter` to N,
/// and deletes batch N-8's keys (`a/`, `b/` one by one, `c/N-8` by prefix). After each kill
/// the test reopens the store (which recovers it) and checks that exactly batches
/// counter-7..=counter are there, each whole with its own values, and that the counter
/// never went back. Half the kills are timed from the spawn, so some land while the writer
/// opens and recovers the store; half from the writer's "ready", so they land mid-batch.
mod crash {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant, SystemTime};

    use super::*;

    pub const WRITER_DIR_ENV: &str = "HERD_STORE_CRASH_WRITER_DIR";
    const SEED_ENV: &str = "HERD_STORE_CRASH_SEED";
    const WRITER_TEST: &str = "crash::writer";
    /// Printed by the writer once its store is open (after the "test crash::writer ..." of
    /// libtest, on the same line).
    const READY: &str = "herd-store-crash-writer: ready";
    const KILLS: usize = 20;
    const WINDOW: u64 = 8;
    const PAD_BYTES: usize = 16 * 1024;
    const READY_TIMEOUT: Duration = Duration::from_secs(60);
    const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The writer stops by itself after this, should nobody kill it.
    const WRITER_LIFETIME: Duration = Duration::from_secs(120);

    fn value(tag: char, n: u64) -> Vec<u8> {
        let mut v = format!("{tag}{n}:").into_bytes();
        v.resize(v.len() + PAD_BYTES, (n % 251) as u8);
        v
    }

    fn batch(n: u64) -> Batch {
        let mut batch = Batch::new()
            .put(format!("a/{n:010}"), value('a', n))
            .put(format!("b/{n:010}"), value('b', n))
            .put(format!("c/{n:010}/x"), value('x', n)[..16].to_vec())
            .put(format!("c/{n:010}/y"), value('y', n)[..16].to_vec())
            .put("counter", n.to_string().into_bytes());
        if n > WINDOW {
            let old = n - WINDOW;
            batch = batch
                .delete(format!("a/{old:010}"))
                .delete(format!("b/{old:010}"))
                .delete_prefix(format!("c/{old:010}"));
        }
        batch
    }

    fn counter(store: &FileStore) -> u64 {
        store.get("counter").unwrap().map_or(0, |c| String::from_utf8(c).unwrap().parse().unwrap())
    }

    /// Checks that the store holds whole batches `counter-7..=counter` and nothing else;
    /// returns the counter.
    fn check(store: &FileStore) -> u64 {
        let counter = counter(store);
        let batches: Vec<u64> = (counter.saturating_sub(WINDOW - 1).max(1)..=counter).collect();
        let mut expected: Vec<String> = vec![];
        for &n in &batches {
            expected.push(format!("a/{n:010}"));
            expected.push(format!("b/{n:010}"));
            expected.push(format!("c/{n:010}/x"));
            expected.push(format!("c/{n:010}/y"));
        }
        if counter > 0 {
            expected.push("counter".to_owned());
        }
        expected.sort_unstable();
        assert_eq!(store.list("").unwrap(), expected, "keys at counter {counter}");
        for &n in &batches {
            assert_eq!(store.get(&format!("a/{n:010}")).unwrap(), Some(value('a', n)));
            assert_eq!(store.get(&format!("b/{n:010}")).unwrap(), Some(value('b', n)));
            let x = store.get(&format!("c/{n:010}/x")).unwrap().unwrap();
            assert_eq!(x, value('x', n)[..16]);
        }
        counter
    }

    /// The writer's role; passes at once unless spawned by the crash test.
    #[test]
    fn writer() {
        let Some(dir) = std::env::var_os(WRITER_DIR_ENV) else {
            return;
        };
        let store = FileStore::open(&dir).unwrap();
        let mut n = counter(&store);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{READY}").unwrap();
        out.flush().unwrap();
        let started = Instant::now();
        while started.elapsed() < WRITER_LIFETIME {
            n += 1;
            store.apply(batch(n)).unwrap();
        }
    }

    /// A spawned writer, killed and reaped on drop whatever happens to the test.
    struct Writer {
        child: Child,
        lines: mpsc::Receiver<String>,
        reader: Option<JoinHandle<()>>,
    }

    impl Writer {
        fn spawn(dir: &std::path::Path) -> Self {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([WRITER_TEST, "--exact", "--nocapture", "--test-threads=1"])
                .env(WRITER_DIR_ENV, dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (tx, lines) = mpsc::channel();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Self { child, lines, reader: Some(reader) }
        }

        fn wait_ready(&self) {
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(line) if line.contains(READY) => return,
                    Ok(_) => {}
                    Err(e) => panic!("the writer did not get ready within {READY_TIMEOUT:?}: {e}"),
                }
            }
        }

        fn is_running(&mut self) -> bool {
            self.child.try_wait().unwrap().is_none()
        }

        /// SIGKILLs the writer and reaps it, within [`EXIT_TIMEOUT`].
        fn kill(&mut self) {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = self.child.kill();
            let deadline = Instant::now() + EXIT_TIMEOUT;
            while self.child.try_wait().ok().flatten().is_none() {
                assert!(Instant::now() < deadline, "the writer outlived SIGKILL by {EXIT_TIMEOUT:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
            // Its stdout closed with it, so the reader thread is at its end.
            if let Some(reader) = self.reader.take() {
                reader.join().unwrap();
            }
        }
    }

    impl Drop for Writer {
        fn drop(&mut self) {
            if self.reader.is_some() {
                let _ = self.child.kill();
                let deadline = Instant::now() + EXIT_TIMEOUT;
                while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// xorshift64*: enough randomness for kill times, reproducible from the printed seed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    #[test]
    fn batches_are_all_or_nothing_across_sigkill() {
        if std::env::var_os(WRITER_DIR_ENV).is_some() {
            return;
        }
        let seed = std::env::var(SEED_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        eprintln!("crash test seed {seed} (rerun with {SEED_ENV}={seed})");
        let mut rng = Rng(seed | 1);
        let dir = tempfile::tempdir().unwrap();
        let mut last = 0;
        let mut rounds_with_progress = 0;
        let mut killed_mid_open = 0;
        for round in 0..KILLS {
            let mut writer = Writer::spawn(dir.path());
            let delay = Duration::from_millis(rng.below(200));
            if round % 2 == 0 {
                writer.wait_ready();
                if round == 0 {
                    let err = FileStore::open(dir.path()).unwrap_err();
                    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
                }
            }
            std::thread::sleep(delay);
            if round % 2 == 1 && writer.lines.try_iter().all(|line| !line.contains(READY)) {
                killed_mid_open += 1;
            }
            assert!(writer.is_running(), "round {round}: the writer stopped before the kill");
            writer.kill();

            let store = FileStore::open(dir.path()).unwrap();
            let counter = check(&store);
            assert!(counter >= last, "round {round}: the counter went back from {last} to {counter}");
            if counter > last {
                rounds_with_progress += 1;
            }
            eprintln!("round {round}: killed after {delay:?}, counter {last} -> {counter}");
            last = counter;
        }
        eprintln!(
            "{KILLS} kills, {rounds_with_progress} with progress, {killed_mid_open} before the \
             writer was ready, {last} batches in all"
        );
        assert!(
            rounds_with_progress >= KILLS / 4,
            "only {rounds_with_progress} of {KILLS} rounds wrote anything"
        );
    }
}

/// The ZooKeeper store against a real server. Every test works under a path of its own, so
/// tests running at the same time share one server; it is stopped when the last of them
/// ends, so no JVM outlives the tests.
mod zk {
    use std::future::Future;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
    use std::time::{Duration, Instant};

    use zookeeper_client as zkc;

    use super::zookeeper_server::{ZkServer, free_port};
    use super::*;

    /// The timeout of the stores under test.
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    /// Bound on every wait of a test.
    const STEP: Duration = Duration::from_secs(30);

    static SERVER: Mutex<Weak<ZkServer>> = Mutex::new(Weak::new());
    static PATHS: AtomicUsize = AtomicUsize::new(0);

    /// The server shared by the tests running now; started if there is none.
    pub fn shared_server() -> Arc<ZkServer> {
        let mut slot = SERVER.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let server = Arc::new(ZkServer::start());
        *slot = Arc::downgrade(&server);
        server
    }

    /// The path of a new store on `server`: `/herd-test/<name>-<n>`.
    pub fn path(name: &str) -> String {
        format!("/herd-test/{name}-{}", PATHS.fetch_add(1, Ordering::Relaxed))
    }

    pub fn url(server: &ZkServer, name: &str) -> String {
        format!("zk://{}{}", server.connect_string(), path(name))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// A store at `url`, connected from a runtime dropped right after.
    pub fn connect(url: &str) -> ZkStore {
        runtime().block_on(ZkStore::connect(url, TIMEOUT)).unwrap()
    }

    async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
        match tokio::time::timeout(STEP, fut).await {
            Ok(value) => value,
            Err(_) => panic!("{what}: nothing within {STEP:?}"),
        }
    }

    /// A plain ZooKeeper client, to look at (and meddle with) the store's znodes.
    async fn raw(server: &ZkServer) -> zkc::Client {
        within("connect", zkc::Client::connect(&server.connect_string())).await.unwrap()
    }

    /// The znodes map the keys, values carry a marker byte, and parents left empty go away.
    #[tokio::test]
    async fn keys_are_znodes_under_the_state_root() {
        let server = shared_server();
        let path = path("layout");
        let store =
            within("connect", ZkStore::connect(&format!("zk://{}{path}", server.connect_string()), TIMEOUT))
                .await
                .unwrap();
        assert_eq!(store.url(), format!("zk://{}{path}", server.connect_string()));
        // From a task of a current-thread runtime: the blocking calls run on the store's thread.
        store.apply(Batch::new().put("a/b/c", b"x".to_vec()).put("k", Vec::new())).unwrap();
        let zk = raw(&server).await;
        let state = format!("{path}/state");
        let (data, _) = zk.get_data(&format!("{state}/a/b/c")).await.unwrap();
        assert_eq!(data, b"vx");
        assert_eq!(zk.get_data(&format!("{state}/k")).await.unwrap().0, b"v");
        assert_eq!(zk.get_data(&format!("{state}/a/b")).await.unwrap().0, b"");
        let mut top = zk.list_children(&state).await.unwrap();
        top.sort();
        assert_eq!(top, ["a", "k"]);

        store.apply(Batch::new().delete("a/b/c").delete("k")).unwrap();
        assert!(zk.list_children(&state).await.unwrap().is_empty(), "empty parents are pruned");
        assert!(store.list("").unwrap().is_empty());
    }

    /// A batch that ZooKeeper refuses half-way (a create under a znode whose ACL forbids it)
    /// is refused whole: the `multi` is all-or-nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_refused_by_zookeeper_changes_nothing() {
        let server = shared_server();
        let path = path("atomic");
        let store =
            within("connect", ZkStore::connect(&format!("zk://{}{path}", server.connect_string()), TIMEOUT))
                .await
                .unwrap();
        store.apply(Batch::new().put("kept", b"1".to_vec()).put("sub/x", b"2".to_vec())).unwrap();
        let zk = raw(&server).await;
        let read_only = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_read());
        zk.create(&format!("{path}/state/locked"), b"", &read_only).await.unwrap();

        let err = store
            .apply(
                Batch::new()
                    .put("new", b"3".to_vec())
                    .delete("kept")
                    .delete_prefix("sub")
                    .put("locked/x", b"4".to_vec()),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Zk { source: zkc::Error::NoAuth, .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&format!("create {path}/state/locked/x")), "{message}");
        assert!(message.contains("ACL"), "{message}");

        assert_eq!(store.list("").unwrap(), ["kept", "sub/x"]);
        assert_eq!(store.get("new").unwrap(), None);
        assert_eq!(store.get("kept").unwrap(), Some(b"1".to_vec()));
    }

    /// Two schedulers (two stores, two sessions) on one path: the second leads only once the
    /// first lets go, and then reads what the first wrote; one that gives up waiting leaves
    /// no lock znode behind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_scheduler_leads_at_a_time() {
        let server = shared_server();
        let path = path("leadership");
        let url = format!("zk://{}{path}", server.connect_string());
        let first = within("connect", ZkStore::connect(&url, TIMEOUT)).await.unwrap();
        let second = within("connect", ZkStore::connect(&url, TIMEOUT)).await.unwrap();
        let third = within("connect", ZkStore::connect(&url, TIMEOUT)).await.unwrap();

        let guard = within("first lock", first.lock_leadership()).await.unwrap();
        assert_eq!(guard.znode(), format!("{path}/leader/lock_0000000000"));
        let waiting = tokio::spawn(async move {
            let guard = second.lock_leadership().await;
            (second, guard)
        });
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(!waiting.is_finished(), "the second scheduler leads beside the first");

        // The third gives up after a while: its lock znode goes.
        let gave_up = tokio::time::timeout(Duration::from_millis(300), third.lock_leadership()).await;
        assert!(gave_up.is_err(), "the third scheduler leads beside the first");
        let zk = raw(&server).await;
        let deadline = Instant::now() + STEP;
        loop {
            let mut members = zk.list_children(&format!("{path}/leader")).await.unwrap();
            members.sort();
            if members == ["lock_0000000000", "lock_0000000001"] {
                break;
            }
            assert!(Instant::now() < deadline, "lock znodes left: {members:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        first.apply(Batch::new().put("written-by", b"first".to_vec())).unwrap();
        drop(guard);
        let (second, guard) = within("second lock", waiting).await.unwrap();
        let guard = guard.unwrap();
        assert_eq!(guard.znode(), format!("{path}/leader/lock_0000000001"));
        assert_eq!(second.get("written-by").unwrap(), Some(b"first".to_vec()));
        let (_, stat) = zk.get_data(guard.znode()).await.unwrap();
        assert_ne!(stat.ephemeral_owner, 0, "the lock znode is ephemeral");
    }

    const LEADER_URL_ENV: &str = "HERD_STORE_ZK_LEADER_URL";
    const LEADING: &str = "herd-store-zk-leader: leading";

    /// The leader's role in [`a_crashed_leaders_lock_goes_with_its_session`]; passes at once
    /// unless spawned by it.
    #[test]
    fn leader_process() {
        let Ok(url) = std::env::var(LEADER_URL_ENV) else {
            return;
        };
        runtime().block_on(async {
            let store =
                ZkStore::connect_with_session_timeout(&url, TIMEOUT, Duration::from_secs(2)).await.unwrap();
            let _guard = store.lock_leadership().await.unwrap();
            let mut out = std::io::stdout().lock();
            writeln!(out, "{LEADING}").unwrap();
            out.flush().unwrap();
            // Until killed.
            std::future::pending::<()>().await;
        });
    }

    /// A child process, SIGKILLed on drop.
    struct Killed(Child);

    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A leader that dies without dropping its guard (SIGKILL) leads until its session
    /// expires, and not longer: then the next scheduler leads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crashed_leaders_lock_goes_with_its_session() {
        let server = shared_server();
        let url = url(&server, "crashed-leader");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["zk::leader_process", "--exact", "--nocapture", "--test-threads=1"])
            .env(LEADER_URL_ENV, &url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut leader = Killed(child);
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + STEP;
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains(LEADING) => break,
                Ok(_) => {}
                Err(e) => panic!("the leader process did not lead within {STEP:?}: {e}"),
            }
        }

        let store = within("connect", ZkStore::connect(&url, TIMEOUT)).await.unwrap();
        let mut waiting = Box::pin(store.lock_leadership());
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), &mut waiting).await.is_err(),
            "led beside a live leader"
        );
        let killed = Instant::now();
        leader.0.kill().unwrap();
        leader.0.wait().unwrap();
        let guard = within("lock after the crash", waiting).await.unwrap();
        let took = killed.elapsed();
        assert!(guard.znode().ends_with("/leader/lock_0000000001"), "{}", guard.znode());
        // The session timeout was 2 s; ZooKeeper checks expiry once a tick (500 ms here).
        assert!(
            took >= Duration::from_millis(1000),
            "led {took:?} after the crash: before the session expired"
        );
        eprintln!("led {took:?} after the leader was killed");
    }

    /// When ZooKeeper is gone for longer than the session timeout, the session expires, and
    /// every call says so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_session_is_a_clear_error() {
        // A server of its own: this test stops it.
        let server = ZkServer::start();
        let url = url(&server, "session-loss");
        let store = within(
            "connect",
            ZkStore::connect_with_session_timeout(&url, Duration::from_secs(3), Duration::from_secs(2)),
        )
        .await
        .unwrap();
        assert_eq!(store.session_timeout(), Duration::from_secs(2));
        let guard = within("lock", store.lock_leadership()).await.unwrap();
        store.apply(Batch::new().put("k", b"v".to_vec())).unwrap();
        drop(server);

        let deadline = Instant::now() + STEP;
        let lost = loop {
            match store.get("k") {
                Err(err @ StoreError::ZkSessionLost { .. }) => break err,
                Err(StoreError::ZkTimeout { .. }) => {}
                other => panic!("while ZooKeeper is down: {other:?}"),
            }
            assert!(Instant::now() < deadline, "the session did not end within {STEP:?}");
        };
        let message = lost.to_string();
        assert!(message.contains(&url), "{message}");
        assert!(message.contains("session ended (Expired)"), "{message}");
        assert!(message.contains("must stop"), "{message}");

        let started = Instant::now();
        let err = store.apply(Batch::new().put("k", b"w".to_vec())).unwrap_err();
        assert!(matches!(err, StoreError::ZkSessionLost { .. }), "{err:?}");
        assert!(matches!(store.list(""), Err(StoreError::ZkSessionLost { .. })));
        let err = within("lock", store.lock_leadership()).await.unwrap_err();
        assert!(matches!(err, StoreError::ZkSessionLost { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "a lost session fails calls at once");
        drop(guard);
    }

    /// Two stores writing to one path at once (which leadership normally prevents) conflict,
    /// retry, and still never split a batch: each batch writes x/N and y/N, or deletes both
    /// prefixes, and a third store never lists one without the other.
    #[test]
    fn concurrent_writers_never_split_a_batch() {
        let server = shared_server();
        let url = url(&server, "concurrent");
        let (a, b, reader) = (connect(&url), connect(&url), connect(&url));
        let check = |keys: &[String]| {
            let xs: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix("x/")).collect();
            let ys: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix("y/")).collect();
            assert_eq!(xs, ys, "a batch was split: {keys:?}");
        };
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let deadline = Instant::now() + STEP;
                while !done.load(Ordering::Relaxed) {
                    assert!(Instant::now() < deadline, "the writers stalled");
                    check(&reader.list("").unwrap());
                }
            });
            let writer = s.spawn(|| {
                for n in 0..60 {
                    a.apply(Batch::new().put(format!("x/{n:03}"), vec![1]).put(format!("y/{n:03}"), vec![2]))
                        .unwrap();
                }
            });
            for _ in 0..15 {
                b.apply(Batch::new().delete_prefix("x").delete_prefix("y")).unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
            writer.join().unwrap();
            done.store(true, Ordering::Relaxed);
        });
        check(&reader.list("").unwrap());
    }

    #[test]
    fn opening_fails_clearly() {
        let rt = runtime();
        let err = rt.block_on(ZkStore::connect("zk://u:secret@host:2181", TIMEOUT)).unwrap_err();
        assert!(matches!(err, StoreError::ZkUrl(_)), "{err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");

        let nobody = format!("zk://127.0.0.1:{}/herd", free_port());
        let started = Instant::now();
        let err = rt.block_on(ZkStore::connect(&nobody, Duration::from_secs(2))).unwrap_err();
        assert!(matches!(err, StoreError::ZkConnect { .. }), "{err:?}");
        assert!(err.to_string().contains("within 2s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));

        // A path whose state znode holds someone else's data.
        let server = shared_server();
        let path = path("foreign");
        rt.block_on(async {
            let zk = raw(&server).await;
            let options = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
            zk.mkdir(&path, &options).await.unwrap();
            zk.create(&format!("{path}/state"), b"not ours", &options).await.unwrap();
        });
        let url = format!("zk://{}{path}", server.connect_string());
        let err = rt.block_on(ZkStore::connect(&url, TIMEOUT)).unwrap_err();
        assert!(matches!(err, StoreError::ZkCorrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("something other than a herd state store"), "{err}");
    }

    /// With credentials in the URL, the store's znodes are for their creator only: the target
    /// configuration may hold secrets.
    #[test]
    fn credentials_make_the_state_private() {
        let server = shared_server();
        let path = format!("/herd-test-private-{}", PATHS.fetch_add(1, Ordering::Relaxed));
        let store = connect(&format!("zk://herd:secret@{}{path}", server.connect_string()));
        assert!(!store.url().contains("secret"), "{}", store.url());
        store.apply(Batch::new().put("config", b"password=hunter2".to_vec())).unwrap();
        assert_eq!(store.get("config").unwrap(), Some(b"password=hunter2".to_vec()));

        let outsider = runtime().block_on(async {
            let zk = raw(&server).await;
            zk.get_data(&format!("{path}/state/config")).await.map(|_| ())
        });
        assert_eq!(outsider, Err(zkc::Error::NoAuth));
        let url = format!("zk://{}{path}", server.connect_string());
        let err = runtime().block_on(ZkStore::connect(&url, TIMEOUT)).unwrap_err();
        assert!(matches!(err, StoreError::Zk { source: zkc::Error::NoAuth, .. }), "{err:?}");
        assert!(err.to_string().contains("credentials"), "{err}");
    }
}
