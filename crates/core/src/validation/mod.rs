//! Spec validation: every rule a spec must meet before herd deploys it, and the rules an
//! update from one spec to the next must meet.
//!
//! Parsing ([`crate::spec`]) only checks shapes and field names; this module checks
//! values. Each rule lives in its own file and is registered in `SPEC_RULES` or
//! `UPDATE_RULES`; [`validate`] and [`validate_update`] run all of them and return every
//! error, not just the first, so an operator fixes a spec in one round. A
//! [`ValidationError`] names the field by its path (`pods[hello].tasks[server].cpus`),
//! says what is wrong and how to fix it.
//!
//! Not here: whether the cluster can satisfy the spec (offer evaluation and placement
//! decide that at run time), and rendering templates (only their syntax is checked).
//!
//! Where to start: [`validate`], then any rule file; `service_name.rs` is the smallest.

use crate::spec::ServiceSpec;

mod artifact_sources;
mod artifacts;
mod checks;
mod commands;
mod configs;
mod decommission_tasks;
mod env;
mod fixed_count;
mod identity_unchanged;
mod kill_grace;
mod placement;
mod plans;
mod pod_count;
mod pod_names;
mod ports;
mod principal;
mod queues;
mod resources;
mod role;
mod scale_in;
mod service_name;
mod task_names;
mod users;
mod volumes;
mod volumes_unchanged;

/// One thing wrong with a spec: where, what, and how to fix it.
///
/// Shown as `<field>: <problem>; <fix>`, e.g.
/// `pods[hello].tasks[server].cpus: must be more than 0 (got 0); set cpus to at least 0.01`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; {fix}")]
pub struct ValidationError {
    /// Path of the offending field: list items by name where they have one
    /// (`pods[hello].tasks[server].cpus`), by index otherwise (`pods[hello].artifacts[0].url`).
    pub field: String,
    /// What is wrong, with the offending value.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl ValidationError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into(), fix: fix.into() }
    }
}

/// What an update may do besides changing configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateOptions {
    /// Pod types may lose instances or be removed altogether; the decommission plan then
    /// kills the surplus instances and releases their reservations and volumes.
    pub allow_decommission: bool,
}

/// A rule over one spec: returns every violation it finds.
type SpecRule = fn(&ServiceSpec) -> Vec<ValidationError>;

/// A rule over an update from the running spec (first) to a new one (second).
type UpdateRule = fn(&ServiceSpec, &ServiceSpec, UpdateOptions) -> Vec<ValidationError>;

/// The rules every spec must meet, in the order their errors are reported.
const SPEC_RULES: &[SpecRule] = &[
    service_name::check,
    role::check,
    principal::check,
    users::check,
    pod_names::check,
    pod_count::check,
    placement::check,
    volumes::check,
    artifacts::check,
    artifact_sources::check,
    task_names::check,
    commands::check,
    resources::check,
    kill_grace::check,
    ports::check,
    env::check,
    configs::check,
    checks::check,
    plans::check,
    decommission_tasks::check,
    queues::check,
];

/// The rules an update must meet besides the new spec being valid.
///
/// Deliberately absent: a port changing from one fixed number to another is allowed (the
/// update plan restarts the instances one at a time on their new ports).
const UPDATE_RULES: &[UpdateRule] =
    &[identity_unchanged::check, volumes_unchanged::check, scale_in::check, fixed_count::check];

/// Checks a spec against every rule; returns all the errors found.
pub fn validate(spec: &ServiceSpec) -> Result<(), Vec<ValidationError>> {
    into_result(SPEC_RULES.iter().flat_map(|rule| rule(spec)).collect())
}

/// Checks that `new` is a valid spec and a permitted update of the running spec `old`;
/// returns all the errors found.
pub fn validate_update(
    old: &ServiceSpec,
    new: &ServiceSpec,
    options: UpdateOptions,
) -> Result<(), Vec<ValidationError>> {
    let mut errors = validate(new).err().unwrap_or_default();
    errors.extend(UPDATE_RULES.iter().flat_map(|rule| rule(old, new, options)));
    into_result(errors)
}

fn into_result(errors: Vec<ValidationError>) -> Result<(), Vec<ValidationError>> {
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

// ---- Shared by the rules ----------------------------------------------------------------

/// Longest service, pod, task or plan name: a DNS label.
const MAX_NAME_LEN: usize = 63;

/// What is wrong with a service, pod, task or plan name, if anything. These names become
/// parts of task ids and hostnames, so they follow DNS label rules: lowercase letters,
/// digits and `-`, starting with a letter, not ending with `-`, at most 63 characters.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("is {} characters long (at most {MAX_NAME_LEN})", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-')) {
        return Some(format!("contains {c:?} in {name:?} (only lowercase letters, digits and '-')"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some(format!("{name:?} does not start with a letter"));
    }
    if name.ends_with('-') {
        return Some(format!("{name:?} ends with '-'"));
    }
    None
}

/// The fix for a bad name of some kind (`"service"`, `"pod"`...).
fn name_fix(kind: &str) -> String {
    format!(
        "name the {kind} with lowercase letters, digits and '-', starting with a letter and not \
         ending with '-', at most {MAX_NAME_LEN} characters (e.g. \"web-1\")"
    )
}

/// What is wrong with a label (a volume, port, config or phase name), if anything: these
/// appear in resource labels, persistence ids and file names, not in hostnames, so they
/// only need to be non-empty ASCII letters, digits, `-`, `_` and `.`, starting with a
/// letter or digit.
fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some("is empty".to_owned());
    }
    if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Some(format!("contains {c:?} in {label:?} (only letters, digits, '-', '_' and '.')"));
    }
    if !label.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some(format!("{label:?} does not start with a letter or digit"));
    }
    None
}

/// The fix for a bad label of some kind.
fn label_fix(kind: &str) -> String {
    format!("name the {kind} with letters, digits, '-', '_' and '.', starting with a letter or digit")
}

/// Whether `key` can be an environment variable a shell can read: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What is wrong with a path that must stay inside the sandbox, if anything.
fn sandbox_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        Some("is empty".to_owned())
    } else if path.starts_with('/') {
        Some(format!("{path:?} is absolute (must be relative to the sandbox)"))
    } else if path.split('/').any(|part| part == "..") {
        Some(format!("{path:?} contains '..' (must stay inside the sandbox)"))
    } else if path_parts(path).is_empty() {
        Some(format!("{path:?} names the sandbox itself"))
    } else {
        None
    }
}

/// A relative path's components, without empty and `.` ones: `./a//b/` → `[a, b]`.
fn path_parts(path: &str) -> Vec<&str> {
    path.split('/').filter(|part| !part.is_empty() && *part != ".").collect()
}

/// What is wrong with a template's syntax, if anything: the compiler's message with the
/// line it points at. The check is the renderer's own ([`crate::template::Renderer::check`]),
/// so validation accepts exactly what rendering will parse (including its special case for
/// bash's `${#VAR}`). Only syntax is checked: values exist only when an instance is rendered.
fn template_problem(source: &str) -> Option<String> {
    let error = crate::template::Renderer::new().check("template", source).err()?;
    Some(match error.line {
        Some(line) => format!("template does not compile at line {line}: {}", error.message),
        None => format!("template does not compile: {}", error.message),
    })
}

/// The fix for a template that does not compile.
const TEMPLATE_FIX: &str = "fix the template syntax (minijinja/Jinja2: {{ expr }}, {% tag %}, {# comment #}; \
     wrap literal braces in {% raw %}...{% endraw %})";

/// Whether `x` is a finite number above 0.
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Whether `x` is a finite number of at least 0.
fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// Path of a pod type.
fn pod_path(pod: &crate::spec::PodSpec) -> String {
    format!("pods[{}]", pod.name)
}

/// Path of a task.
fn task_path(pod: &crate::spec::PodSpec, task: &crate::spec::TaskSpec) -> String {
    format!("pods[{}].tasks[{}]", pod.name, task.name)
}

/// The items of `items` whose key was already seen, with that key, in order: one entry per
/// repeat, so three equal names give two duplicates.
fn duplicates<T, K: Ord>(items: impl IntoIterator<Item = T>, key: impl Fn(&T) -> K) -> Vec<(T, K)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut repeats = Vec::new();
    for item in items {
        let k = key(&item);
        if seen.contains(&k) {
            repeats.push((item, k));
        } else {
            seen.insert(k);
        }
    }
    repeats
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A known-good spec to mutate, and assertions on rule output.

    use super::ValidationError;
    use crate::spec::{ServiceSpec, SpecFormat};

    /// A spec that uses every feature and passes every rule.
    pub(crate) const BASE: &str = r#"
name = "hello"
role = "hello-role"
principal = "hello-principal"
user = "nobody"

[[pods]]
name = "hello"
count = 3
placement = ["hostname:UNIQUE", "rack:GROUP_BY:3", "zone:LIKE:us-.*", "hostname:MAX_PER:1"]

[[pods.volumes]]
name = "data"
path = "data"
size_mb = 64

[[pods.volumes]]
name = "logs"
path = "var/logs"
size_mb = 32
kind = "mount"

[[pods.artifacts]]
url = "https://example.com/hello.tar.gz"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[[pods.artifacts]]
url = "file:///opt/tools/probe"
executable = true
output_file = "bin/probe"

[[pods.tasks]]
name = "init"
goal = "once"
command = "mkdir -p data/db"
cpus = 0.1
mem_mb = 32

[[pods.tasks]]
name = "server"
command = "./hello --port $PORT_HTTP --id {{ index }}"
cpus = 0.5
mem_mb = 256
disk_mb = 100
kill_grace_secs = 10

[[pods.tasks.ports]]
name = "http"

[[pods.tasks.ports]]
name = "admin"
port = 9090
env = "ADMIN_PORT"

[pods.tasks.env]
LOG_LEVEL = "info"
NODE_NAME = "{{ instance }}"

[[pods.tasks.configs]]
name = "settings"
template = """
listen = {{ ports.http }}
{% if params.DEBUG is defined %}debug = true{% endif %}
"""
dest = "conf/hello.conf"

[pods.tasks.health_check]
tcp = { port = "admin" }
interval_secs = 10
grace_period_secs = 60

[pods.tasks.readiness_check]
http = { port = "http", path = "/ready" }

[[pods.tasks]]
name = "backup"
goal = "finish"
command = "tar czf data/backup.tgz data/db && cp data/backup.tgz $BACKUP_TARGET"
cpus = 0.1
mem_mb = 64

[[pods]]
name = "proxy"
count = 1
strategy = "parallel"

[[pods.tasks]]
name = "proxy"
command = "./proxy --listen $PORT_WEB"
cpus = 0.2
mem_mb = 128

[[pods.tasks.ports]]
name = "web"
port = 8080

[[plans]]
name = "backup"
parameters = ["BACKUP_TARGET"]

[[plans.phases]]
name = "backup"
pod = "hello"
tasks = ["backup"]
"#;

    /// The known-good spec.
    pub(crate) fn base() -> ServiceSpec {
        ServiceSpec::parse(BASE, SpecFormat::Toml, "test.toml").unwrap()
    }

    /// The pod type called `name` in `spec`.
    pub(crate) fn pod<'a>(spec: &'a mut ServiceSpec, name: &str) -> &'a mut crate::spec::PodSpec {
        spec.pods.iter_mut().find(|p| p.name == name).unwrap()
    }

    /// The task `task` of the pod type `pod_name` in `spec`.
    pub(crate) fn task<'a>(
        spec: &'a mut ServiceSpec,
        pod_name: &str,
        task: &str,
    ) -> &'a mut crate::spec::TaskSpec {
        pod(spec, pod_name).tasks.iter_mut().find(|t| t.name == task).unwrap()
    }

    /// Asserts that `errors` is exactly one error, on `field`, whose message (problem and
    /// fix) mentions every one of `mentions`; returns it.
    #[track_caller]
    pub(crate) fn assert_one(
        errors: Vec<ValidationError>,
        field: &str,
        mentions: &[&str],
    ) -> ValidationError {
        assert_eq!(errors.len(), 1, "expected one error on {field}, got {errors:#?}");
        let error = errors.into_iter().next().unwrap();
        assert_eq!(error.field, field, "{error}");
        assert!(!error.fix.is_empty(), "no fix: {error}");
        let shown = error.to_string();
        for m in mentions {
            assert!(shown.contains(m), "{shown:?} does not mention {m:?}");
        }
        error
    }

    /// The fields of `errors`, in order.
    pub(crate) fn fields(errors: &[ValidationError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{base, fields, task};
    use super::*;

    #[test]
    fn the_base_spec_is_valid() {
        assert_eq!(validate(&base()), Ok(()));
        assert_eq!(validate_update(&base(), &base(), UpdateOptions::default()), Ok(()));
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let mut spec = base();
        spec.name = "Hello".to_owned();
        spec.pods[0].count = 0;
        task(&mut spec, "hello", "server").cpus = 0.0;
        task(&mut spec, "hello", "server").env.insert("bad-key".to_owned(), "x".to_owned());
        spec.plans[0].phases[0].pod = "nope".to_owned();
        let errors = validate(&spec).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "name",
                "pods[hello].count",
                "pods[hello].tasks[server].cpus",
                "pods[hello].tasks[server].env[bad-key]",
                "plans[backup].phases[backup].pod",
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn an_update_reports_spec_errors_and_update_errors_together() {
        let old = base();
        let mut new = base();
        new.pods[0].count = 2;
        task(&mut new, "hello", "server").mem_mb = -1.0;
        let errors = validate_update(&old, &new, UpdateOptions::default()).unwrap_err();
        assert_eq!(fields(&errors), ["pods[hello].tasks[server].mem_mb", "pods[hello].count"]);
    }

    #[test]
    fn a_fixed_port_may_move_to_another_fixed_port() {
        let mut new = base();
        task(&mut new, "hello", "server").ports[1].port = 9191;
        assert_eq!(validate_update(&base(), &new, UpdateOptions::default()), Ok(()));
    }

    #[test]
    fn an_error_shows_field_problem_and_fix() {
        let error = ValidationError::new(
            "pods[hello].tasks[server].cpus",
            "must be more than 0 (got 0)",
            "set cpus to at least 0.01",
        );
        assert_eq!(
            error.to_string(),
            "pods[hello].tasks[server].cpus: must be more than 0 (got 0); set cpus to at least 0.01"
        );
    }

    #[test]
    fn names_follow_dns_label_rules() {
        for good in ["a", "hello", "web-1", "a1-b2", &"a".repeat(63)] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for bad in ["", "Hello", "1abc", "-a", "a-", "a_b", "a.b", "héllo", &"a".repeat(64)] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn env_keys_are_shell_identifiers() {
        for good in ["A", "_X", "PORT_HTTP", "a1"] {
            assert!(is_env_key(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A.B", "É"] {
            assert!(!is_env_key(bad), "{bad}");
        }
    }

    #[test]
    fn sandbox_paths_are_relative_and_stay_inside() {
        for good in ["data", "a/b", "./a", "a/b/", "a..b"] {
            assert_eq!(sandbox_path_problem(good), None, "{good}");
        }
        for bad in ["", "/data", "../x", "a/../b", "a/..", ".", "./"] {
            assert!(sandbox_path_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_template_error_names_its_line() {
        assert_eq!(template_problem("a {{ b }}\n{% if c %}d{% endif %}"), None);
        let problem = template_problem("line one\nline two {{ oops\n").unwrap();
        assert!(problem.starts_with("template does not compile at line 2: syntax error:"), "{problem}");
    }

    #[test]
    fn duplicates_lists_each_repeat() {
        let names = ["a", "b", "a", "a", "c", "b"];
        let dups: Vec<_> = duplicates(&names, |n| **n).into_iter().map(|(_, k)| k).collect();
        assert_eq!(dups, ["a", "a", "b"]);
    }
}
