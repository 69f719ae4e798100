//! Resource arithmetic with the semantics of Apache Mesos' `Resources` class
//! (`src/common/resources.cpp`, `src/v1/resources.cpp`).
//!
//! A [`Resources`] is a bag of [`Resource`] entries kept in normal form:
//!
//! * Two entries that differ only in their value ("addable" in Mesos: same name, type,
//!   provider, allocation info, reservation stack, disk info, revocability and
//!   sharedness) are merged into one. Reservations are compared in the refined form, so
//!   the legacy `role` + `reservation` fields and the refined `reservations` stack
//!   describe the same reservation interchangeably. Disk info is compared as Mesos does:
//!   by source and persistence id only; `disk.volume` (how a task mounts the volume) is
//!   ignored.
//! * Scalars carry three decimal digits: values are rounded to thousandths (fixed
//!   point) on the way in and added or subtracted as integers, so
//!   `0.1 + 0.2 - 0.3` is exactly zero. A value that reaches zero disappears.
//! * Ranges are sorted and coalesced (`[1-3] + [4-6] = [1-6]`); set items are sorted and
//!   deduplicated.
//! * Indivisible resources (persistent volumes, MOUNT and BLOCK disks, RAW disks with an
//!   id, and shared resources) are never merged: each is kept whole, is contained only
//!   when an identical entry is present, and can only be subtracted as a whole.
//!
//! Entries keep the reservation format they were added in; [`Resources::upgraded`] and
//! [`Resources::normalized`] give the refined form.

use super::{DiskInfo, DiskSourceType, ReservationInfo, Resource};
use crate::common::{Range, Ranges, Scalar, Set, ValueType};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::{Add, AddAssign};

/// Scalars keep this many fractional units per unit (three decimal digits), as in Mesos.
const PRECISION: f64 = 1000.0;

/// A scalar in fixed point (thousandths), rounded half away from zero like `llround`.
/// Saturates for values beyond the `i64` range.
fn to_fixed(value: f64) -> i64 {
    (value * PRECISION).round() as i64
}

/// A fixed-point scalar back as a float.
fn from_fixed(fixed: i64) -> f64 {
    fixed as f64 / PRECISION
}

/// A bag of resources, kept in normal form (see the [module docs](self)).
///
/// Equality is Mesos' `Resources::operator==`: mutual containment, so the order of the
/// entries and the reservation format (legacy or refined) do not matter.
///
/// Serialises as a plain JSON array of [`Resource`]; deserialising normalises the array.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Resource>", into = "Vec<Resource>")]
pub struct Resources(Vec<Resource>);

/// Why a resource operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// The subtrahend is not contained in the receiver.
    #[error("insufficient resources: wanted {wanted}, available {available}")]
    NotContained {
        /// The resource asked for, rendered Mesos-style.
        wanted: String,
        /// What the receiver held under that name, rendered Mesos-style (`none` if nothing).
        available: String,
    },
    /// Part of an indivisible resource (persistent volume, MOUNT/BLOCK disk, shared
    /// resource) was asked for, or a differently sized one.
    #[error(
        "{resource} is indivisible (persistent volume, exclusive disk or shared resource) and can only be \
         used whole; held: {held}"
    )]
    Indivisible {
        /// The resource asked for.
        resource: String,
        /// The matching indivisible resource(s) held.
        held: String,
    },
    /// The receiver holds resources of that name only with another value type.
    #[error("resource {name} wanted as {wanted:?}, but only {held:?} resources of that name are available")]
    TypeMismatch {
        /// The resource name.
        name: String,
        /// The type asked for.
        wanted: ValueType,
        /// The type held.
        held: ValueType,
    },
    /// The resource itself is malformed (negative or non-finite scalar, inverted range,
    /// missing value, TEXT type, empty name).
    #[error("invalid resource {resource}: {reason}")]
    Invalid {
        /// The resource, rendered Mesos-style.
        resource: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The value of a resource in arithmetic form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Quantity {
    /// Fixed point, thousandths.
    Scalar(i64),
    /// Sorted, coalesced inclusive ranges.
    Ranges(Vec<Range>),
    /// Sorted, deduplicated items.
    Set(Vec<String>),
}

impl Quantity {
    /// Validates and normalises the value of `r`.
    fn of(r: &Resource) -> Result<Self, &'static str> {
        if r.name.is_empty() {
            return Err("empty name");
        }
        match r.kind {
            ValueType::Scalar => {
                let value = r.scalar.ok_or("SCALAR resource without a scalar value")?.value;
                if !value.is_finite() {
                    return Err("scalar value is not finite");
                }
                let fixed = to_fixed(value);
                if fixed < 0 {
                    return Err("negative scalar value");
                }
                Ok(Self::Scalar(fixed))
            }
            ValueType::Ranges => {
                let ranges = r.ranges.as_ref().ok_or("RANGES resource without ranges")?;
                if ranges.range.iter().any(|x| x.begin > x.end) {
                    return Err("range with begin > end");
                }
                Ok(Self::Ranges(coalesce(ranges.range.clone())))
            }
            ValueType::Set => {
                let set = r.set.as_ref().ok_or("SET resource without a set")?;
                let mut items = set.item.clone();
                items.sort();
                items.dedup();
                Ok(Self::Set(items))
            }
            ValueType::Text => Err("TEXT is not a resource type"),
        }
    }

    /// The value of an entry already stored in a [`Resources`] (always valid).
    fn stored(r: &Resource) -> Self {
        Self::of(r).unwrap_or(Self::Scalar(0))
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Scalar(v) => *v == 0,
            Self::Ranges(r) => r.is_empty(),
            Self::Set(s) => s.is_empty(),
        }
    }

    /// `self += other` (values of the same type; mismatches are ignored).
    fn add(&mut self, other: &Self) {
        match (self, other) {
            (Self::Scalar(a), Self::Scalar(b)) => *a = a.saturating_add(*b),
            (Self::Ranges(a), Self::Ranges(b)) => {
                let mut all = std::mem::take(a);
                all.extend_from_slice(b);
                *a = coalesce(all);
            }
            (Self::Set(a), Self::Set(b)) => {
                a.extend(b.iter().cloned());
                a.sort();
                a.dedup();
            }
            _ => {}
        }
    }

    /// `self -= other`, saturating at nothing (scalars stop at zero, ranges and sets
    /// lose what they share with `other`).
    fn sub(&mut self, other: &Self) {
        match (self, other) {
            (Self::Scalar(a), Self::Scalar(b)) => *a = a.saturating_sub(*b).max(0),
            (Self::Ranges(a), Self::Ranges(b)) => *a = subtract_ranges(a, b),
            (Self::Set(a), Self::Set(b)) => a.retain(|item| b.binary_search(item).is_err()),
            _ => {}
        }
    }

    /// Whether `other` is contained in `self`.
    fn contains(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Scalar(a), Self::Scalar(b)) => b <= a,
            (Self::Ranges(a), Self::Ranges(b)) => {
                b.iter().all(|s| a.iter().any(|r| r.begin <= s.begin && s.end <= r.end))
            }
            (Self::Set(a), Self::Set(b)) => b.iter().all(|item| a.binary_search(item).is_ok()),
            _ => false,
        }
    }

    /// Writes this value into `r` (clearing the other value fields).
    fn store(self, r: &mut Resource) {
        r.scalar = None;
        r.ranges = None;
        r.set = None;
        match self {
            Self::Scalar(v) => r.scalar = Some(Scalar { value: from_fixed(v) }),
            Self::Ranges(range) => r.ranges = Some(Ranges { range }),
            Self::Set(item) => r.set = Some(Set { item }),
        }
    }
}

/// Sorts and merges overlapping or adjacent inclusive ranges.
fn coalesce(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_unstable();
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.begin <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `a - b` for coalesced range lists.
fn subtract_ranges(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    for r in a {
        let mut begin = r.begin;
        let mut rest = true;
        for s in b {
            if s.begin > r.end {
                break;
            }
            if s.end < begin {
                continue;
            }
            if s.begin > begin {
                out.push(Range { begin, end: s.begin - 1 });
            }
            if s.end >= r.end {
                rest = false;
                break;
            }
            begin = s.end + 1;
        }
        if rest {
            out.push(Range { begin, end: r.end });
        }
    }
    out
}

/// The reservation stack in refined form, with empty label lists treated as unset.
fn reservation_stack(r: &Resource) -> Vec<ReservationInfo> {
    let mut stack: Vec<ReservationInfo> = if r.reservations.is_empty() {
        r.current_reservation().into_iter().collect()
    } else {
        r.reservations.clone()
    };
    for level in &mut stack {
        normalize_reservation(level);
    }
    stack
}

fn normalize_reservation(level: &mut ReservationInfo) {
    if level.labels.as_ref().is_some_and(|l| l.labels.is_empty()) {
        level.labels = None;
    }
}

/// Disk info equality as in Mesos: source and persistence id; `volume` is ignored.
fn disk_eq(a: Option<&DiskInfo>, b: Option<&DiskInfo>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.source == b.source
                && a.persistence.as_ref().map(|p| &p.id) == b.persistence.as_ref().map(|p| &p.id)
        }
        _ => false,
    }
}

/// Whether two resources are the same except (possibly) for their value.
fn same_kind(a: &Resource, b: &Resource) -> bool {
    a.name == b.name
        && a.kind == b.kind
        && a.provider_id == b.provider_id
        && a.allocation_info == b.allocation_info
        && a.revocable.is_some() == b.revocable.is_some()
        && a.shared.is_some() == b.shared.is_some()
        && disk_eq(a.disk.as_ref(), b.disk.as_ref())
        && reservation_stack(a) == reservation_stack(b)
}

/// Whether a resource must be kept, contained and subtracted whole.
fn is_indivisible(r: &Resource) -> bool {
    r.shared.is_some()
        || r.disk.as_ref().is_some_and(|d| {
            d.persistence.is_some()
                || d.source.as_ref().is_some_and(|s| match s.kind {
                    Some(DiskSourceType::Mount | DiskSourceType::Block) => true,
                    Some(DiskSourceType::Raw) => s.id.is_some(),
                    _ => false,
                })
        })
}

/// Whether a resource is reserved to `role` or to an ancestor of it (or unreserved).
fn allocatable(r: &Resource, role: &str) -> bool {
    match r.reservation_role() {
        None => true,
        Some(reserved) => {
            role == reserved || role.strip_prefix(reserved.as_str()).is_some_and(|rest| rest.starts_with('/'))
        }
    }
}

impl Resources {
    /// An empty bag.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The entries, in insertion order of their first appearance.
    pub fn iter(&self) -> std::slice::Iter<'_, Resource> {
        self.0.iter()
    }

    /// The entries as a slice.
    pub fn as_slice(&self) -> &[Resource] {
        &self.0
    }

    /// The entries, e.g. for an `Offer` or a `TaskInfo`.
    pub fn into_vec(self) -> Vec<Resource> {
        self.0
    }

    /// Whether there is nothing in the bag.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of (normalised) entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds `r`, merging it into an addable entry if there is one.
    ///
    /// Empty resources (zero scalars, no ranges, no items) are skipped, and so are invalid
    /// ones (negative or non-finite scalars, inverted ranges, missing value, TEXT type,
    /// empty name), as Mesos' `Resources::operator+=` does; use [`Resources::try_add`] to
    /// be told about invalid ones.
    pub fn add(&mut self, r: &Resource) {
        // An invalid resource is deliberately ignored here (Mesos semantics).
        let _ignored = self.try_add(r);
    }

    /// Adds `r` like [`Resources::add`], failing with [`ResourceError::Invalid`] (and
    /// leaving the receiver unchanged) when `r` is malformed.
    pub fn try_add(&mut self, r: &Resource) -> Result<(), ResourceError> {
        let (r, q) = normalized_entry(r)?;
        if q.is_empty() {
            return Ok(());
        }
        if !is_indivisible(&r)
            && let Some(entry) = self.0.iter_mut().find(|e| same_kind(e, &r))
        {
            let mut sum = Quantity::stored(entry);
            sum.add(&q);
            sum.store(entry);
            return Ok(());
        }
        self.0.push(r);
        Ok(())
    }

    /// Adds every entry of `other`.
    pub fn add_all(&mut self, other: &Resources) {
        for r in &other.0 {
            self.add(r);
        }
    }

    /// Subtracts `r`, which must be contained in the receiver.
    ///
    /// On failure the receiver is unchanged and the error names `r` and what the receiver
    /// held under its name. Subtracting an empty resource is a no-op.
    pub fn subtract(&mut self, r: &Resource) -> Result<(), ResourceError> {
        let (r, q) = normalized_entry(r)?;
        if q.is_empty() {
            return Ok(());
        }
        if is_indivisible(&r) {
            if let Some(i) = self.0.iter().position(|e| same_kind(e, &r) && Quantity::stored(e) == q) {
                self.0.remove(i);
                return Ok(());
            }
            let held: Resources = self.0.iter().filter(|e| same_kind(e, &r)).cloned().collect();
            if !held.is_empty() {
                return Err(ResourceError::Indivisible { resource: r.to_string(), held: held.to_string() });
            }
        } else if let Some(i) = self.0.iter().position(|e| same_kind(e, &r)) {
            let mut rest = Quantity::stored(&self.0[i]);
            if rest.contains(&q) {
                rest.sub(&q);
                if rest.is_empty() {
                    self.0.remove(i);
                } else {
                    rest.store(&mut self.0[i]);
                }
                return Ok(());
            }
        }
        Err(self.not_contained(&r))
    }

    /// The error for a (normalised, valid) `r` not contained in the receiver.
    fn not_contained(&self, r: &Resource) -> ResourceError {
        let named: Resources = self.0.iter().filter(|e| e.name == r.name).cloned().collect();
        if let Some(other) = named.0.first()
            && named.0.iter().all(|e| e.kind != r.kind)
        {
            return ResourceError::TypeMismatch { name: r.name.clone(), wanted: r.kind, held: other.kind };
        }
        let available = if named.is_empty() { "none".to_owned() } else { named.to_string() };
        ResourceError::NotContained { wanted: r.to_string(), available }
    }

    /// Subtracts every entry of `other`, all or nothing: on failure the receiver is
    /// unchanged.
    pub fn subtract_all(&mut self, other: &Resources) -> Result<(), ResourceError> {
        *self = self.checked_sub(other)?;
        Ok(())
    }

    /// `self - other`, failing if `other` is not contained in `self`. The error names the
    /// first entry of `other` that could not be subtracted and what was left of it.
    pub fn checked_sub(&self, other: &Resources) -> Result<Resources, ResourceError> {
        let mut rest = self.clone();
        for r in &other.0 {
            rest.subtract(r)?;
        }
        Ok(rest)
    }

    /// `self - other` with Mesos' lenient `operator-` semantics: whatever of `other` is
    /// not held is ignored (scalars stop at zero, ranges and sets lose their common part,
    /// indivisible resources are removed only when an identical one is held).
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        let mut rest = self.clone();
        for r in &other.0 {
            let q = Quantity::stored(r);
            if is_indivisible(r) {
                if let Some(i) = rest.0.iter().position(|e| same_kind(e, r) && Quantity::stored(e) == q) {
                    rest.0.remove(i);
                }
            } else if let Some(i) = rest.0.iter().position(|e| same_kind(e, r)) {
                let mut left = Quantity::stored(&rest.0[i]);
                left.sub(&q);
                if left.is_empty() {
                    rest.0.remove(i);
                } else {
                    left.store(&mut rest.0[i]);
                }
            }
        }
        rest
    }

    /// Whether every entry of `other` is contained in `self` (indivisible entries need an
    /// identical entry each; scalars, ranges and sets compare by value).
    pub fn contains(&self, other: &Resources) -> bool {
        self.checked_sub(other).is_ok()
    }

    /// Whether the single resource `r` is contained in `self`. Invalid resources are not
    /// contained; empty ones always are.
    pub fn contains_resource(&self, r: &Resource) -> bool {
        let Ok((r, q)) = normalized_entry(r) else {
            return false;
        };
        if q.is_empty() {
            return true;
        }
        if is_indivisible(&r) {
            self.0.iter().any(|e| same_kind(e, &r) && Quantity::stored(e) == q)
        } else {
            self.0.iter().any(|e| same_kind(e, &r) && Quantity::stored(e).contains(&q))
        }
    }

    /// The total of the scalar resources called `name` (e.g. all `cpus`, whatever their
    /// reservation), with three-decimal precision; `0.0` if there are none.
    pub fn scalar(&self, name: &str) -> f64 {
        let fixed = self
            .0
            .iter()
            .filter(|r| r.name == name && r.kind == ValueType::Scalar)
            .map(|r| match Quantity::stored(r) {
                Quantity::Scalar(v) => v,
                _ => 0,
            })
            .fold(0i64, i64::saturating_add);
        from_fixed(fixed)
    }

    /// The union of the ranges resources called `name`, sorted and coalesced.
    pub fn ranges(&self, name: &str) -> Vec<Range> {
        let all = self
            .0
            .iter()
            .filter(|r| r.name == name && r.kind == ValueType::Ranges)
            .filter_map(|r| r.ranges.as_ref())
            .flat_map(|r| r.range.iter().copied())
            .collect();
        coalesce(all)
    }

    /// The union of the set resources called `name`, sorted.
    pub fn set_items(&self, name: &str) -> Vec<String> {
        let items: BTreeSet<&String> = self
            .0
            .iter()
            .filter(|r| r.name == name && r.kind == ValueType::Set)
            .filter_map(|r| r.set.as_ref())
            .flat_map(|s| s.item.iter())
            .collect();
        items.into_iter().cloned().collect()
    }

    /// Total `cpus`.
    pub fn cpus(&self) -> f64 {
        self.scalar("cpus")
    }

    /// Total `mem` (MB).
    pub fn mem(&self) -> f64 {
        self.scalar("mem")
    }

    /// Total `disk` (MB), persistent volumes included.
    pub fn disk(&self) -> f64 {
        self.scalar("disk")
    }

    /// Total `gpus`.
    pub fn gpus(&self) -> f64 {
        self.scalar("gpus")
    }

    /// All `ports`, coalesced.
    pub fn ports(&self) -> Vec<Range> {
        self.ranges("ports")
    }

    /// The distinct resource names.
    pub fn names(&self) -> BTreeSet<String> {
        self.0.iter().map(|r| r.name.clone()).collect()
    }

    /// The entries for which `pred` holds.
    pub fn filter(&self, mut pred: impl FnMut(&Resource) -> bool) -> Resources {
        Self(self.0.iter().filter(|r| pred(r)).cloned().collect())
    }

    /// Reserved resources (to any role).
    pub fn reserved(&self) -> Resources {
        self.filter(|r| !r.is_unreserved())
    }

    /// Resources whose current reservation (top of the refined stack, or the legacy
    /// `role`) is for exactly `role` (Mesos `reserved(role)`).
    pub fn reserved_to(&self, role: &str) -> Resources {
        self.filter(|r| r.reservation_role().as_deref() == Some(role))
    }

    /// Unreserved resources (Mesos `unreserved()`).
    pub fn unreserved(&self) -> Resources {
        self.filter(Resource::is_unreserved)
    }

    /// Resources a framework in `role` may be offered: unreserved ones and those reserved
    /// to `role` or one of its ancestors (Mesos `allocatableTo(role)`).
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| allocatable(r, role))
    }

    /// Resources whose `allocation_info.role` is `role`.
    pub fn allocated_to(&self, role: &str) -> Resources {
        self.filter(|r| r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) == Some(role))
    }

    /// Revocable resources.
    pub fn revocable(&self) -> Resources {
        self.filter(|r| r.revocable.is_some())
    }

    /// Non-revocable resources.
    pub fn non_revocable(&self) -> Resources {
        self.filter(|r| r.revocable.is_none())
    }

    /// Shared resources.
    pub fn shared(&self) -> Resources {
        self.filter(|r| r.shared.is_some())
    }

    /// Persistent volumes (disk resources with `disk.persistence`).
    pub fn persistent_volumes(&self) -> Resources {
        self.filter(Resource::is_persistent_volume)
    }

    /// Resources whose current reservation carries the label `key` = `value` (e.g. the
    /// labels identifying which pod instance a reservation belongs to).
    pub fn with_reservation_label(&self, key: &str, value: &str) -> Resources {
        self.filter(|r| {
            r.current_reservation().and_then(|c| c.labels).is_some_and(|l| {
                l.labels.iter().any(|label| label.key == key && label.value.as_deref() == Some(value))
            })
        })
    }

    /// The resources split by the role of their current reservation (`None` =
    /// unreserved).
    pub fn split_by_role(&self) -> BTreeMap<Option<String>, Resources> {
        let mut out: BTreeMap<Option<String>, Resources> = BTreeMap::new();
        for r in &self.0 {
            out.entry(r.reservation_role()).or_default().0.push(r.clone());
        }
        out
    }

    /// The resources split by their full current reservation (role, type, principal and
    /// labels, in refined form; `None` = unreserved), in order of first appearance.
    pub fn by_reservation(&self) -> Vec<(Option<ReservationInfo>, Resources)> {
        let mut out: Vec<(Option<ReservationInfo>, Resources)> = Vec::new();
        for r in &self.0 {
            let mut key = r.current_reservation();
            if let Some(k) = key.as_mut() {
                normalize_reservation(k);
            }
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.0.push(r.clone()),
                None => out.push((key, Self(vec![r.clone()]))),
            }
        }
        out
    }

    /// The same resources with every entry rewritten by `f`, re-normalised.
    fn map(&self, f: impl Fn(&mut Resource)) -> Resources {
        self.0
            .iter()
            .map(|r| {
                let mut r = r.clone();
                f(&mut r);
                r
            })
            .collect()
    }

    /// The same resources without `allocation_info` (e.g. to compare offered resources
    /// with reserved or launched ones).
    pub fn without_allocation_info(&self) -> Resources {
        self.map(|r| r.allocation_info = None)
    }

    /// The same resources allocated to `role` (Mesos `allocate(role)`).
    pub fn allocate(&self, role: &str) -> Resources {
        self.map(|r| r.allocation_info = Some(super::AllocationInfo::role(role)))
    }

    /// The same resources with every reservation (legacy or refined) removed, i.e. as
    /// unreserved resources (Mesos `toUnreserved()` / `flatten()`).
    pub fn flatten(&self) -> Resources {
        self.map(|r| {
            r.role = None;
            r.reservation = None;
            r.reservations.clear();
        })
    }

    /// The same resources with every entry in the refined reservation format.
    pub fn upgraded(&self) -> Resources {
        self.map(|r| *r = r.upgraded())
    }

    /// A canonical form for structural comparison: entries upgraded to the refined
    /// reservation format and sorted by their JSON rendering.
    pub fn normalized(&self) -> Vec<Resource> {
        let mut keyed: Vec<(String, Resource)> = self
            .0
            .iter()
            .map(|r| {
                let mut r = r.upgraded();
                for level in &mut r.reservations {
                    normalize_reservation(level);
                }
                (serde_json::to_string(&r).unwrap_or_default(), r)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, r)| r).collect()
    }
}

/// `r` validated, with its value normalised (rounded scalar, coalesced ranges, sorted
/// set) and the other value fields cleared.
fn normalized_entry(r: &Resource) -> Result<(Resource, Quantity), ResourceError> {
    let q = Quantity::of(r).map_err(|reason| ResourceError::Invalid { resource: r.to_string(), reason })?;
    let mut r = r.clone();
    q.clone().store(&mut r);
    Ok((r, q))
}

impl PartialEq for Resources {
    fn eq(&self, other: &Self) -> bool {
        self.contains(other) && other.contains(self)
    }
}

impl From<Vec<Resource>> for Resources {
    fn from(v: Vec<Resource>) -> Self {
        v.into_iter().collect()
    }
}

impl From<Resource> for Resources {
    fn from(r: Resource) -> Self {
        let mut out = Self::new();
        Resources::add(&mut out, &r);
        out
    }
}

impl From<Resources> for Vec<Resource> {
    fn from(r: Resources) -> Self {
        r.0
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = Resource>>(iter: I) -> Self {
        let mut out = Self::new();
        out.extend(iter);
        out
    }
}

impl Extend<Resource> for Resources {
    fn extend<I: IntoIterator<Item = Resource>>(&mut self, iter: I) {
        for r in iter {
            self.add(&r);
        }
    }
}

impl IntoIterator for Resources {
    type Item = Resource;
    type IntoIter = std::vec::IntoIter<Resource>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Resources {
    type Item = &'a Resource;
    type IntoIter = std::slice::Iter<'a, Resource>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl AddAssign<&Resource> for Resources {
    fn add_assign(&mut self, r: &Resource) {
        self.add(r);
    }
}

impl AddAssign<Resource> for Resources {
    fn add_assign(&mut self, r: Resource) {
        self.add(&r);
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, other: &Resources) {
        self.add_all(other);
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, other: Resources) {
        self.add_all(&other);
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;

    fn add(self, other: &Resources) -> Resources {
        let mut out = self.clone();
        out.add_all(other);
        out
    }
}

impl Add<&Resources> for Resources {
    type Output = Resources;

    fn add(mut self, other: &Resources) -> Resources {
        self.add_all(other);
        self
    }
}

impl Add for Resources {
    type Output = Resources;

    fn add(mut self, other: Resources) -> Resources {
        self.add_all(&other);
        self
    }
}

impl Add<Resource> for Resources {
    type Output = Resources;

    fn add(mut self, r: Resource) -> Resources {
        Resources::add(&mut self, &r);
        self
    }
}

/// Renders like Mesos: `name(role)(allocated: r)[disk]{REV}<SHARED>:value`, e.g.
/// `cpus(allocated: r)(reservations: [(DYNAMIC,r,p,{resource_id: i})]):0.5`,
/// `ports:[31000-32000]`, `disk(reservations: [(DYNAMIC,r,p)])[vol-0:data]:64`.
/// The role shown is the current reservation's; scalars show three decimals at most.
impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Mesos' own rendering: `cpus(allocated: r)(reservations: [(DYNAMIC,r,p,{k: v})]):0.2`.
        f.write_str(&self.name)?;
        if let Some(role) = self.allocation_info.as_ref().and_then(|a| a.role.as_deref()) {
            write!(f, "(allocated: {role})")?;
        }
        let upgraded = self.upgraded();
        if !upgraded.reservations.is_empty() {
            f.write_str("(reservations: [")?;
            for (i, r) in upgraded.reservations.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                let kind = match r.kind {
                    Some(crate::resources::ReservationType::Static) => "STATIC",
                    Some(crate::resources::ReservationType::Dynamic) => "DYNAMIC",
                    _ => "UNKNOWN",
                };
                write!(f, "({kind},{}", r.role.as_deref().unwrap_or("*"))?;
                if let Some(p) = &r.principal {
                    write!(f, ",{p}")?;
                }
                if let Some(labels) = r.labels.as_ref().filter(|l| !l.labels.is_empty()) {
                    f.write_str(",{")?;
                    for (j, l) in labels.labels.iter().enumerate() {
                        if j > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{}: {}", l.key, l.value.as_deref().unwrap_or(""))?;
                    }
                    f.write_str("}")?;
                }
                f.write_str(")")?;
            }
            f.write_str("])")?;
        }
        if let Some(disk) = &self.disk {
            fmt_disk(disk, f)?;
        }
        if self.revocable.is_some() {
            f.write_str("{REV}")?;
        }
        if self.shared.is_some() {
            f.write_str("<SHARED>")?;
        }
        f.write_str(":")?;
        match self.kind {
            ValueType::Scalar => match self.scalar {
                Some(s) if s.value.is_finite() => write!(f, "{}", from_fixed(to_fixed(s.value))),
                Some(s) => write!(f, "{}", s.value),
                None => f.write_str("?"),
            },
            ValueType::Ranges => {
                f.write_str("[")?;
                for (i, r) in self.ranges.iter().flat_map(|r| r.range.iter()).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}-{}", r.begin, r.end)?;
                }
                f.write_str("]")
            }
            ValueType::Set => {
                f.write_str("{")?;
                for (i, item) in self.set.iter().flat_map(|s| s.item.iter()).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(item)?;
                }
                f.write_str("}")
            }
            ValueType::Text => f.write_str("?"),
        }
    }
}

/// `[SOURCE:root,persistence-id:container-path]`, leaving out what is unset.
fn fmt_disk(disk: &DiskInfo, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("[")?;
    if let Some(source) = &disk.source {
        let (kind, root) = match source.kind {
            Some(DiskSourceType::Path) => ("PATH", source.path.as_ref().and_then(|p| p.root.as_deref())),
            Some(DiskSourceType::Mount) => ("MOUNT", source.mount.as_ref().and_then(|m| m.root.as_deref())),
            Some(DiskSourceType::Block) => ("BLOCK", None),
            Some(DiskSourceType::Raw) => ("RAW", None),
            Some(DiskSourceType::Unknown) | None => ("UNKNOWN", None),
        };
        f.write_str(kind)?;
        if let Some(root) = root {
            write!(f, ":{root}")?;
        }
        if let Some(id) = &source.id {
            write!(f, "({id})")?;
        }
        if disk.persistence.is_some() {
            f.write_str(",")?;
        }
    }
    if let Some(p) = &disk.persistence {
        f.write_str(&p.id)?;
    }
    if let Some(v) = &disk.volume {
        write!(f, ":{}", v.container_path)?;
    }
    f.write_str("]")
}

/// Entries separated by `; `, e.g. `cpus(allocated: r):0.5; mem:128; ports:[31000-32000]`.
impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Volume;
    use crate::resources::{DiskRoot, DiskSource, Persistence, ReservationType, SharedInfo};
    use proptest::prelude::*;

    fn legacy_static(r: Resource, role: &str) -> Resource {
        Resource { role: Some(role.to_owned()), ..r }
    }

    fn legacy_dynamic(r: Resource, role: &str, principal: &str) -> Resource {
        Resource {
            role: Some(role.to_owned()),
            reservation: Some(ReservationInfo {
                principal: Some(principal.to_owned()),
                ..Default::default()
            }),
            ..r
        }
    }

    fn refined_static(r: Resource, role: &str) -> Resource {
        r.reserved(ReservationInfo {
            kind: Some(ReservationType::Static),
            role: Some(role.to_owned()),
            ..Default::default()
        })
    }

    fn dynamic(r: Resource, role: &str, principal: &str) -> Resource {
        r.reserved(ReservationInfo::dynamic(role, Some(principal.to_owned()), None))
    }

    fn volume(id: &str, path: &str, size: f64) -> Resource {
        let mut r = dynamic(Resource::scalar("disk", size), "herd-role", "p");
        r.disk = Some(DiskInfo {
            persistence: Some(Persistence { id: id.to_owned(), principal: Some("p".to_owned()) }),
            volume: Some(Volume::rw(path)),
            source: None,
        });
        r
    }

    fn mount_disk(root: &str, size: f64) -> Resource {
        let mut r = Resource::scalar("disk", size);
        r.disk = Some(DiskInfo {
            source: Some(DiskSource {
                kind: Some(DiskSourceType::Mount),
                mount: Some(DiskRoot { root: Some(root.to_owned()) }),
                ..Default::default()
            }),
            ..Default::default()
        });
        r
    }

    fn path_disk(root: &str, size: f64) -> Resource {
        let mut r = Resource::scalar("disk", size);
        r.disk = Some(DiskInfo {
            source: Some(DiskSource {
                kind: Some(DiskSourceType::Path),
                path: Some(DiskRoot { root: Some(root.to_owned()) }),
                ..Default::default()
            }),
            ..Default::default()
        });
        r
    }

    fn bag(v: Vec<Resource>) -> Resources {
        Resources::from(v)
    }

    #[test]
    fn math_legacy_and_refined_reservations_are_equal() {
        let legacy = legacy_static(Resource::scalar("cpus", 1.0), "eng");
        let refined = refined_static(Resource::scalar("cpus", 2.0), "eng");
        let sum = bag(vec![legacy.clone(), refined.clone()]);
        assert_eq!(sum.len(), 1);
        assert_eq!(sum.cpus(), 3.0);
        assert!(sum.contains_resource(&refined_static(Resource::scalar("cpus", 3.0), "eng")));
        assert!(sum.contains_resource(&legacy_static(Resource::scalar("cpus", 3.0), "eng")));

        let legacy = legacy_dynamic(Resource::scalar("mem", 64.0), "eng", "p");
        let refined = dynamic(Resource::scalar("mem", 64.0), "eng", "p");
        assert_eq!(bag(vec![legacy.clone()]), bag(vec![refined.clone()]));
        let mut both = bag(vec![legacy, refined.clone()]);
        assert_eq!(both.len(), 1);
        both.subtract(&refined).expect("contained");
        assert_eq!(both.mem(), 64.0);

        // Legacy unreserved ("*") equals no role at all.
        let star = legacy_static(Resource::scalar("cpus", 1.0), "*");
        assert_eq!(bag(vec![star, Resource::scalar("cpus", 1.0)]).len(), 1);

        // Static and dynamic, or different principals, are different reservations.
        let s = legacy_static(Resource::scalar("cpus", 1.0), "eng");
        let d = dynamic(Resource::scalar("cpus", 1.0), "eng", "p");
        let d2 = dynamic(Resource::scalar("cpus", 1.0), "eng", "q");
        assert_eq!(bag(vec![s, d.clone(), d2]).len(), 3);
        assert!(!bag(vec![Resource::scalar("cpus", 5.0)]).contains_resource(&d));
    }

    #[test]
    fn math_allocation_revocable_shared_keep_entries_apart() {
        let plain = Resource::scalar("cpus", 1.0);
        let alloc = plain.clone().allocated_to("r");
        let rev = Resource { revocable: Some(Default::default()), ..plain.clone() };
        let all = bag(vec![plain.clone(), alloc.clone(), rev.clone(), alloc.clone()]);
        assert_eq!(all.len(), 3);
        assert_eq!(all.cpus(), 4.0);
        assert_eq!(all.allocated_to("r").cpus(), 2.0);
        assert_eq!(all.revocable().cpus(), 1.0);
        assert_eq!(all.without_allocation_info().non_revocable(), bag(vec![Resource::scalar("cpus", 3.0)]));
        assert_eq!(bag(vec![plain.clone()]).allocate("r"), bag(vec![alloc]));

        let shared = Resource { shared: Some(SharedInfo {}), ..volume("v", "data", 10.0) };
        let two = bag(vec![shared.clone(), shared.clone()]);
        assert_eq!(two.len(), 2);
        assert_eq!(two.shared().len(), 2);
        assert!(two.contains(&bag(vec![shared.clone(), shared.clone()])));
        assert!(!two.contains(&bag(vec![shared.clone(), shared.clone(), shared])));
    }

    #[test]
    fn math_scalar_precision() {
        let mut r = bag(vec![Resource::scalar("cpus", 0.1), Resource::scalar("cpus", 0.2)]);
        assert_eq!(r.cpus(), 0.3);
        r.subtract(&Resource::scalar("cpus", 0.3)).expect("0.3 contained");
        assert!(r.is_empty());

        // Below the precision: empty, ignored.
        assert!(bag(vec![Resource::scalar("cpus", 0.0001)]).is_empty());
        // Rounded to thousandths.
        assert_eq!(bag(vec![Resource::scalar("mem", 1.23456)]).mem(), 1.235);
        // Many small additions do not drift.
        let many: Resources = (0..1000).map(|_| Resource::scalar("cpus", 0.001)).collect();
        assert_eq!(many.cpus(), 1.0);
        assert_eq!(many, bag(vec![Resource::scalar("cpus", 1.0)]));
        // Zero and invalid values.
        assert!(bag(vec![Resource::scalar("cpus", 0.0)]).is_empty());
        assert!(bag(vec![Resource::scalar("cpus", -1.0)]).is_empty());
        assert!(bag(vec![Resource::scalar("cpus", f64::NAN)]).is_empty());
        let err = Resources::new().try_add(&Resource::scalar("cpus", -1.0)).expect_err("negative");
        assert!(matches!(err, ResourceError::Invalid { reason: "negative scalar value", .. }));
    }

    #[test]
    fn math_range_coalescing() {
        let r = bag(vec![Resource::ranges("ports", [(1, 3)]), Resource::ranges("ports", [(4, 6)])]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.ports(), vec![Range { begin: 1, end: 6 }]);

        let r = bag(vec![Resource::ranges("ports", [(10, 20), (1, 2), (15, 30), (40, 40), (3, 3)])]);
        assert_eq!(r.to_string(), "ports:[1-3, 10-30, 40-40]");

        let mut r = bag(vec![Resource::ranges("ports", [(1, 10)])]);
        r.subtract(&Resource::ranges("ports", [(4, 5), (10, 10)])).expect("contained");
        assert_eq!(r.to_string(), "ports:[1-3, 6-9]");
        assert!(r.contains_resource(&Resource::ranges("ports", [(2, 3), (6, 6)])));
        assert!(!r.contains_resource(&Resource::ranges("ports", [(3, 6)])));
        let err = r.subtract(&Resource::ranges("ports", [(3, 6)])).expect_err("4-5 missing");
        assert!(matches!(err, ResourceError::NotContained { .. }));
        assert_eq!(r.to_string(), "ports:[1-3, 6-9]");
        r.subtract(&Resource::ranges("ports", [(1, 3), (6, 9)])).expect("all");
        assert!(r.is_empty());

        // Extremes of u64 coalesce without overflow.
        let r = bag(vec![Resource::ranges("x", [(u64::MAX - 1, u64::MAX), (0, u64::MAX - 2)])]);
        assert_eq!(r.ranges("x"), vec![Range { begin: 0, end: u64::MAX }]);
        // Inverted ranges are invalid.
        assert!(bag(vec![Resource::ranges("ports", [(5, 1)])]).is_empty());
    }

    #[test]
    fn math_sets() {
        let r = bag(vec![Resource::set("zones", ["b", "a"]), Resource::set("zones", ["c", "a"])]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.set_items("zones"), vec!["a", "b", "c"]);
        assert_eq!(r.to_string(), "zones:{a, b, c}");
        let rest = r.checked_sub(&bag(vec![Resource::set("zones", ["b"])])).expect("contained");
        assert_eq!(rest.to_string(), "zones:{a, c}");
        assert!(r.checked_sub(&bag(vec![Resource::set("zones", ["d"])])).is_err());
    }

    #[test]
    fn math_persistent_volumes_are_indivisible() {
        let vol = volume("vol-0", "data", 64.0);
        let two = bag(vec![vol.clone(), vol.clone()]);
        assert_eq!(two.len(), 2, "identical volumes are not merged");
        assert_eq!(two.disk(), 128.0);

        let one = bag(vec![vol.clone(), Resource::scalar("cpus", 1.0)]);
        assert!(one.contains_resource(&vol));
        assert_eq!(one.persistent_volumes(), bag(vec![vol.clone()]));
        // Mesos ignores `disk.volume` when comparing: a task may mount it elsewhere.
        assert!(one.contains_resource(&volume("vol-0", "elsewhere", 64.0)));
        assert!(!one.contains_resource(&volume("vol-1", "data", 64.0)));

        // A part of a volume is not contained and cannot be subtracted.
        let part = volume("vol-0", "data", 32.0);
        assert!(!one.contains_resource(&part));
        let mut r = one.clone();
        let err = r.subtract(&part).expect_err("partial");
        assert!(matches!(err, ResourceError::Indivisible { .. }), "{err}");
        assert!(
            err.to_string().contains("disk(reservations: [(DYNAMIC,herd-role,p)])[vol-0:data]:32"),
            "{err}"
        );
        assert_eq!(r.as_slice(), one.as_slice(), "unchanged after failure");

        // Plain reserved disk is not the volume.
        assert!(!one.contains_resource(&dynamic(Resource::scalar("disk", 64.0), "herd-role", "p")));

        // A whole one is removed whole.
        let mut r = two;
        r.subtract(&vol).expect("whole");
        assert_eq!(r, bag(vec![vol.clone()]));
        r.subtract(&vol).expect("whole");
        assert!(r.is_empty());
        assert!(r.subtract(&vol).is_err());
    }

    #[test]
    fn math_mount_disks_are_indivisible_path_disks_are_not() {
        let mount = mount_disk("/mnt/d1", 100.0);
        let r = bag(vec![mount.clone(), mount.clone()]);
        assert_eq!(r.len(), 2);
        assert!(r.contains_resource(&mount));
        assert!(!r.contains_resource(&mount_disk("/mnt/d1", 50.0)));
        assert!(!r.contains_resource(&mount_disk("/mnt/d2", 100.0)));
        let err = r.clone().subtract(&mount_disk("/mnt/d1", 50.0)).expect_err("partial mount");
        assert!(matches!(err, ResourceError::Indivisible { .. }));
        assert_eq!(r.to_string(), "disk[MOUNT:/mnt/d1]:100; disk[MOUNT:/mnt/d1]:100");

        let path = bag(vec![path_disk("/mnt/p", 100.0), path_disk("/mnt/p", 50.0)]);
        assert_eq!(path.len(), 1);
        let rest = path.checked_sub(&bag(vec![path_disk("/mnt/p", 120.0)])).expect("divisible");
        assert_eq!(rest.disk(), 30.0);
        assert!(!path.contains_resource(&path_disk("/mnt/q", 1.0)));
        assert!(!path.contains_resource(&Resource::scalar("disk", 1.0)));
    }

    #[test]
    fn math_subtract_errors() {
        let offer = bag(vec![
            dynamic(Resource::scalar("cpus", 0.5), "herd-role", "p"),
            Resource::scalar("cpus", 1.0),
            Resource::scalar("mem", 128.0),
            Resource::ranges("ports", [(31000, 32000)]),
        ]);
        let mut r = offer.clone();
        let err = r.subtract(&Resource::scalar("cpus", 2.0)).expect_err("too much");
        assert_eq!(
            err,
            ResourceError::NotContained {
                wanted: "cpus:2".to_owned(),
                available: "cpus(reservations: [(DYNAMIC,herd-role,p)]):0.5; cpus:1".to_owned()
            }
        );
        assert_eq!(
            err.to_string(),
            "insufficient resources: wanted cpus:2, available cpus(reservations: [(DYNAMIC,herd-role,p)]):0.5; cpus:1"
        );
        assert_eq!(r.as_slice(), offer.as_slice());

        let err = r.subtract(&Resource::scalar("gpus", 1.0)).expect_err("none");
        assert_eq!(
            err,
            ResourceError::NotContained { wanted: "gpus:1".to_owned(), available: "none".to_owned() }
        );

        let err = r.subtract(&Resource::scalar("ports", 1.0)).expect_err("type");
        assert_eq!(
            err,
            ResourceError::TypeMismatch {
                name: "ports".to_owned(),
                wanted: ValueType::Scalar,
                held: ValueType::Ranges
            }
        );

        let err = r.subtract(&Resource::ranges("ports", [(2, 1)])).expect_err("invalid");
        assert!(matches!(err, ResourceError::Invalid { .. }));

        let err =
            offer.checked_sub(&bag(vec![Resource::scalar("mem", 64.0), Resource::scalar("mem", 100.0)]));
        assert_eq!(
            err,
            Err(ResourceError::NotContained {
                wanted: "mem:164".to_owned(),
                available: "mem:128".to_owned()
            })
        );
        let mut all = offer.clone();
        assert!(
            all.subtract_all(&bag(vec![Resource::scalar("mem", 64.0), Resource::scalar("cpus", 9.0)]))
                .is_err()
        );
        assert_eq!(all.as_slice(), offer.as_slice(), "subtract_all is all or nothing");
        all.subtract_all(&bag(vec![Resource::scalar("mem", 64.0), Resource::scalar("cpus", 1.0)]))
            .expect("ok");
        assert_eq!(all.mem(), 64.0);
        assert_eq!(all.cpus(), 0.5);

        // Subtracting nothing is fine.
        r.subtract(&Resource::scalar("gpus", 0.0)).expect("empty");
    }

    #[test]
    fn math_saturating_sub() {
        let a = bag(vec![
            Resource::scalar("cpus", 1.0),
            Resource::ranges("ports", [(1, 10)]),
            volume("v", "d", 5.0),
        ]);
        let b = bag(vec![
            Resource::scalar("cpus", 2.0),
            Resource::ranges("ports", [(5, 20)]),
            volume("v", "d", 4.0),
            Resource::scalar("mem", 1.0),
        ]);
        let rest = a.saturating_sub(&b);
        assert_eq!(rest, bag(vec![Resource::ranges("ports", [(1, 4)]), volume("v", "d", 5.0)]));
    }

    #[test]
    fn math_display() {
        let r = bag(vec![
            dynamic(Resource::scalar("cpus", 0.5), "herd-role", "p"),
            Resource::scalar("mem", 128.0),
            Resource::ranges("ports", [(31000, 32000)]),
            volume("vol-0", "data", 64.0),
        ]);
        assert_eq!(
            r.to_string(),
            "cpus(reservations: [(DYNAMIC,herd-role,p)]):0.5; mem:128; ports:[31000-32000]; disk(reservations: [(DYNAMIC,herd-role,p)])[vol-0:data]:64"
        );
        let r = Resource {
            revocable: Some(Default::default()),
            ..Resource::scalar("cpus", 1.0).allocated_to("a")
        };
        assert_eq!(r.to_string(), "cpus(allocated: a){REV}:1");
        assert_eq!(Resources::new().to_string(), "");
    }

    #[test]
    fn math_role_splits() {
        let r = bag(vec![
            Resource::scalar("cpus", 1.0),
            dynamic(Resource::scalar("cpus", 2.0), "eng", "p"),
            legacy_static(Resource::scalar("mem", 64.0), "eng"),
            dynamic(Resource::scalar("cpus", 4.0), "ops", "p").allocated_to("ops"),
            dynamic(dynamic(Resource::scalar("cpus", 8.0), "eng", "p"), "eng/web", "p"),
        ]);
        assert_eq!(r.reserved_to("eng").cpus(), 2.0);
        assert_eq!(r.reserved_to("eng").mem(), 64.0);
        assert_eq!(r.reserved_to("eng/web").cpus(), 8.0);
        assert_eq!(r.unreserved(), bag(vec![Resource::scalar("cpus", 1.0)]));
        assert_eq!(r.reserved().cpus(), 14.0);
        assert_eq!(r.allocated_to("ops").cpus(), 4.0);
        assert_eq!(r.allocatable_to("eng").cpus(), 3.0);
        assert_eq!(r.allocatable_to("eng/web").cpus(), 11.0);
        assert_eq!(r.allocatable_to("engineering").cpus(), 1.0);

        let split = r.split_by_role();
        let keys: Vec<_> = split.keys().cloned().collect();
        assert_eq!(keys, vec![None, Some("eng".into()), Some("eng/web".into()), Some("ops".into())]);
        assert_eq!(split[&Some("eng".to_owned())].len(), 2);

        let by = r.by_reservation();
        assert_eq!(by.len(), 5, "eng dynamic, eng static, eng/web, ops and unreserved differ");

        let flat = r.without_allocation_info().flatten();
        assert_eq!(flat, bag(vec![Resource::scalar("cpus", 15.0), Resource::scalar("mem", 64.0)]));
        assert_eq!(flat.len(), 2);
    }

    #[test]
    fn math_reservation_labels() {
        let labels: crate::common::Labels = [("pod", "a-0")].into_iter().collect();
        let tagged =
            Resource::scalar("cpus", 1.0).reserved(ReservationInfo::dynamic("r", None, Some(labels)));
        let untagged = dynamic(Resource::scalar("cpus", 2.0), "r", "p");
        let r = bag(vec![tagged.clone(), untagged]);
        assert_eq!(r.len(), 2);
        assert_eq!(r.with_reservation_label("pod", "a-0"), bag(vec![tagged]));
        assert!(r.with_reservation_label("pod", "a-1").is_empty());
    }

    #[test]
    fn math_upgraded_normalized_and_serde() {
        let r = bag(vec![
            legacy_dynamic(Resource::scalar("cpus", 1.0), "eng", "p"),
            Resource::scalar("mem", 1.0),
        ]);
        let up = r.upgraded();
        assert!(up.iter().all(|e| e.role.is_none() && e.reservation.is_none()));
        assert_eq!(up, r);
        assert_eq!(up.normalized(), r.normalized());

        let json = serde_json::to_string(&r).expect("serialise");
        assert!(json.starts_with('['));
        let back: Resources = serde_json::from_str(
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}},{"name":"cpus","type":"SCALAR","scalar":{"value":0.25}}]"#,
        )
        .expect("parse");
        assert_eq!(back.len(), 1);
        assert_eq!(back.cpus(), 0.75);
    }

    // ---------------------------------------------------------------- properties

    /// A reservation choice: unreserved / role "a" / role "b", legacy or refined format.
    fn reserve(r: Resource, role: Option<&str>, legacy: bool) -> Resource {
        match (role, legacy) {
            (None, true) => legacy_static(r, "*"),
            (None, false) => r,
            (Some(role), true) => legacy_dynamic(r, role, "p"),
            (Some(role), false) => dynamic(r, role, "p"),
        }
    }

    /// One resource; `pool` shifts port numbers and set items so that two pools are
    /// disjoint.
    fn resource(pool: u64) -> impl Strategy<Value = Resource> {
        let base = pool * 1000;
        let items: &'static [&'static str] =
            if pool == 0 { &["a", "b", "c", "d"] } else { &["w", "x", "y", "z"] };
        let value = prop_oneof![
            (0u32..4000).prop_map(|k| Resource::scalar("cpus", f64::from(k) / 1000.0)),
            (0u32..4096).prop_map(|k| Resource::scalar("mem", f64::from(k) / 4.0)),
            proptest::collection::vec((0u64..60, 0u64..8), 0..3).prop_map(move |v| {
                Resource::ranges("ports", v.into_iter().map(|(b, l)| (base + b, base + b + l)))
            }),
            proptest::sample::subsequence(items, 0..=items.len()).prop_map(|s| Resource::set("zones", s)),
        ];
        let role = prop_oneof![Just(None), Just(Some("a")), Just(Some("b"))];
        let divisible = (value, role, any::<bool>()).prop_map(|(r, role, legacy)| reserve(r, role, legacy));
        let vol = prop_oneof![Just(volume("vol-0", "data", 64.0)), Just(volume("vol-1", "data", 32.0))];
        prop_oneof![9 => divisible, 1 => vol]
    }

    fn resources(pool: u64) -> impl Strategy<Value = Resources> {
        proptest::collection::vec(resource(pool), 0..8).prop_map(Resources::from)
    }

    fn fixed(v: f64) -> i64 {
        to_fixed(v)
    }

    proptest! {
        #[test]
        fn math_prop_add_then_sub_roundtrips(a in resources(0), b in resources(1)) {
            // Pools are disjoint in ports and set items, so a + b - b == a exactly.
            let sum = &a + &b;
            let back = sum.checked_sub(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &a);
            prop_assert_eq!(back.normalized(), a.normalized());
        }

        #[test]
        fn math_prop_add_then_sub_general(a in resources(0), b in resources(0)) {
            // With overlapping ranges/sets, (a + b) - b is only a subset of a.
            let sum = &a + &b;
            let back = sum.checked_sub(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(a.contains(&back));
            prop_assert_eq!(&(&back + &b), &sum);
        }

        #[test]
        fn math_prop_add_commutes(a in resources(0), b in resources(0)) {
            let ab = &a + &b;
            let ba = &b + &a;
            prop_assert_eq!(&ab, &ba);
            prop_assert_eq!(ab.normalized(), ba.normalized());
        }

        #[test]
        fn math_prop_add_associates(a in resources(0), b in resources(0), c in resources(0)) {
            prop_assert_eq!((&(&a + &b) + &c).normalized(), (&a + &(&b + &c)).normalized());
        }

        #[test]
        fn math_prop_sum_contains_parts(a in resources(0), b in resources(0)) {
            let sum = &a + &b;
            prop_assert!(sum.contains(&a));
            prop_assert!(sum.contains(&b));
            prop_assert!(a.contains(&a));
            prop_assert!(a.contains(&Resources::new()));
            for r in &b {
                prop_assert!(sum.contains_resource(r));
            }
        }

        #[test]
        fn math_prop_sub_then_add_roundtrips(x in resources(0), y in resources(0), c in resources(0), d in resources(0)) {
            // Constructed containment: a = x + y contains b = y.
            let a = &x + &y;
            let rest = a.checked_sub(&y).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((&rest + &y).normalized(), a.normalized());
            // Arbitrary pairs: whenever c contains d the same holds.
            if c.contains(&d) {
                let rest = c.checked_sub(&d).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!((&rest + &d).normalized(), c.normalized());
            } else {
                prop_assert!(c.checked_sub(&d).is_err());
            }
        }

        #[test]
        fn math_prop_failed_subtract_leaves_receiver_unchanged(a in resources(0), r in resource(0), b in resources(0)) {
            let mut copy = a.clone();
            let contained = a.contains_resource(&r);
            prop_assert_eq!(contained, a.contains(&Resources::from(r.clone())));
            match copy.subtract(&r) {
                Ok(()) => {
                    prop_assert!(contained);
                    prop_assert_eq!(&(copy + r), &a);
                }
                Err(_) => {
                    prop_assert!(!contained);
                    prop_assert_eq!(copy.as_slice(), a.as_slice());
                }
            }
            let mut copy = a.clone();
            if copy.subtract_all(&b).is_err() {
                prop_assert!(!a.contains(&b));
                prop_assert_eq!(copy.as_slice(), a.as_slice());
            } else {
                prop_assert!(a.contains(&b));
            }
        }

        #[test]
        fn math_prop_scalar_totals_add_up(a in resources(0), b in resources(0)) {
            let sum = &a + &b;
            for name in ["cpus", "mem", "disk"] {
                prop_assert_eq!(fixed(sum.scalar(name)), fixed(a.scalar(name)) + fixed(b.scalar(name)));
            }
            let rest = sum.checked_sub(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for name in ["cpus", "mem", "disk"] {
                prop_assert_eq!(fixed(rest.scalar(name)), fixed(a.scalar(name)));
            }
            let split: i64 = sum.split_by_role().values().map(|r| fixed(r.cpus())).sum();
            prop_assert_eq!(split, fixed(sum.cpus()));
            prop_assert_eq!(fixed(sum.reserved().cpus()) + fixed(sum.unreserved().cpus()), fixed(sum.cpus()));
        }

        #[test]
        fn math_prop_normal_form(a in resources(0)) {
            // Divisible entries never share a kind; no entry is empty.
            for (i, x) in a.iter().enumerate() {
                prop_assert!(!Quantity::stored(x).is_empty());
                for y in a.iter().skip(i + 1) {
                    prop_assert!(is_indivisible(x) || !same_kind(x, y));
                }
            }
            let json = serde_json::to_string(&a).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: Resources = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.normalized(), a.normalized());
        }

        #[test]
        fn math_prop_ranges_and_sets_match_a_set_model(
            x in proptest::collection::vec((0u64..40, 0u64..6), 0..5),
            y in proptest::collection::vec((0u64..40, 0u64..6), 0..5),
            s in proptest::sample::subsequence(&["a", "b", "c", "d", "e"][..], 0..=5),
            t in proptest::sample::subsequence(&["a", "b", "c", "d", "e"][..], 0..=5),
        ) {
            let points = |v: &[(u64, u64)]| -> BTreeSet<u64> {
                v.iter().flat_map(|&(b, l)| b..=b + l).collect()
            };
            let of = |r: &Resources| -> BTreeSet<u64> {
                r.ports().iter().flat_map(|r| r.begin..=r.end).collect()
            };
            let (px, py) = (points(&x), points(&y));
            let a = Resources::from(Resource::ranges("ports", x.iter().map(|&(b, l)| (b, b + l))));
            let b = Resources::from(Resource::ranges("ports", y.iter().map(|&(b, l)| (b, b + l))));
            prop_assert_eq!(of(&a), px.clone());
            // Coalesced: sorted, disjoint, not adjacent.
            for w in a.ports().windows(2) {
                prop_assert!(w[0].end + 1 < w[1].begin);
            }
            prop_assert_eq!(of(&(&a + &b)), &px | &py);
            prop_assert_eq!(of(&a.saturating_sub(&b)), &px - &py);
            prop_assert_eq!(a.contains(&b), py.is_subset(&px));
            match a.checked_sub(&b) {
                Ok(rest) => prop_assert_eq!(of(&rest), &px - &py),
                Err(_) => prop_assert!(!py.is_subset(&px)),
            }

            let (ss, st): (BTreeSet<&str>, BTreeSet<&str>) = (s.iter().copied().collect(), t.iter().copied().collect());
            let items = |r: &Resources| -> BTreeSet<String> { r.set_items("zones").into_iter().collect() };
            let own = |v: BTreeSet<&str>| -> BTreeSet<String> { v.into_iter().map(str::to_owned).collect() };
            let a = Resources::from(Resource::set("zones", s.iter().copied()));
            let b = Resources::from(Resource::set("zones", t.iter().copied()));
            prop_assert_eq!(items(&(&a + &b)), own(&ss | &st));
            prop_assert_eq!(items(&a.saturating_sub(&b)), own(&ss - &st));
            prop_assert_eq!(a.contains(&b), st.is_subset(&ss));
        }
    }
}
