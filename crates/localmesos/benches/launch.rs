//! Launch throughput of the local cluster: 1,000 `true` command tasks over 4 agents,
//! launched by herd's scheduler client as offers arrive (every update acknowledged).
//! Reports tasks/s from the first ACCEPT to the last TASK_FINISHED, and p50/p99 of
//! ACCEPT → TASK_RUNNING and ACCEPT → TASK_FINISHED as the scheduler sees them.
//!
//! `cargo bench -p herd-localmesos --bench launch [-- TASKS AGENTS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use herd_localmesos::{AgentSpec, ClusterConfig, LocalCluster};
use herd_mesos_api::scheduler::{Accept, Call, Event, Subscribe};
use herd_mesos_api::{
    CommandInfo, Filters, FrameworkCapability, FrameworkCapabilityType, FrameworkInfo, Operation, Resource,
    TaskId, TaskInfo, TaskState,
};
use herd_mesos_client::{Client, ClientConfig, Incoming, MasterUrl};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CPUS: f64 = 0.01;
const MEM: f64 = 1.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let tasks: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let agents: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(tasks, agents));
}

async fn run(total: usize, agents: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::for_tests(dir.path(), agents);
    config.agent_ip_block = 250;
    config.allocation_interval = Duration::from_millis(20);
    config.agents = vec![AgentSpec { cpus: 16.0, mem: 65536.0, ..AgentSpec::default() }; agents];
    let cluster = LocalCluster::start(config).await.unwrap();
    let info = FrameworkInfo {
        user: nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name,
        name: "launch-bench".into(),
        roles: vec!["bench".into()],
        capabilities: vec![FrameworkCapability { kind: FrameworkCapabilityType::MultiRole }],
        ..FrameworkInfo::default()
    };
    let (client, mut events) = Client::subscribe(
        ClientConfig::new(MasterUrl::parse(&cluster.master_url()).unwrap()),
        Subscribe { framework_info: info, ..Subscribe::default() },
    )
    .unwrap();
    let mut launched = 0usize;
    let mut accepted_at: HashMap<TaskId, Instant> = HashMap::new();
    let mut to_running = Vec::with_capacity(total);
    let mut to_finished = Vec::with_capacity(total);
    let mut failed = 0usize;
    let mut first_accept = None;
    let mut done = 0usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    while done < total {
        assert!(Instant::now() < deadline, "bench did not finish in 10 minutes ({done}/{total} done)");
        let incoming = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .expect("no event for 60 s")
            .expect("subscription ended");
        let Incoming::Event(event) = incoming else { panic!("unexpected {incoming:?}") };
        match event {
            Event::Offers(offers) => {
                for offer in offers.offers {
                    let role = offer.allocation_info.as_ref().and_then(|a| a.role.clone()).unwrap();
                    let cpus: f64 = offer
                        .resources
                        .iter()
                        .filter(|r| r.name == "cpus")
                        .filter_map(|r| r.scalar_value())
                        .sum();
                    let mem: f64 = offer
                        .resources
                        .iter()
                        .filter(|r| r.name == "mem")
                        .filter_map(|r| r.scalar_value())
                        .sum();
                    let fit = ((cpus / CPUS).floor().min((mem / MEM).floor()) as usize)
                        .min(total - launched)
                        .min(250);
                    let task_infos: Vec<TaskInfo> = (0..fit)
                        .map(|i| TaskInfo {
                            name: "true".into(),
                            task_id: TaskId::new(format!("t{}", launched + i)),
                            agent_id: offer.agent_id.clone(),
                            resources: vec![
                                Resource::scalar("cpus", CPUS).allocated_to(role.clone()),
                                Resource::scalar("mem", MEM).allocated_to(role.clone()),
                            ],
                            command: Some(CommandInfo::shell("true")),
                            ..TaskInfo::default()
                        })
                        .collect();
                    launched += fit;
                    let now = Instant::now();
                    first_accept.get_or_insert(now);
                    for t in &task_infos {
                        accepted_at.insert(t.task_id.clone(), now);
                    }
                    let operations =
                        if task_infos.is_empty() { vec![] } else { vec![Operation::launch(task_infos)] };
                    client
                        .call(Call::Accept(Accept {
                            offer_ids: vec![offer.id],
                            operations,
                            filters: Some(Filters::refuse(0.0)),
                        }))
                        .await
                        .unwrap();
                }
            }
            Event::Update(u) => {
                let at = accepted_at[&u.status.task_id];
                match u.status.state {
                    TaskState::TaskRunning => to_running.push(at.elapsed()),
                    TaskState::TaskFinished => {
                        to_finished.push(at.elapsed());
                        done += 1;
                    }
                    s if s.is_terminal() => {
                        failed += 1;
                        done += 1;
                    }
                    _ => {}
                }
                client.acknowledge(&u.status).await.unwrap();
            }
            _ => {}
        }
    }
    let elapsed = first_accept.unwrap().elapsed();
    client.close();
    to_running.sort();
    to_finished.sort();
    let pct =
        |v: &[Duration], p: f64| v[((v.len() as f64 * p).ceil() as usize).saturating_sub(1).min(v.len() - 1)];
    println!("launch: {total} `true` tasks over {agents} agents in {elapsed:.2?} ({failed} failed)");
    println!(
        "  throughput ACCEPT→TASK_FINISHED: {:.0} tasks/s ({:.2} ms per task)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / total as f64
    );
    println!("  ACCEPT→TASK_RUNNING  p50 {:.1?}  p99 {:.1?}", pct(&to_running, 0.5), pct(&to_running, 0.99));
    println!(
        "  ACCEPT→TASK_FINISHED p50 {:.1?}  p99 {:.1?}",
        pct(&to_finished, 0.5),
        pct(&to_finished, 0.99)
    );
    assert_eq!(failed, 0, "tasks failed");
}
