//! Containers: `ContainerInfo`, volumes, images, networks, Linux and rlimit settings, and
//! the `ContainerStatus` reported in task status updates.

use crate::common::{Labels, Parameter};
use crate::ids::ContainerId;
use crate::num::Num;
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;
use serde_with::serde_as;

/// `Secret.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum SecretType {
    Unknown,
    Reference,
    Value,
}

/// `Secret.Reference`: a secret held by a secret store.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SecretReference {
    /// Secret name.
    pub name: String,
    /// Key within the secret.
    pub key: Option<String>,
}

/// `Secret.Value`: a secret given inline.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SecretValue {
    /// The secret bytes.
    #[serde_as(as = "Base64")]
    pub data: Vec<u8>,
}

/// `Secret`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Secret {
    /// REFERENCE or VALUE.
    #[serde(rename = "type")]
    pub kind: Option<SecretType>,
    /// Reference form.
    pub reference: Option<SecretReference>,
    /// Inline form.
    pub value: Option<SecretValue>,
}

/// `Image.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ImageType {
    Appc,
    Docker,
}

/// `Image.Appc`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppcImage {
    /// Image name.
    pub name: String,
    /// Image id.
    pub id: Option<String>,
    /// Labels.
    pub labels: Option<Labels>,
}

/// `Credential`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Credential {
    /// Principal.
    pub principal: String,
    /// Secret.
    pub secret: Option<String>,
}

/// `Image.Docker`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DockerImage {
    /// Image reference, e.g. `alpine:3`.
    pub name: String,
    /// Deprecated registry credential.
    pub credential: Option<Credential>,
    /// Docker config secret.
    pub config: Option<Secret>,
}

/// `Image`: a container image for the Mesos containerizer.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// APPC or DOCKER.
    #[serde(rename = "type")]
    pub kind: ImageType,
    /// Appc image.
    pub appc: Option<AppcImage>,
    /// Docker image.
    pub docker: Option<DockerImage>,
    /// Use a cached copy when present (default true).
    pub cached: Option<bool>,
}

/// `Volume.Mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum VolumeMode {
    #[serde(rename = "RW")]
    Rw,
    #[serde(rename = "RO")]
    Ro,
}

/// `Volume.Source.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum VolumeSourceType {
    Unknown,
    DockerVolume,
    HostPath,
    SandboxPath,
    Secret,
    CsiVolume,
}

/// `Volume.Source.DockerVolume`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DockerVolume {
    /// Volume driver.
    pub driver: Option<String>,
    /// Volume name.
    pub name: String,
    /// Driver options.
    pub driver_options: Option<crate::common::Parameters>,
}

/// `MountPropagation`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MountPropagation {
    /// `HOST_TO_CONTAINER` or `BIDIRECTIONAL`.
    pub mode: Option<String>,
}

/// `Volume.Source.HostPath`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostPath {
    /// Path on the host.
    pub path: String,
    /// Mount propagation.
    pub mount_propagation: Option<MountPropagation>,
}

/// `Volume.Source.SandboxPath.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum SandboxPathType {
    Unknown,
    #[serde(rename = "SELF")]
    SelfPath,
    Parent,
}

/// `Volume.Source.SandboxPath`: a path in this or the parent container's sandbox.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SandboxPath {
    /// SELF or PARENT.
    #[serde(rename = "type")]
    pub kind: Option<SandboxPathType>,
    /// Relative path in that sandbox.
    pub path: String,
}

/// `Volume.Source`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VolumeSource {
    /// Which source is set.
    #[serde(rename = "type")]
    pub kind: Option<VolumeSourceType>,
    /// Docker volume.
    pub docker_volume: Option<DockerVolume>,
    /// Host path.
    pub host_path: Option<HostPath>,
    /// Sandbox path.
    pub sandbox_path: Option<SandboxPath>,
    /// Secret volume.
    pub secret: Option<Secret>,
    /// CSI volume (kept as raw JSON; herd does not use CSI).
    pub csi_volume: Option<serde_json::Value>,
}

/// `Volume`: a path mounted into a container.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// RW or RO.
    pub mode: VolumeMode,
    /// Path in the container (relative = inside the sandbox).
    pub container_path: String,
    /// Deprecated host path.
    pub host_path: Option<String>,
    /// Image to mount.
    pub image: Option<Image>,
    /// Where the volume comes from.
    pub source: Option<VolumeSource>,
}

impl Volume {
    /// A read-write volume at `container_path`.
    pub fn rw(container_path: impl Into<String>) -> Self {
        Self {
            mode: VolumeMode::Rw,
            container_path: container_path.into(),
            host_path: None,
            image: None,
            source: None,
        }
    }
}

/// `NetworkInfo.Protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum IpProtocol {
    #[serde(rename = "IPv4")]
    Ipv4,
    #[serde(rename = "IPv6")]
    Ipv6,
}

/// `NetworkInfo.IPAddress`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IpAddress {
    /// IPv4 (default) or IPv6.
    pub protocol: Option<IpProtocol>,
    /// The address.
    pub ip_address: Option<String>,
}

/// `NetworkInfo.PortMapping`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PortMapping {
    /// Port on the host.
    #[serde_as(as = "Num")]
    pub host_port: u32,
    /// Port in the container.
    #[serde_as(as = "Num")]
    pub container_port: u32,
    /// `tcp` or `udp`.
    pub protocol: Option<String>,
}

/// `NetworkInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<IpAddress>,
    /// Network name (CNI).
    pub name: Option<String>,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Labels.
    pub labels: Option<Labels>,
    /// Port mappings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
}

/// `ContainerInfo.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ContainerType {
    Docker,
    Mesos,
}

/// `ContainerInfo.DockerInfo.PortMapping`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DockerPortMapping {
    /// Host port.
    #[serde_as(as = "Num")]
    pub host_port: u32,
    /// Container port.
    #[serde_as(as = "Num")]
    pub container_port: u32,
    /// Protocol.
    pub protocol: Option<String>,
}

/// `ContainerInfo.DockerInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DockerInfo {
    /// Image.
    pub image: String,
    /// `HOST`, `BRIDGE`, `NONE` or `USER`.
    pub network: Option<String>,
    /// Port mappings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<DockerPortMapping>,
    /// Privileged.
    pub privileged: Option<bool>,
    /// Extra `docker run` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Always pull.
    pub force_pull_image: Option<bool>,
    /// Deprecated volume driver.
    pub volume_driver: Option<String>,
}

/// `ContainerInfo.MesosInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MesosInfo {
    /// Image.
    pub image: Option<Image>,
}

/// `LinuxInfo` (capabilities and seccomp kept as raw JSON).
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinuxInfo {
    /// Deprecated capability info.
    pub capability_info: Option<serde_json::Value>,
    /// Bounding capabilities.
    pub bounding_capabilities: Option<serde_json::Value>,
    /// Effective capabilities.
    pub effective_capabilities: Option<serde_json::Value>,
    /// Share the parent's PID namespace.
    pub share_pid_namespace: Option<bool>,
    /// Seccomp.
    pub seccomp: Option<serde_json::Value>,
    /// IPC mode.
    pub ipc_mode: Option<String>,
    /// /dev/shm size in MB.
    #[serde_as(as = "Option<Num>")]
    pub shm_size: Option<u32>,
    /// Share the parent's cgroups (default true).
    pub share_cgroups: Option<bool>,
}

/// `RLimitInfo.RLimit`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RLimit {
    /// `RLMT_NOFILE`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Hard limit (unset = unlimited).
    #[serde_as(as = "Option<Num>")]
    pub hard: Option<u64>,
    /// Soft limit.
    #[serde_as(as = "Option<Num>")]
    pub soft: Option<u64>,
}

/// `RLimitInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RLimitInfo {
    /// Limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<RLimit>,
}

/// `TTYInfo.WindowSize`.
#[serde_as]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WindowSize {
    /// Rows.
    #[serde_as(as = "Num")]
    pub rows: u32,
    /// Columns.
    #[serde_as(as = "Num")]
    pub columns: u32,
}

/// `TTYInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TtyInfo {
    /// Window size.
    pub window_size: Option<WindowSize>,
}

/// `ContainerInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// DOCKER or MESOS.
    #[serde(rename = "type")]
    pub kind: ContainerType,
    /// Volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Hostname.
    pub hostname: Option<String>,
    /// Docker settings.
    pub docker: Option<DockerInfo>,
    /// Mesos containerizer settings.
    pub mesos: Option<MesosInfo>,
    /// Networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    /// Linux settings.
    pub linux_info: Option<LinuxInfo>,
    /// Resource limits.
    pub rlimit_info: Option<RLimitInfo>,
    /// TTY.
    pub tty_info: Option<TtyInfo>,
}

/// `ContainerStatus`: where a task's container runs.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// Container id.
    pub container_id: Option<ContainerId>,
    /// Networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    /// cgroup info (raw JSON).
    pub cgroup_info: Option<serde_json::Value>,
    /// Executor process id.
    #[serde_as(as = "Option<Num>")]
    pub executor_pid: Option<u32>,
}
