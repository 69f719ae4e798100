//! Small shared messages: labels, parameters, time, addresses, URLs, domains, attributes,
//! values, filters and the master's self-description.

use crate::num::Num;
use serde::{Deserialize, Serialize};
use serde_with::serde_as;

/// `Label`: a key with an optional value.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Label {
    /// The key (required).
    pub key: String,
    /// The value.
    pub value: Option<String>,
}

impl Label {
    /// A label with a value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: Some(value.into()) }
    }
}

/// `Labels`: an ordered list of labels (keys may repeat).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Labels {
    /// The labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
}

impl Labels {
    /// The value of the first label with `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|l| l.key == key).and_then(|l| l.value.as_deref())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self { labels: iter.into_iter().map(|(k, v)| Label::new(k, v)).collect() }
    }
}

/// `Parameter`: a key/value pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Parameter {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// `Parameters`: a list of parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Parameters {
    /// The parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter: Vec<Parameter>,
}

/// `TimeInfo`: a point in time, nanoseconds since the epoch.
#[serde_as]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct TimeInfo {
    /// Nanoseconds since the Unix epoch.
    #[serde_as(as = "Num")]
    pub nanoseconds: i64,
}

/// `DurationInfo`: a duration in nanoseconds.
#[serde_as]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DurationInfo {
    /// Nanoseconds.
    #[serde_as(as = "Num")]
    pub nanoseconds: i64,
}

impl DurationInfo {
    /// A duration from a std duration (saturating).
    pub fn from_duration(d: std::time::Duration) -> Self {
        Self { nanoseconds: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX) }
    }

    /// As a std duration (negative → zero).
    pub fn to_duration(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.nanoseconds).unwrap_or(0))
    }
}

/// `Address`: a network address of a master, agent or endpoint.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Address {
    /// Host name.
    pub hostname: Option<String>,
    /// IP address, textual.
    pub ip: Option<String>,
    /// Port (required).
    #[serde_as(as = "Num")]
    pub port: i32,
}

/// `URL`: scheme, address, path, query and fragment.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Url {
    /// `http`, `https`, ...
    pub scheme: String,
    /// Host and port.
    pub address: Address,
    /// Path, e.g. `/slave(1)`.
    pub path: Option<String>,
    /// Query parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<Parameter>,
    /// Fragment.
    pub fragment: Option<String>,
}

/// A named region or zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DomainName {
    /// The name.
    pub name: String,
}

/// `DomainInfo.FaultDomain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FaultDomain {
    /// Region.
    pub region: DomainName,
    /// Zone within the region.
    pub zone: DomainName,
}

/// `DomainInfo`: where an agent or master sits.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DomainInfo {
    /// The fault domain.
    pub fault_domain: Option<FaultDomain>,
}

/// `MasterInfo.Capability.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum MasterCapabilityType {
    Unknown,
    AgentUpdate,
    AgentDraining,
    QuotaV2,
}

/// `MasterInfo.Capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MasterCapability {
    /// The capability.
    #[serde(rename = "type")]
    pub kind: MasterCapabilityType,
}

/// `MasterInfo`: how a master describes itself (SUBSCRIBED, and the JSON Mesos masters
/// write into ZooKeeper for leader detection).
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MasterInfo {
    /// The master's id (a UUID string).
    pub id: String,
    /// IPv4 address packed in network order and read as a host-order `u32`
    /// (127.0.0.1 → 16777343).
    #[serde_as(as = "Num")]
    pub ip: u32,
    /// Port (proto default 5050).
    #[serde_as(as = "Option<Num>")]
    pub port: Option<u32>,
    /// libprocess pid, `master@ip:port`.
    pub pid: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// Mesos version string.
    pub version: Option<String>,
    /// The address clients should use.
    pub address: Option<Address>,
    /// Fault domain.
    pub domain: Option<DomainInfo>,
    /// Capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<MasterCapability>,
}

impl MasterInfo {
    /// The `host:port` a client should connect to: `address.hostname` or `address.ip`,
    /// else `hostname`, else the packed `ip`; port from `address`, else `port`, else 5050.
    pub fn host_port(&self) -> (String, u16) {
        let addr = self.address.as_ref();
        let host = addr
            .and_then(|a| a.hostname.clone().or_else(|| a.ip.clone()))
            .or_else(|| self.hostname.clone())
            .unwrap_or_else(|| std::net::Ipv4Addr::from(self.ip.to_le_bytes()).to_string());
        let port = addr
            .and_then(|a| u16::try_from(a.port).ok())
            .or_else(|| self.port.and_then(|p| u16::try_from(p).ok()))
            .unwrap_or(5050);
        (host, port)
    }
}

/// `Value.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ValueType {
    Scalar,
    Ranges,
    Set,
    Text,
}

/// `Value.Scalar`.
#[serde_as]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Scalar {
    /// The value (Mesos keeps three decimal digits of precision).
    #[serde_as(as = "Num")]
    pub value: f64,
}

/// `Value.Range`: an inclusive range.
#[serde_as]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Range {
    /// First value, inclusive.
    #[serde_as(as = "Num")]
    pub begin: u64,
    /// Last value, inclusive.
    #[serde_as(as = "Num")]
    pub end: u64,
}

/// `Value.Ranges`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Ranges {
    /// The ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub range: Vec<Range>,
}

/// `Value.Set`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Set {
    /// The items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<String>,
}

/// `Value.Text`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub value: String,
}

/// `Attribute`: a typed property of an agent (used by placement constraints).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Which value field is set.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// Scalar value.
    pub scalar: Option<Scalar>,
    /// Ranges value.
    pub ranges: Option<Ranges>,
    /// Set value.
    pub set: Option<Set>,
    /// Text value.
    pub text: Option<Text>,
}

impl Attribute {
    /// A text attribute, e.g. `rack:r1`.
    pub fn text(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: Some(Text { value: value.to_owned() }),
        }
    }
}

/// `Filters`: how long declined resources stay away.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Filters {
    /// Seconds (default 5.0).
    #[serde_as(as = "Option<Num>")]
    pub refuse_seconds: Option<f64>,
}

impl Filters {
    /// Filters refusing for `seconds`.
    pub fn refuse(seconds: f64) -> Self {
        Self { refuse_seconds: Some(seconds) }
    }
}
