//! Shared test support: a cluster in a temp dir and a scheduler (herd's own client) that
//! waits for events under a timeout.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use herd_localmesos::{ClusterConfig, LocalCluster};
use herd_mesos_api::scheduler::{Accept, Call, Event, Subscribe};
use herd_mesos_api::{
    AgentId, CommandInfo, Filters, FrameworkCapability, FrameworkCapabilityType, FrameworkInfo, Offer,
    Operation, Resource, TaskId, TaskInfo, TaskState, TaskStatus,
};
use herd_mesos_client::{Backoff, Client, ClientConfig, Events, Incoming, MasterUrl};
use std::time::Duration;

/// Bound on every wait.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestCluster {
    pub cluster: LocalCluster,
    pub dir: tempfile::TempDir,
}

pub async fn cluster(agents: usize) -> TestCluster {
    cluster_with(agents, |_| {}).await
}

pub async fn cluster_with(agents: usize, tweak: impl FnOnce(&mut ClusterConfig)) -> TestCluster {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClusterConfig::for_tests(dir.path(), agents);
    // A block per test process run, so concurrent test clusters rarely share addresses.
    config.agent_ip_block = 1 + (std::process::id() % 200) as u8 + (rand_block() % 50);
    tweak(&mut config);
    let cluster = LocalCluster::start(config).await.unwrap();
    TestCluster { cluster, dir }
}

fn rand_block() -> u8 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    (nanos % 251) as u8
}

pub fn framework_info(name: &str, capabilities: &[FrameworkCapabilityType]) -> FrameworkInfo {
    let multi_role = capabilities.contains(&FrameworkCapabilityType::MultiRole);
    FrameworkInfo {
        user: whoami(),
        name: name.into(),
        roles: if multi_role { vec!["herd-role".into()] } else { vec![] },
        principal: Some("herd".into()),
        failover_timeout: Some(60.0),
        capabilities: capabilities.iter().map(|&kind| FrameworkCapability { kind }).collect(),
        ..FrameworkInfo::default()
    }
}

pub fn whoami() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().name
}

/// The capabilities of the recorded samples' framework.
pub const HERD_CAPS: &[FrameworkCapabilityType] = &[
    FrameworkCapabilityType::MultiRole,
    FrameworkCapabilityType::ReservationRefinement,
    FrameworkCapabilityType::PartitionAware,
    FrameworkCapabilityType::TaskKillingState,
];

pub struct Sched {
    pub client: Client,
    pub events: Events,
    pub framework_id: Option<herd_mesos_api::FrameworkId>,
}

impl Sched {
    pub async fn subscribe(master_url: &str, info: FrameworkInfo) -> Sched {
        let mut config = ClientConfig::new(MasterUrl::parse(master_url).unwrap());
        config.backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(200) };
        let (client, events) =
            Client::subscribe(config, Subscribe { framework_info: info, ..Subscribe::default() }).unwrap();
        let mut s = Sched { client, events, framework_id: None };
        match s.next().await {
            Event::Subscribed(sub) => s.framework_id = Some(sub.framework_id),
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
        s
    }

    /// The next event (heartbeats skipped; within `WAIT` however many heartbeats come).
    pub async fn next(&mut self) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let incoming = tokio::time::timeout_at(deadline, self.events.next())
                .await
                .expect("no event in time")
                .expect("subscription ended");
            match incoming {
                Incoming::Event(Event::Heartbeat) => continue,
                Incoming::Event(e) => return e,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Waits for offers (other events are returned in `skipped`).
    pub async fn offers(&mut self) -> Vec<Offer> {
        loop {
            if let Event::Offers(o) = self.next().await {
                return o.offers;
            }
        }
    }

    /// Waits for the next UPDATE of `task`, acknowledging it (and any other update seen).
    pub async fn update_of(&mut self, task: &str) -> TaskStatus {
        loop {
            if let Event::Update(u) = self.next().await {
                self.client.acknowledge(&u.status).await.unwrap();
                if u.status.task_id.as_str() == task {
                    return u.status;
                }
            }
        }
    }

    /// Waits until `task` reaches a terminal state; returns every state seen.
    pub async fn states_until_terminal(&mut self, task: &str) -> Vec<TaskState> {
        let mut states = Vec::new();
        loop {
            let s = self.update_of(task).await;
            states.push(s.state);
            if s.state.is_terminal() {
                return states;
            }
        }
    }

    pub async fn accept(&self, offer: &Offer, operations: Vec<Operation>) {
        self.client
            .call(Call::Accept(Accept {
                offer_ids: vec![offer.id.clone()],
                operations,
                filters: Some(Filters::refuse(0.0)),
            }))
            .await
            .unwrap();
    }
}

/// A command task using cpus/mem from the offer's role.
pub fn command_task(id: &str, agent: &AgentId, command: &str, role: Option<&str>) -> TaskInfo {
    let res = |r: Resource| match role {
        Some(role) => r.allocated_to(role),
        None => r,
    };
    TaskInfo {
        name: id.into(),
        task_id: TaskId::new(id),
        agent_id: agent.clone(),
        resources: vec![res(Resource::scalar("cpus", 0.1)), res(Resource::scalar("mem", 32.0))],
        command: Some(CommandInfo::shell(command)),
        ..TaskInfo::default()
    }
}

impl Sched {
    /// The next UPDATE (of any task), not acknowledged.
    pub async fn next_update(&mut self) -> TaskStatus {
        loop {
            if let Event::Update(u) = self.next().await {
                return u.status;
            }
        }
    }

    /// Offers from `agent` only (others are declined with a short filter).
    pub async fn offer_from(&mut self, agent: &AgentId) -> Offer {
        loop {
            for offer in self.offers().await {
                if &offer.agent_id == agent {
                    return offer;
                }
                self.decline(&offer, 0.2).await;
            }
        }
    }

    pub async fn decline(&self, offer: &Offer, seconds: f64) {
        self.client
            .call(Call::Decline(herd_mesos_api::scheduler::Decline {
                offer_ids: vec![offer.id.clone()],
                filters: Some(Filters::refuse(seconds)),
            }))
            .await
            .unwrap();
    }
}

/// `resource` reserved for herd-role by principal herd, labelled with `resource_id`.
pub fn reserved(resource: Resource, resource_id: &str) -> Resource {
    use herd_mesos_api::{Labels, ReservationInfo};
    resource.allocated_to("herd-role").reserved(ReservationInfo::dynamic(
        "herd-role",
        Some("herd".into()),
        Some([("resource_id", resource_id)].into_iter().collect::<Labels>()),
    ))
}

/// A persistent volume of `size` MB at `path`, on reserved disk.
pub fn volume(size: f64, id: &str, path: &str, resource_id: &str) -> Resource {
    let mut v = reserved(Resource::scalar("disk", size), resource_id);
    v.disk = Some(herd_mesos_api::DiskInfo {
        persistence: Some(herd_mesos_api::Persistence { id: id.into(), principal: Some("herd".into()) }),
        volume: Some(herd_mesos_api::Volume::rw(path)),
        source: None,
    });
    v
}
