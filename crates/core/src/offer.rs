//! Offer evaluation: can this offer host this pod instance, and with which operations?
//!
//! A first launch takes unreserved resources that satisfy the pod's needs and the
//! placement constraints, RESERVEs them for the service's role with a `resource_id` label
//! unique to the instance, and CREATEs its volumes on reserved disk. A relaunch takes
//! exactly the instance's own reserved resources and volumes, from the agent it lives on.
//! Either way the result says which reserved resources each task and the executor get;
//! the launch itself (task infos) is built from that by the caller.
//!
//! Every refusal is a [`Rejection`] with a reason an operator can read (offer outcomes).

use crate::model::{FRAMEWORK_LABEL, InstanceId, Placement, RESOURCE_ID_LABEL};
use crate::placement::{AgentView, Constraint, PlacementIndex};
use crate::spec::{DiskKind, PodSpec};
use herd_mesos_api::{
    DiskInfo, DiskSourceType, Labels, Offer, Operation, Persistence, Range, ReservationInfo, Resource,
    Resources, Volume,
};
use std::collections::BTreeMap;
use std::fmt;

/// Resources of the default executor that runs every instance's task group (Mesos'
/// minimums: 0.01 cpus, 32 MB, some disk).
pub const EXECUTOR_CPUS: f64 = 0.1;
/// Executor memory, MB.
pub const EXECUTOR_MEM: f64 = 32.0;
/// Executor disk, MB.
pub const EXECUTOR_DISK: f64 = 10.0;

/// What an instance asks of an offer.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The instance.
    pub instance: &'a InstanceId,
    /// Its pod type.
    pub pod: &'a PodSpec,
    /// The service's role.
    pub role: &'a str,
    /// The service's principal.
    pub principal: &'a str,
    /// The framework making the reservation (labelled on it).
    pub framework_id: &'a str,
    /// Where it lives already (relaunch), or `None` (first launch).
    pub placement: Option<&'a Placement>,
    /// For a first launch: the `resource_id` its reservations get (unique per instance
    /// incarnation; the caller makes it, the core stays deterministic).
    pub reservation_id: &'a str,
    /// The pod type's placement constraints.
    pub constraints: &'a [Constraint],
    /// Where the pod type's other instances are.
    pub index: &'a PlacementIndex,
}

/// What an accepted offer gives an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Where the instance lives (new, or as before).
    pub placement: Placement,
    /// RESERVE and CREATE operations for a first launch (empty for a relaunch); the
    /// caller appends the LAUNCH_GROUP.
    pub operations: Vec<Operation>,
    /// The executor's resources (reserved, with allocation info).
    pub executor_resources: Vec<Resource>,
    /// Each task's resources (reserved, with allocation info).
    pub task_resources: BTreeMap<String, Vec<Resource>>,
    /// The volumes, as the launch must name them (with allocation info).
    pub volumes: Vec<Resource>,
}

/// Why an offer cannot host the instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The instance lives on another agent.
    WrongAgent {
        /// Where it lives.
        expected: String,
    },
    /// A placement constraint forbids this agent.
    Constraint(crate::placement::Rejection),
    /// Not enough of a scalar resource.
    Insufficient {
        /// `cpus`, `mem` or `disk`.
        resource: &'static str,
        /// Needed.
        needed: f64,
        /// Offered (usable for this instance).
        offered: f64,
    },
    /// A fixed port is not offered.
    PortUnavailable {
        /// The port's name.
        name: String,
        /// The number.
        port: u16,
    },
    /// Not enough ports for the dynamic ones.
    NotEnoughPorts {
        /// Ports needed.
        needed: usize,
        /// Ports offered.
        offered: usize,
    },
    /// No MOUNT disk large enough.
    NoMountDisk {
        /// The volume.
        volume: String,
        /// Size needed.
        size_mb: f64,
    },
    /// The instance's reserved resources are not (all) in the offer (still in use, or
    /// offered separately).
    ReservationIncomplete {
        /// What is missing.
        missing: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongAgent { expected } => write!(f, "the instance lives on agent {expected}"),
            Self::Constraint(r) => write!(f, "placement: {r}"),
            Self::Insufficient { resource, needed, offered } => {
                write!(f, "not enough {resource}: needs {needed}, offer has {offered}")
            }
            Self::PortUnavailable { name, port } => write!(f, "port {name}={port} is not offered"),
            Self::NotEnoughPorts { needed, offered } => {
                write!(f, "needs {needed} ports, offer has {offered}")
            }
            Self::NoMountDisk { volume, size_mb } => {
                write!(f, "no MOUNT disk of at least {size_mb} MB for volume {volume}")
            }
            Self::ReservationIncomplete { missing } => {
                write!(f, "the instance's reserved resources are not all offered (missing {missing})")
            }
        }
    }
}

/// The quantities a pod instance needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Needs {
    /// CPUs, executor included.
    pub cpus: f64,
    /// Memory, executor included.
    pub mem: f64,
    /// Root disk: sandboxes, executor and ROOT volumes.
    pub disk: f64,
    /// Ports: (name, fixed number or 0).
    pub ports: Vec<(String, u16)>,
}

impl Needs {
    /// What `pod` needs per instance.
    pub fn of(pod: &PodSpec) -> Self {
        let mut n = Needs { cpus: EXECUTOR_CPUS, mem: EXECUTOR_MEM, disk: EXECUTOR_DISK, ports: Vec::new() };
        for t in &pod.tasks {
            n.cpus += t.cpus;
            n.mem += t.mem_mb;
            n.disk += t.disk_mb;
            n.ports.extend(t.ports.iter().map(|p| (p.name.clone(), p.port)));
        }
        n.disk += pod.volumes.iter().filter(|v| v.kind == DiskKind::Root).map(|v| v.size_mb).sum::<f64>();
        n
    }
}

fn reservation(req: &Request<'_>, id: &str) -> ReservationInfo {
    ReservationInfo::dynamic(
        req.role,
        Some(req.principal.to_owned()),
        Some([(RESOURCE_ID_LABEL, id), (FRAMEWORK_LABEL, req.framework_id)].into_iter().collect::<Labels>()),
    )
}

fn has_label(r: &Resource, role: &str, id: &str) -> bool {
    r.current_reservation().is_some_and(|res| {
        res.role.as_deref() == Some(role)
            && res.labels.as_ref().and_then(|l| l.get(RESOURCE_ID_LABEL)) == Some(id)
    })
}

/// Evaluates `offer` for the instance.
pub fn evaluate(req: &Request<'_>, offer: &Offer) -> Result<Assignment, Rejection> {
    match req.placement {
        Some(p) => relaunch(req, p, offer),
        None => first_launch(req, offer),
    }
}

fn scalar(name: &str, value: f64) -> Resource {
    Resource::scalar(name, value)
}

/// Carves each task's and the executor's share out of the instance's reserved resources.
fn carve(
    req: &Request<'_>,
    reservation_id: &str,
    ports: &BTreeMap<String, u16>,
) -> (Vec<Resource>, BTreeMap<String, Vec<Resource>>) {
    let res = reservation(req, reservation_id);
    let own = |r: Resource| r.reserved(res.clone()).allocated_to(req.role);
    let executor = vec![
        own(scalar("cpus", EXECUTOR_CPUS)),
        own(scalar("mem", EXECUTOR_MEM)),
        own(scalar("disk", EXECUTOR_DISK)),
    ];
    let mut tasks = BTreeMap::new();
    for t in &req.pod.tasks {
        let mut r = vec![own(scalar("cpus", t.cpus)), own(scalar("mem", t.mem_mb))];
        if t.disk_mb > 0.0 {
            r.push(own(scalar("disk", t.disk_mb)));
        }
        let mut task_ports: Vec<u64> =
            t.ports.iter().filter_map(|p| ports.get(&p.name)).map(|&p| u64::from(p)).collect();
        if !task_ports.is_empty() {
            task_ports.sort_unstable();
            r.push(own(Resource::ranges("ports", coalesce(&task_ports))));
        }
        tasks.insert(t.name.clone(), r);
    }
    (executor, tasks)
}

/// Sorted port numbers as inclusive ranges.
fn coalesce(ports: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &p in ports {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => out.push((p, p)),
        }
    }
    out
}

fn first_launch(req: &Request<'_>, offer: &Offer) -> Result<Assignment, Rejection> {
    let view = AgentView { hostname: &offer.hostname, attributes: &offer.attributes };
    req.index.allows(req.constraints, &view).map_err(Rejection::Constraint)?;
    let offered: Resources =
        offer.resources.iter().map(|r| Resource { allocation_info: None, ..r.upgraded() }).collect();
    let free = offered.unreserved();
    let needs = Needs::of(req.pod);
    // ROOT disk only: MOUNT disks are matched whole below.
    let root_disk: f64 =
        free.iter().filter(|r| r.name == "disk" && r.disk.is_none()).filter_map(Resource::scalar_value).sum();
    for (resource, needed, offered) in
        [("cpus", needs.cpus, free.cpus()), ("mem", needs.mem, free.mem()), ("disk", needs.disk, root_disk)]
    {
        if offered + 1e-9 < needed {
            return Err(Rejection::Insufficient { resource, needed, offered });
        }
    }
    let ports = pick_ports(&needs.ports, &free.ports())?;
    let id = req.reservation_id;
    let res = reservation(req, id);
    let own = |r: Resource| r.reserved(res.clone()).allocated_to(req.role);
    let mut reserve =
        vec![own(scalar("cpus", needs.cpus)), own(scalar("mem", needs.mem)), own(scalar("disk", needs.disk))];
    if !ports.is_empty() {
        let mut numbers: Vec<u64> = ports.values().map(|&p| u64::from(p)).collect();
        numbers.sort_unstable();
        reserve.push(own(Resource::ranges("ports", coalesce(&numbers))));
    }
    let mut volumes = Vec::new();
    let mut used_mounts: Vec<&Resource> = Vec::new();
    for v in &req.pod.volumes {
        let base = match v.kind {
            DiskKind::Root => own(scalar("disk", v.size_mb)),
            DiskKind::Mount => {
                let mount = free
                    .iter()
                    .filter(|r| r.name == "disk")
                    .filter(|r| {
                        r.disk.as_ref().and_then(|d| d.source.as_ref()).and_then(|s| s.kind)
                            == Some(DiskSourceType::Mount)
                    })
                    .filter(|r| !used_mounts.iter().any(|u| std::ptr::eq(*u, *r)))
                    .find(|r| r.scalar_value().unwrap_or(0.0) + 1e-9 >= v.size_mb)
                    .ok_or_else(|| Rejection::NoMountDisk { volume: v.name.clone(), size_mb: v.size_mb })?;
                used_mounts.push(mount);
                let whole = own(mount.clone());
                reserve.push(whole.clone());
                whole
            }
        };
        let mut volume = base;
        let source = volume.disk.as_ref().and_then(|d| d.source.clone());
        volume.disk = Some(DiskInfo {
            persistence: Some(Persistence {
                id: format!("{}-{}-{id}", req.instance, v.name),
                principal: Some(req.principal.to_owned()),
            }),
            volume: Some(Volume::rw(&v.path)),
            source,
        });
        volumes.push(volume);
    }
    let (executor_resources, task_resources) = carve(req, id, &ports);
    let strip = |v: &[Resource]| {
        v.iter().map(|r| Resource { allocation_info: None, ..r.clone() }).collect::<Vec<_>>()
    };
    let placement = Placement {
        agent_id: offer.agent_id.clone(),
        hostname: offer.hostname.clone(),
        reservation_id: id.to_owned(),
        reserved: strip(&reserve),
        volumes: strip(&volumes),
        ports,
        attributes: offer.attributes.clone(),
    };
    Ok(Assignment {
        placement,
        operations: vec![Operation::reserve(reserve), Operation::create(volumes.clone())],
        executor_resources,
        task_resources,
        volumes,
    })
}

/// Fixed ports must be offered; dynamic ones take the lowest offered ports left.
fn pick_ports(wanted: &[(String, u16)], offered: &[Range]) -> Result<BTreeMap<String, u16>, Rejection> {
    let in_offer = |p: u64| offered.iter().any(|r| r.begin <= p && p <= r.end);
    let mut chosen = BTreeMap::new();
    for (name, port) in wanted.iter().filter(|(_, p)| *p != 0) {
        if !in_offer(u64::from(*port)) {
            return Err(Rejection::PortUnavailable { name: name.clone(), port: *port });
        }
        chosen.insert(name.clone(), *port);
    }
    let dynamic: Vec<&String> = wanted.iter().filter(|(_, p)| *p == 0).map(|(n, _)| n).collect();
    if dynamic.is_empty() {
        return Ok(chosen);
    }
    let taken: Vec<u16> = chosen.values().copied().collect();
    let mut free = offered
        .iter()
        .flat_map(|r| r.begin..=r.end.min(u64::from(u16::MAX)))
        .filter_map(|p| u16::try_from(p).ok())
        .filter(|p| !taken.contains(p));
    let mut got = 0;
    for name in &dynamic {
        match free.next() {
            Some(p) => {
                chosen.insert((*name).clone(), p);
                got += 1;
            }
            None => {
                let total: usize =
                    offered.iter().map(|r| usize::try_from(r.end - r.begin + 1).unwrap_or(usize::MAX)).sum();
                return Err(Rejection::NotEnoughPorts {
                    needed: dynamic.len(),
                    offered: total.saturating_sub(taken.len()).max(got),
                });
            }
        }
    }
    Ok(chosen)
}

/// Evaluates `offer` for launching some of a placed instance's tasks beside the ones it
/// runs (an operator plan's tasks): the offer must hold those tasks' share of the
/// instance's reservation, plus the executor's share and the volumes when no executor of
/// the instance is running.
pub fn evaluate_tasks(
    req: &Request<'_>,
    tasks: &[String],
    executor_running: bool,
    offer: &Offer,
) -> Result<Assignment, Rejection> {
    let Some(placement) = req.placement else {
        return Err(Rejection::ReservationIncomplete { missing: "the instance is not placed".to_owned() });
    };
    if offer.agent_id != placement.agent_id {
        return Err(Rejection::WrongAgent { expected: placement.hostname.clone() });
    }
    let id = &placement.reservation_id;
    let (executor_resources, task_resources) = carve(req, id, &placement.ports);
    let strip = |r: &Resource| Resource { allocation_info: None, ..r.upgraded() };
    let offered: Resources =
        offer.resources.iter().filter(|r| has_label(r, req.role, id)).map(strip).collect();
    let mut needed: Resources =
        tasks.iter().filter_map(|t| task_resources.get(t)).flatten().map(strip).collect();
    if !executor_running {
        for r in &executor_resources {
            needed.add(&strip(r));
        }
        for v in &placement.volumes {
            needed.add(v);
        }
    }
    if !offered.contains(&needed) {
        let missing = needed.saturating_sub(&offered);
        return Err(Rejection::ReservationIncomplete { missing: missing.to_string() });
    }
    let volumes = placement.volumes.iter().map(|v| v.clone().allocated_to(req.role)).collect();
    Ok(Assignment {
        placement: placement.clone(),
        operations: Vec::new(),
        executor_resources,
        task_resources,
        volumes,
    })
}

fn relaunch(req: &Request<'_>, placement: &Placement, offer: &Offer) -> Result<Assignment, Rejection> {
    if offer.agent_id != placement.agent_id {
        return Err(Rejection::WrongAgent { expected: placement.hostname.clone() });
    }
    let id = &placement.reservation_id;
    let offered: Resources = offer
        .resources
        .iter()
        .filter(|r| has_label(r, req.role, id))
        .map(|r| Resource { allocation_info: None, ..r.upgraded() })
        .collect();
    let wanted: Resources = placement
        .reserved
        .iter()
        .chain(&placement.volumes)
        .filter(|r| !r.is_persistent_volume())
        .cloned()
        .collect();
    // Volumes consume their reserved disk: what must be offered is the reservation minus
    // the volumes' disk, plus the volumes themselves.
    let mut needed = wanted.clone();
    for v in &placement.volumes {
        needed = needed.saturating_sub(&Resources::from(vec![v.without_volume()]));
        needed.add(v);
    }
    if !offered.contains(&needed) {
        let missing = needed.saturating_sub(&offered);
        return Err(Rejection::ReservationIncomplete { missing: missing.to_string() });
    }
    let (executor_resources, task_resources) = carve(req, id, &placement.ports);
    let volumes = placement.volumes.iter().map(|v| v.clone().allocated_to(req.role)).collect();
    Ok(Assignment {
        placement: placement.clone(),
        operations: Vec::new(),
        executor_resources,
        task_resources,
        volumes,
    })
}
