//! Placement throughput of the core alone: a 1,000-instance pod type (one task of 0.5
//! cpus, 512 MB and a dynamic port, one 1 GB ROOT volume) placed onto one batch of offers
//! from 10,000 simulated agents (4 cpus, 16 GB, 100 GB disk, ports 31000-32000, a `rack`
//! TEXT attribute with 20 values), with `offer::evaluate` and a [`PlacementIndex`].
//!
//! An offer cycle is one pass over the batch: each offer is evaluated for the next
//! unplaced instance; an acceptance is added to the index and kept (RESERVE/CREATE
//! operations, task resources), a rejection is kept as the offer's outcome, and the pass
//! stops once every instance is placed or the offers run out. Only the offers, the spec,
//! the constraints and the instance and reservation ids are built outside the timing;
//! every cycle starts from an empty index.
//!
//! Groups (one per placement, `hostname:UNIQUE` and `rack:GROUP_BY:20`):
//! - `<group>/cycle`: one cycle placing all 1,000 instances; the throughput is
//!   placements/s (criterion's elements/s), the time is the time per offer cycle.
//! - `<group>/cycle-9000-busy-agents` (UNIQUE only): the same, where 9 agents in 10 have
//!   too little memory left, so the cycle walks all 10,000 offers (9,000 rejections).
//! - `<group>/evaluate-accept`, `<group>/evaluate-reject`: one `evaluate` of one offer
//!   for the last instance (999 placed), accepted, or refused by the constraint (dropping
//!   the result included, unlike in the cycles); `<group>/evaluate-reject-resources`: one
//!   the constraint allows, refused for too little memory.
//! - `<group>/constraints-accept`, `<group>/constraints-reject`: the
//!   `PlacementIndex::allows` part of the same two evaluations alone.
//!
//! Run: `cargo bench -p herd-core --bench placement`
//! (quicker: `cargo bench -p herd-core --bench placement -- --warm-up-time 1 --measurement-time 3`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use herd_core::model::InstanceId;
use herd_core::offer::{Assignment, Rejection, Request, evaluate};
use herd_core::placement::{self, AgentView, Constraint, PlacementIndex};
use herd_core::spec::{PodSpec, ServiceSpec, SpecFormat};
use herd_mesos_api::{
    Address, AgentId, AllocationInfo, Attribute, FrameworkId, Offer, OfferId, Resource, Text, Url, ValueType,
};
use std::hint::black_box;

/// Simulated agents, one offer each.
const AGENTS: usize = 10_000;
/// Instances of the pod type.
const INSTANCES: u32 = 1_000;
/// Values of the `rack` attribute.
const RACKS: usize = 20;
/// The service's role (offers are allocated to it).
const ROLE: &str = "herd-role";
/// The master id the simulated ids derive from.
const MASTER: &str = "a8242106-6859-4861-a38c-7ebfaca5998a";

/// The service, with the pod type's placement left as `{placement}`.
const SPEC: &str = r#"
name = "herd"

[[pods]]
name = "node"
count = 1000
placement = [{placement}]

[[pods.volumes]]
name = "data"
path = "data"
size_mb = 1024

[[pods.tasks]]
name = "server"
command = "exec ./server --port $PORT_HTTP"
cpus = 0.5
mem_mb = 512

[[pods.tasks.ports]]
name = "http"
"#;

/// Agent `n`'s rack: spread pseudo-randomly (splitmix64), not round-robin, so that
/// GROUP_BY refuses offers from racks ahead of the others.
fn rack_of(n: usize) -> usize {
    let mut z = (n as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % RACKS as u64) as usize
}

/// An offer of agent `n`'s unreserved resources, shaped like the master's (see
/// testdata/mesos-samples/scenario-1/14-event-offers.json), `mem` MB of memory.
fn agent_offer(n: usize, mem: f64) -> Offer {
    let hostname = format!("agent-{n}");
    let offered = |r: Resource| r.allocated_to(ROLE);
    Offer {
        id: OfferId::new(format!("{MASTER}-O{n}")),
        framework_id: FrameworkId::new(format!("{MASTER}-0000")),
        agent_id: AgentId::new(format!("{MASTER}-S{n}")),
        url: Some(Url {
            scheme: "http".to_owned(),
            address: Address {
                hostname: Some(hostname.clone()),
                ip: Some(format!("10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff)),
                port: 5051,
            },
            path: Some("/slave(1)".to_owned()),
            query: Vec::new(),
            fragment: None,
        }),
        hostname,
        domain: None,
        resources: vec![
            offered(Resource::ranges("ports", [(31000, 32000)])),
            offered(Resource::scalar("cpus", 4.0)),
            offered(Resource::scalar("mem", mem)),
            offered(Resource::scalar("disk", 100_000.0)),
        ],
        attributes: vec![Attribute {
            name: "rack".to_owned(),
            kind: ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: Some(Text { value: format!("rack-{}", rack_of(n)) }),
        }],
        executor_ids: Vec::new(),
        unavailability: None,
        allocation_info: Some(AllocationInfo::role(ROLE)),
    }
}

/// One batch of offers from every agent, each free.
fn offers() -> Vec<Offer> {
    (0..AGENTS).map(|n| agent_offer(n, 16_384.0)).collect()
}

/// The same batch where all agents but every tenth have only 256 MB of memory left.
fn busy_offers() -> Vec<Offer> {
    (0..AGENTS).map(|n| agent_offer(n, if n % 10 == 9 { 16_384.0 } else { 256.0 })).collect()
}

/// The spec and constraint parsing, done once like the scheduler does at startup.
struct Fixture {
    spec: ServiceSpec,
    constraints: Vec<Constraint>,
    role: String,
    principal: String,
    /// Instance ids and reservation ids: inputs the caller makes per instance.
    instances: Vec<InstanceId>,
    reservation_ids: Vec<String>,
}

impl Fixture {
    fn new(placement: &str) -> Self {
        let text = SPEC.replace("{placement}", &format!("{placement:?}"));
        let spec = ServiceSpec::parse(&text, SpecFormat::Toml, "bench.toml").unwrap();
        let pod = &spec.pods[0];
        assert_eq!(pod.count, INSTANCES);
        let constraints = placement::parse_all(&pod.placement).unwrap();
        let instances = (0..pod.count).map(|i| InstanceId::new(pod.name.clone(), i)).collect();
        let reservation_ids =
            (0..pod.count).map(|i| format!("{i:08x}-7c2e-4a59-9d1b-5f3e2a6c8b10")).collect();
        Fixture {
            role: spec.role(),
            principal: spec.principal(),
            spec,
            constraints,
            instances,
            reservation_ids,
        }
    }

    fn pod(&self) -> &PodSpec {
        &self.spec.pods[0]
    }

    fn request<'a>(&'a self, instance: usize, index: &'a PlacementIndex) -> Request<'a> {
        Request {
            instance: &self.instances[instance],
            pod: self.pod(),
            role: &self.role,
            principal: &self.principal,
            framework_id: "bench-framework",
            placement: None,
            reservation_id: &self.reservation_ids[instance],
            constraints: &self.constraints,
            index,
        }
    }
}

/// What one offer cycle produced.
struct Cycle {
    /// The accepted offers (by position in the batch) and what each instance got.
    placed: Vec<(usize, Assignment)>,
    /// The refused offers and why.
    rejected: Vec<(usize, Rejection)>,
}

/// One pass over `offers`, placing instances `first..count` on top of `index`.
fn offer_cycle(
    fixture: &Fixture,
    offers: &[Offer],
    index: &mut PlacementIndex,
    first: usize,
    count: usize,
) -> Cycle {
    let mut cycle = Cycle { placed: Vec::with_capacity(count - first), rejected: Vec::new() };
    let mut next = first;
    for (i, offer) in offers.iter().enumerate() {
        if next == count {
            break;
        }
        match evaluate(&fixture.request(next, index), offer) {
            Ok(assignment) => {
                index.add(&AgentView::new(&offer.hostname, &offer.attributes));
                cycle.placed.push((i, assignment));
                next += 1;
            }
            Err(rejection) => cycle.rejected.push((i, rejection)),
        }
    }
    cycle
}

/// `<group>/cycle`: a full cycle from an empty index, placing all instances.
fn bench_cycle(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, fixture: &Fixture, offers: &[Offer]) {
    let all = INSTANCES as usize;
    let check = offer_cycle(fixture, offers, &mut PlacementIndex::new(), 0, all);
    assert_eq!(check.placed.len(), all, "{name}: one cycle must place every instance");
    println!(
        "{}/{name}: {} offers evaluated per cycle ({} accepted, {} rejected)",
        g_name(fixture),
        check.placed.len() + check.rejected.len(),
        check.placed.len(),
        check.rejected.len()
    );
    g.throughput(Throughput::Elements(u64::from(INSTANCES)));
    g.bench_function(name, |b| {
        b.iter_batched(
            PlacementIndex::new,
            |mut index| {
                let cycle = offer_cycle(fixture, black_box(offers), &mut index, 0, all);
                assert_eq!(cycle.placed.len(), all);
                // Dropping the assignments is left out of the timing (the scheduler hands
                // them on to the ACCEPT calls).
                (cycle, index)
            },
            BatchSize::PerIteration,
        )
    });
}

fn g_name(fixture: &Fixture) -> String {
    fixture.pod().placement.join(",")
}

/// `<group>/evaluate-*` and `<group>/constraints-*`: one offer for the last instance, the
/// other 999 placed by a cycle beforehand.
fn bench_one_offer(g: &mut BenchmarkGroup<'_, WallTime>, fixture: &Fixture, offers: &[Offer]) {
    let last = INSTANCES as usize - 1;
    let mut index = PlacementIndex::new();
    let before = offer_cycle(fixture, offers, &mut index, 0, last);
    assert_eq!(before.placed.len(), last);
    let request = fixture.request(last, &index);
    let accepted = offers.iter().find(|o| evaluate(&request, o).is_ok()).expect("an offer that fits");
    let refused = offers
        .iter()
        .find(|o| matches!(evaluate(&request, o), Err(Rejection::Constraint(_))))
        .expect("an offer the constraint refuses");
    println!(
        "{}: accepting {}, refusing {}: {}",
        g_name(fixture),
        accepted.hostname,
        refused.hostname,
        evaluate(&request, refused).unwrap_err()
    );
    // An agent the constraint allows (the accepted one's rack, another hostname) with
    // too little memory left.
    let mut short = accepted.clone();
    short.hostname = format!("{}-busy", accepted.hostname);
    for r in short.resources.iter_mut().filter(|r| r.name == "mem") {
        *r = Resource::scalar("mem", 256.0).allocated_to(ROLE);
    }
    assert!(matches!(evaluate(&request, &short), Err(Rejection::Insufficient { resource: "mem", .. })));
    g.throughput(Throughput::Elements(1));
    g.sample_size(100);
    g.bench_function("evaluate-accept", |b| b.iter(|| evaluate(black_box(&request), black_box(accepted))));
    g.bench_function("evaluate-reject", |b| b.iter(|| evaluate(black_box(&request), black_box(refused))));
    g.bench_function("evaluate-reject-resources", |b| {
        b.iter(|| evaluate(black_box(&request), black_box(&short)))
    });
    for (name, offer) in [("constraints-accept", accepted), ("constraints-reject", refused)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let offer = black_box(offer);
                index.allows(&fixture.constraints, &AgentView::new(&offer.hostname, &offer.attributes))
            })
        });
    }
}

fn bench(c: &mut Criterion) {
    let offers = offers();
    let busy = busy_offers();

    let unique = Fixture::new("hostname:UNIQUE");
    let mut g = c.benchmark_group("hostname-unique");
    g.sample_size(20);
    bench_cycle(&mut g, "cycle", &unique, &offers);
    bench_cycle(&mut g, "cycle-9000-busy-agents", &unique, &busy);
    bench_one_offer(&mut g, &unique, &offers);
    g.finish();

    let group_by = Fixture::new("rack:GROUP_BY:20");
    let mut g = c.benchmark_group("rack-group-by-20");
    g.sample_size(20);
    bench_cycle(&mut g, "cycle", &group_by, &offers);
    bench_one_offer(&mut g, &group_by, &offers);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
