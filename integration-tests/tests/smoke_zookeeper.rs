//! Smoke test: a standalone ZooKeeper from the assembled distribution answers `srvr` and
//! serves a znode to a real client (`zookeeper-client`). Records its floor.
//!
//! Launch, per the verified recipe: `java -Xmx256m -Dlogback.configurationFile=conf/logback.xml
//! -cp 'libs/*' org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg`, the admin server
//! off and the four-letter words `srvr`/`ruok` whitelisted. Binds 127.0.21.1 only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{
    Daemon, distribution, free_port, guarded_command, java, record_floor, scratch_dir,
};
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zookeeper_client::{Acls, Client, CreateMode};

/// This test file's own loopback address.
const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 21, 1);

/// Sends a four-letter word and reads the answer to EOF.
async fn four_letter_word(addr: (Ipv4Addr, u16), word: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(word.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_answers_srvr_and_serves_a_znode() {
    let dist = distribution("zookeeper").await.expect("assemble zookeeper");
    let scratch = scratch_dir("zookeeper").unwrap();
    let node = scratch.path();
    let data = node.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port(IP).unwrap();
    let config = node.join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "tickTime=2000\n\
             initLimit=10\n\
             syncLimit=5\n\
             dataDir={}\n\
             clientPort={port}\n\
             clientPortAddress={IP}\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=srvr,ruok\n",
            data.display()
        ),
    )
    .unwrap();

    let mut command = guarded_command(java(), None);
    command
        .arg("-Xmx256m")
        .arg(format!("-Dlogback.configurationFile={}/conf/logback.xml", dist.home.display()))
        .arg(format!("-Dzookeeper.log.dir={}/logs", node.display()))
        .arg("-cp")
        .arg(dist.classpath("libs"))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(&config)
        .current_dir(node);
    let mut zk = Daemon::spawn("zookeeper", command, node).unwrap();

    let srvr = zk
        .wait_until("srvr answers Mode: standalone", Duration::from_secs(60), || async {
            let answer = four_letter_word((IP, port), "srvr").await?;
            anyhow::ensure!(answer.contains("Mode: standalone"), "srvr answered {answer:?}");
            anyhow::Ok(answer)
        })
        .await;
    let ready = zk.uptime();
    assert!(srvr.contains(&format!("Zookeeper version: {}", dist.version)), "srvr answered {srvr:?}");

    zk.expect_within("a znode round trip through zookeeper-client", Duration::from_secs(60), async {
        let ruok = four_letter_word((IP, port), "ruok").await?;
        anyhow::ensure!(ruok == "imok", "ruok answered {ruok:?}");
        let client = Client::connect(&format!("{IP}:{port}")).await?;
        let payload = b"hello from herd".as_slice();
        client.create("/herd-smoke", payload, &CreateMode::Persistent.with_acls(Acls::anyone_all())).await?;
        let (read, stat) = client.get_data("/herd-smoke").await?;
        anyhow::ensure!(read == payload, "read back {:?}", String::from_utf8_lossy(&read));
        anyhow::ensure!(stat.data_length as usize == payload.len(), "stat says {} bytes", stat.data_length);
        let children = client.list_children("/").await?;
        anyhow::ensure!(children.iter().any(|c| c == "herd-smoke"), "/ lists {children:?}");
        Ok(())
    })
    .await;

    record_floor("zookeeper", &dist.version, ready, dist.size_bytes).unwrap();
}
