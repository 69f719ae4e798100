//! Offers: which framework gets an agent's available resources (dominant resource
//! fairness across frameworks, per role), DECLINE filters, offer timeouts, and the offer
//! format each framework understands.

use super::state::{Filter, Framework, MasterState, OfferRec};
use super::{Master, state_remove_offer};
use herd_mesos_api::scheduler::{Event, Offers, Rescind};
use herd_mesos_api::{
    AllocationInfo, Filters, FrameworkCapabilityType, FrameworkId, Offer, OfferId, Resource, Resources, Url,
};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// Mesos' default and maximum refuse time.
const DEFAULT_REFUSE: f64 = 5.0;
const MAX_REFUSE: f64 = 31_536_000.0;

/// The refuse duration of `filters` (default 5 s; negative → default; capped at a year).
pub(crate) fn refuse_duration(filters: Option<Filters>) -> Duration {
    let secs = filters.and_then(|f| f.refuse_seconds).unwrap_or(DEFAULT_REFUSE);
    let secs = if secs.is_nan() || secs < 0.0 { DEFAULT_REFUSE } else { secs.min(MAX_REFUSE) };
    Duration::from_secs_f64(secs)
}

impl Master {
    /// One allocation round: every agent's available resources go, role by role, to the
    /// interested framework with the smallest dominant share.
    pub(crate) fn allocate(&self) {
        let now = Instant::now();
        let mut st = self.lock();
        for fw in st.frameworks.values_mut() {
            fw.filters.retain(|f| f.until > now);
        }
        let totals = cluster_totals(&st);
        let mut shares: BTreeMap<FrameworkId, f64> =
            st.frameworks.keys().map(|id| (id.clone(), dominant_share(&st, id, &totals))).collect();
        let mut new_offers: BTreeMap<FrameworkId, Vec<Offer>> = BTreeMap::new();
        let agent_ids: Vec<_> =
            st.agents.iter().filter(|(_, a)| a.reachable).map(|(id, _)| id.clone()).collect();
        for agent_id in agent_ids {
            let mut available = st.agents[&agent_id].available();
            if available.is_empty() {
                continue;
            }
            let mut order: Vec<FrameworkId> =
                st.frameworks.values().filter(|f| f.connected()).map(|f| f.id.clone()).collect();
            order.sort_by(|a, b| shares[a].total_cmp(&shares[b]).then_with(|| a.cmp(b)));
            for fid in order {
                for role in st.frameworks[&fid].roles() {
                    let fw = &st.frameworks[&fid];
                    if fw.suppressed.contains(&role) {
                        continue;
                    }
                    let offerable = available.allocatable_to(&role);
                    if offerable.is_empty() || filtered(fw, &agent_id, &role, &offerable) {
                        continue;
                    }
                    let offer_id = OfferId::new(format!("{}-O{}", self.info.id, st.next_offer));
                    st.next_offer += 1;
                    available = available.saturating_sub(&offerable);
                    let rec = OfferRec {
                        id: offer_id.clone(),
                        framework_id: fid.clone(),
                        agent_id: agent_id.clone(),
                        role: role.clone(),
                        resources: offerable,
                        created: now,
                    };
                    let agent = st.agents.get_mut(&agent_id).expect("agent present");
                    agent.offered.add_all(&rec.resources);
                    let offer = self.offer_message(&st, &rec);
                    st.offers.insert(offer_id, rec);
                    new_offers.entry(fid.clone()).or_default().push(offer);
                    if let Some(share) = shares.get_mut(&fid) {
                        *share = dominant_share(&st, &fid, &totals);
                    }
                }
                if available.is_empty() {
                    break;
                }
            }
        }
        for (fid, offers) in new_offers {
            if let Some(fw) = st.frameworks.get(&fid) {
                fw.send(&Event::Offers(Offers { offers }));
            }
        }
    }

    /// The OFFER as this framework may see it (allocation info only for MULTI_ROLE;
    /// legacy reservation format without RESERVATION_REFINEMENT).
    fn offer_message(&self, st: &MasterState, rec: &OfferRec) -> Offer {
        let fw = &st.frameworks[&rec.framework_id];
        let agent = &st.agents[&rec.agent_id];
        let multi_role = fw.capable(FrameworkCapabilityType::MultiRole);
        let resources = format_resources(fw, &rec.resources, &rec.role);
        let agent_ref = &agent.handle;
        let executor_ids =
            fw.executors.keys().filter(|(a, _)| a == &rec.agent_id).map(|(_, e)| e.clone()).collect();
        Offer {
            id: rec.id.clone(),
            framework_id: rec.framework_id.clone(),
            agent_id: rec.agent_id.clone(),
            hostname: agent.info.hostname.clone(),
            url: Some(Url {
                scheme: "http".to_owned(),
                address: herd_mesos_api::Address {
                    hostname: Some(agent.info.hostname.clone()),
                    ip: Some(agent_ref.ip().to_string()),
                    port: i32::from(agent_ref.port()),
                },
                path: Some("/slave(1)".to_owned()),
                query: Vec::new(),
                fragment: None,
            }),
            domain: None,
            resources,
            attributes: agent.info.attributes.clone(),
            executor_ids,
            unavailability: None,
            allocation_info: multi_role.then(|| AllocationInfo::role(rec.role.clone())),
        }
    }

    /// DECLINE: the offers' resources go back, filtered for this framework.
    pub(crate) fn decline(
        &self,
        framework_id: &FrameworkId,
        offer_ids: &[OfferId],
        filters: Option<Filters>,
    ) {
        let refuse = refuse_duration(filters);
        let mut st = self.lock();
        for id in offer_ids {
            match st.offers.get(id) {
                Some(o) if &o.framework_id == framework_id => {}
                _ => continue,
            }
            let Some(offer) = state_remove_offer(&mut st, id) else { continue };
            add_filter(&mut st, framework_id, &offer, offer.resources.clone(), refuse);
        }
    }

    /// Rescinds offers older than the offer timeout.
    pub(crate) fn expire_offers(&self, now: Instant) {
        let Some(timeout) = self.config.offer_timeout else { return };
        let mut st = self.lock();
        let expired: Vec<OfferId> = st
            .offers
            .values()
            .filter(|o| now.duration_since(o.created) >= timeout)
            .map(|o| o.id.clone())
            .collect();
        for id in expired {
            if let Some(offer) = state_remove_offer(&mut st, &id)
                && let Some(fw) = st.frameworks.get(&offer.framework_id)
            {
                fw.send(&Event::Rescind(Rescind { offer_id: id }));
            }
        }
    }
}

/// Adds a filter refusing `resources` of `offer`'s agent and role for `refuse`.
pub(crate) fn add_filter(
    st: &mut MasterState,
    framework_id: &FrameworkId,
    offer: &OfferRec,
    resources: Resources,
    refuse: Duration,
) {
    if refuse.is_zero() || resources.is_empty() {
        return;
    }
    if let Some(fw) = st.frameworks.get_mut(framework_id) {
        fw.filters.push(Filter {
            agent_id: offer.agent_id.clone(),
            role: offer.role.clone(),
            resources,
            until: Instant::now() + refuse,
        });
    }
}

/// A filter applies when what would be offered is no more than what was refused.
fn filtered(fw: &Framework, agent_id: &herd_mesos_api::AgentId, role: &str, offerable: &Resources) -> bool {
    fw.filters.iter().any(|f| &f.agent_id == agent_id && f.role == role && f.resources.contains(offerable))
}

struct Totals {
    cpus: f64,
    mem: f64,
    disk: f64,
}

fn cluster_totals(st: &MasterState) -> Totals {
    let mut t = Totals { cpus: 0.0, mem: 0.0, disk: 0.0 };
    for a in st.agents.values().filter(|a| a.reachable) {
        t.cpus += a.total.cpus();
        t.mem += a.total.mem();
        t.disk += a.total.disk();
    }
    t
}

/// The largest share of any resource a framework holds or is offered (DRF).
fn dominant_share(st: &MasterState, id: &FrameworkId, totals: &Totals) -> f64 {
    let Some(fw) = st.frameworks.get(id) else { return 0.0 };
    let mut held = Resources::new();
    for t in fw.tasks.values() {
        held.add_all(&t.resources);
    }
    for e in fw.executors.values() {
        held.add_all(&e.resources);
    }
    for o in st.offers.values().filter(|o| &o.framework_id == id) {
        held.add_all(&o.resources);
    }
    let share = |used: f64, total: f64| if total > 0.0 { used / total } else { 0.0 };
    share(held.cpus(), totals.cpus).max(share(held.mem(), totals.mem)).max(share(held.disk(), totals.disk))
}

/// Resources in the format `fw` understands, allocated to `role`.
pub(crate) fn format_resources(fw: &Framework, resources: &Resources, role: &str) -> Vec<Resource> {
    let multi_role = fw.capable(FrameworkCapabilityType::MultiRole);
    let refinement = fw.capable(FrameworkCapabilityType::ReservationRefinement);
    resources
        .iter()
        .filter_map(|r| {
            let mut r = r.upgraded();
            if multi_role {
                r.allocation_info = Some(AllocationInfo::role(role));
            } else {
                r.allocation_info = None;
            }
            if !refinement {
                downgrade(&mut r)?;
            }
            Some(r)
        })
        .collect()
}

/// The pre-refinement format: `role` (+ `reservation`). Refined stacks deeper than one
/// level cannot be expressed and are not offered (as in Mesos).
fn downgrade(r: &mut Resource) -> Option<()> {
    match r.reservations.len() {
        0 => r.role = Some("*".to_owned()),
        1 => {
            let top = r.reservations.remove(0);
            r.role = top.role.clone();
            if top.kind == Some(herd_mesos_api::ReservationType::Dynamic) {
                r.reservation = Some(herd_mesos_api::ReservationInfo {
                    kind: None,
                    role: None,
                    principal: top.principal,
                    labels: top.labels,
                });
            }
        }
        _ => return None,
    }
    Some(())
}
