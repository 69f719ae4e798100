//! Per-instance rendering of a task's `command`, `env` values and config files.
//!
//! Every one of them is a [minijinja](https://docs.rs/minijinja) template (Jinja syntax:
//! `{{ expr }}`, `{% stmt %}`, `{# comment #}`) rendered with a [`TemplateContext`]: the
//! service, the instance and the addresses of every other instance (for seed lists and
//! quorum strings). One [`Renderer`] is built once and reused for every launch.
//!
//! # Values
//!
//! | name | what |
//! |---|---|
//! | `service`, `role` | service name, Mesos role |
//! | `pod`, `index`, `instance` | pod type name, instance index (int), `<pod>-<index>` |
//! | `task` | task name |
//! | `host`, `hostname` | the agent address the instance runs on (`127.0.1.2`), its hostname |
//! | `ports` | port name → number: `{{ ports.http }}` |
//! | `env` | environment the caller provides (static task env plus Mesos-provided values) |
//! | `params` | operator plan parameters |
//! | `instances` | pod type name → list, ordered by index, of `{index, name, host, ports, placed, decommissioning}` for every instance of every pod type; an instance not placed yet has `placed = false`, an empty `host` and empty `ports`; one being scaled in (draining, then going) has `decommissioning = true` |
//! | `instance_count` | pod type name → number of instances (placed or not) |
//! | `attributes` | the agent's attributes as text: `{% if attributes.rack is defined %}broker.rack={{ attributes.rack }}{% endif %}` |
//! | `replaced_ports` | port name → number of that placement, empty if it never was: `{{ replaced_ports.storage }}` |
//! | `replaced_host` | the agent address the instance ran on before its latest replace, `none` if it never was: `{% if replaced_host %}-Dcassandra.replace_address_first_boot={{ replaced_host }}{% endif %}` |
//!
//! Helpers besides minijinja's builtin filters (`join`, `map`, `selectattr`, `length`,
//! `default`, `tojson`...):
//!
//! - filter `addresses(port_name)`: a list of instances → `host:port` of each *placed* one
//!   (`[host]:port` for IPv6 hosts): `{{ instances.broker | addresses("broker") | join(",") }}`
//!   → `127.0.1.1:9092,127.0.1.2:9092`. A placed instance without that port is an error.
//!
//! Examples:
//!
//! ```text
//! controller.quorum.voters={% for c in instances.controller %}{{ c.index }}@{{ c.host }}:{{ c.ports.controller }}{% if not loop.last %},{% endif %}{% endfor %}
//! seeds: "{{ (instances.node | selectattr("placed") | map(attribute="host") | list)[:2] | join(",") }}"
//! cluster.size={{ instance_count.node }}
//! heap={{ params.HEAP | default("1g") }}
//! ```
//!
//! # Rules
//!
//! - **Undefined values are errors** (minijinja's `UndefinedBehavior::Strict`): a typo
//!   (`{{ portz.http }}`, `{{ ports.htpp }}`) fails the render with the line and the names
//!   that do exist, instead of rendering an empty string. Test optional values with
//!   `{% if params.X is defined %}` or `{{ params.X | default("...") }}`.
//! - Output is text exactly as written: no HTML escaping, whitespace as in the template
//!   (Jinja defaults: no `trim_blocks`/`lstrip_blocks`; use `{%- -%}` to trim), and the
//!   template's final newline is kept (config files end with one).
//! - Shell syntax passes through: `$VAR`, `${VAR}`, `$(cmd)`, `$((1+2))` contain no
//!   template delimiters. **`${#` is special-cased**: in Jinja `{#` opens a comment, so bash's
//!   `${#ARRAY[@]}` / `${#VAR}` would either fail ("unexpected end of comment") or, worse,
//!   silently swallow everything up to a later `#}`. The renderer therefore treats every
//!   `${#` outside `{% raw %}` blocks as literal text (rewritten to `${{ "{#" }}` before
//!   parsing; line numbers are unchanged). The only cost: a template comment cannot directly
//!   follow a `$`, which nobody writes on purpose.
//! - Any other `{{`, `{%` or `{#` in the text is template syntax; for a literal one write
//!   `{{ "{{" }}`, or wrap the text in `{% raw %}...{% endraw %}`.
//! - Each template stands alone: minijinja is built without `macros` and `multi_template`,
//!   so `{% macro %}`, `{% include %}`, `{% extends %}` and `{% import %}` are not available.

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Where another instance (or this one) runs, as templates see it in `instances`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceAddress {
    /// Instance index within its pod type.
    pub index: u32,
    /// Instance name, `<pod>-<index>`.
    pub name: String,
    /// Agent address the instance runs on; empty while not placed.
    pub host: String,
    /// Port name → number; empty while not placed.
    pub ports: BTreeMap<String, u16>,
    /// Whether the instance has been placed on an agent yet.
    pub placed: bool,
    /// Whether the instance is being scaled in (it drains, then goes): templates that list
    /// where data should live leave it out.
    pub decommissioning: bool,
}

/// Everything a template of one task of one pod instance can use (see the [module
/// docs](self) for how templates see it). Templates also get `instance_count`, derived
/// from `instances`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TemplateContext {
    /// Service name.
    pub service: String,
    /// Mesos role of the service.
    pub role: String,
    /// Pod type name.
    pub pod: String,
    /// Instance index.
    pub index: u32,
    /// Instance name, `<pod>-<index>`.
    pub instance: String,
    /// Task name.
    pub task: String,
    /// Agent address the instance runs on (e.g. `127.0.1.2`).
    pub host: String,
    /// Agent hostname.
    pub hostname: String,
    /// This instance's ports: name → number.
    pub ports: BTreeMap<String, u16>,
    /// Environment: the task's static env plus Mesos-provided values, as the caller fills it.
    pub env: BTreeMap<String, String>,
    /// Operator plan parameters.
    pub params: BTreeMap<String, String>,
    /// Pod type name → every instance of that type, ordered by index.
    pub instances: BTreeMap<String, Vec<InstanceAddress>>,
    /// The attributes of the agent the instance runs on (`rack`, `zone`...), as text.
    pub attributes: BTreeMap<String, String>,
    /// The agent address the instance ran on before it was last replaced (absent for an
    /// instance never replaced): e.g. Cassandra's `replace_address_first_boot`.
    pub replaced_host: Option<String>,
    /// The ports of the placement before the latest replace (empty for an instance never
    /// replaced): e.g. Cassandra's replace address is `host:storage_port`.
    pub replaced_ports: BTreeMap<String, u16>,
}

/// Top-level names templates see, in declaration order (for error messages).
const TOP_LEVEL: &[&str] = &[
    "service",
    "role",
    "pod",
    "index",
    "instance",
    "task",
    "host",
    "hostname",
    "ports",
    "env",
    "params",
    "instances",
    "instance_count",
    "attributes",
    "replaced_host",
    "replaced_ports",
];

/// What templates are rendered with: the context plus derived values.
#[derive(Serialize)]
struct Full<'a> {
    #[serde(flatten)]
    ctx: &'a TemplateContext,
    instance_count: BTreeMap<&'a str, usize>,
}

/// A template that failed to parse or render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What was rendered, e.g. `pods[kafka].tasks[broker].configs[server]`.
    pub name: String,
    /// 1-based line of the template where it failed, when known.
    pub line: Option<usize>,
    /// What went wrong, e.g. ``undefined value `portz` (available: service, role, ...)``.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {}: {}", self.name, line, self.message),
            None => write!(f, "{}: {}", self.name, self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Renders templates; build once, reuse for every launch (it is `Send + Sync`).
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer with herd's settings: strict undefined, no escaping, trailing newline
    /// kept, and the `addresses` filter.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_keep_trailing_newline(true);
        // Error spans are used for messages; the debug dump itself is not.
        env.set_debug(false);
        env.add_filter("addresses", addresses);
        Renderer { env }
    }

    /// Renders `template` with `ctx`. `name` identifies the template in errors, e.g.
    /// `pods[kafka].tasks[broker].configs[server]`.
    pub fn render(&self, name: &str, template: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
        let source = escape_shell_length(template);
        let tmpl =
            self.env.template_from_named_str(name, &source).map_err(|e| convert(name, &source, None, &e))?;
        let full = Full {
            ctx,
            instance_count: ctx.instances.iter().map(|(pod, list)| (pod.as_str(), list.len())).collect(),
        };
        let root = Value::from_serialize(&full);
        tmpl.render(&root).map_err(|e| convert(name, &source, Some(&root), &e))
    }

    /// Checks `template`'s syntax only (unknown names, filters and values are found by
    /// [`render`](Self::render)).
    pub fn check(&self, name: &str, template: &str) -> Result<(), TemplateError> {
        let source = escape_shell_length(template);
        self.env
            .template_from_named_str(name, &source)
            .map(|_| ())
            .map_err(|e| convert(name, &source, None, &e))
    }
}

/// The `addresses(port_name)` filter: `host:port` of every placed instance in a list.
fn addresses(state: &State, instances: Value, port: &str) -> Result<Vec<String>, Error> {
    if instances.is_undefined() || instances.is_none() {
        let pods = state.lookup("instances").map(|v| keys_of(&v)).unwrap_or_default();
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!(
                "`addresses` was given an undefined value; expected a list like `instances.<pod>` (pod types: {pods})"
            ),
        ));
    }
    let mut out = Vec::new();
    for item in instances.try_iter()? {
        if !item.get_attr("placed")?.is_true() {
            continue;
        }
        let host = item.get_attr("host")?;
        let ports = item.get_attr("ports")?;
        let number = ports.get_attr(port)?;
        if number.is_undefined() {
            let name = item.get_attr("name")?;
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("instance `{name}` has no port `{port}` (its ports: {})", keys_of(&ports)),
            ));
        }
        let host = host.as_str().unwrap_or_default();
        if host.contains(':') && !host.starts_with('[') {
            out.push(format!("[{host}]:{number}"));
        } else {
            out.push(format!("{host}:{number}"));
        }
    }
    Ok(out)
}

/// Comma-separated keys of a map value (`(none)` when empty or not a map).
fn keys_of(value: &Value) -> String {
    let keys: Vec<String> = match value.try_iter() {
        Ok(iter) if value.kind() == minijinja::value::ValueKind::Map => iter.map(|k| k.to_string()).collect(),
        _ => Vec::new(),
    };
    if keys.is_empty() { "(none)".to_owned() } else { keys.join(", ") }
}

/// Makes every `${#` outside `{% raw %}` blocks literal (bash's `${#VAR}`), see the module
/// docs. Scans the way minijinja's lexer does, closely enough: skips `{{ }}`, `{% %}`,
/// comments and raw blocks. Returns the template unchanged (borrowed) when there is none.
fn escape_shell_length(src: &str) -> Cow<'_, str> {
    if !src.contains("${#") {
        return Cow::Borrowed(src);
    }
    let bytes = src.as_bytes();
    let mut hits = Vec::new();
    let mut i = 0;
    while let Some(off) = src[i..].find('{') {
        let at = i + off;
        let rest = &src[at..];
        if rest.starts_with("{{") {
            i = skip_past(src, at + 2, "}}");
        } else if rest.starts_with("{%") {
            let end = skip_past(src, at + 2, "%}");
            i = if tag_word(src.get(at + 2..end.saturating_sub(2)).unwrap_or("")) == "raw" {
                skip_raw(src, end)
            } else {
                end
            };
        } else if rest.starts_with("{#") {
            if at > 0 && bytes[at - 1] == b'$' {
                hits.push(at);
                i = at + 2;
            } else {
                i = skip_past(src, at + 2, "#}");
            }
        } else {
            i = at + 1;
        }
    }
    if hits.is_empty() {
        return Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + hits.len() * 12);
    let mut last = 0;
    for at in hits {
        out.push_str(&src[last..at]);
        out.push_str("{{ \"{#\" }}");
        last = at + 2;
    }
    out.push_str(&src[last..]);
    Cow::Owned(out)
}

/// The offset just past the next `end` at or after `from` (the end of `src` if none).
fn skip_past(src: &str, from: usize, end: &str) -> usize {
    src.get(from..).and_then(|rest| rest.find(end)).map_or(src.len(), |off| from + off + end.len())
}

/// The first word of a block tag's inside (`- raw ` → `raw`).
fn tag_word(inside: &str) -> &str {
    let inside = inside.trim_start_matches(['-', '+']).trim_start();
    let len = inside.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inside.len());
    &inside[..len]
}

/// The offset just past the `{% endraw %}` that closes a raw block whose content starts at
/// `from` (the end of `src` if none).
fn skip_raw(src: &str, from: usize) -> usize {
    let mut i = from;
    while let Some(off) = src.get(i..).and_then(|rest| rest.find("{%")) {
        let at = i + off;
        let end = skip_past(src, at + 2, "%}");
        if tag_word(src.get(at + 2..end.saturating_sub(2)).unwrap_or("")) == "endraw" {
            return end;
        }
        i = at + 2;
    }
    src.len()
}

/// Turns a minijinja error into a [`TemplateError`], explaining undefined values with the
/// names that do exist. `root` is the render context (None for syntax errors).
fn convert(name: &str, source: &str, root: Option<&Value>, err: &Error) -> TemplateError {
    let mut message = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    let mut line = err.line();
    if let Some(root) = root {
        if err.kind() == ErrorKind::UndefinedError && err.detail().is_none() {
            if let Some(explained) = err.range().and_then(|range| explain_undefined(source, range, root)) {
                message = explained;
            } else if let Some(explained) = line.and_then(|l| undefined_on_line(source, l, root)) {
                message = explained;
            }
        } else if err.detail().is_some_and(|d| d.contains("undefined")) {
            // A builtin given an undefined value (`{{ instances.brokr | length }}`).
            if let Some(explained) = line.and_then(|l| undefined_on_line(source, l, root)) {
                message = format!("{message}; {explained}");
            }
        }
    }
    if err.kind() == ErrorKind::SyntaxError
        && err.detail() == Some("unexpected end of comment")
        && let Some(open) = unclosed_comment(source)
    {
        line = Some(source[..open].matches('\n').count() + 1);
        message.push_str(
            "; `{#` opens a template comment that is never closed with `#}` \
             (for a literal `{#` write `{{ \"{#\" }}` or use {% raw %}...{% endraw %})",
        );
    }
    TemplateError { name: name.to_owned(), line, message }
}

/// The offset of the `{#` that opens a never-closed comment: the first one with no `#}`
/// after it.
fn unclosed_comment(source: &str) -> Option<usize> {
    let last_close = source.rfind("#}").map_or(0, |at| at + 2);
    source[last_close..].find("{#").map(|off| last_close + off)
}

/// Explains the first path on line `line` (1-based) that starts at a top-level value and
/// runs into an undefined one, e.g. `instances.brokr` in `{{ instances.brokr | length }}`.
fn undefined_on_line(source: &str, line: usize, root: &Value) -> Option<String> {
    let start = if line <= 1 { 0 } else { source.match_indices('\n').nth(line - 2).map(|(at, _)| at + 1)? };
    let end = source[start..].find('\n').map_or(source.len(), |off| start + off);
    let text = &source[start..end];
    let bytes = text.as_bytes();
    let mut quote = None;
    for (i, &c) in bytes.iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None => {
                let starts_word = (c.is_ascii_alphabetic() || c == b'_')
                    && (i == 0
                        || !(bytes[i - 1].is_ascii_alphanumeric()
                            || bytes[i - 1] == b'_'
                            || bytes[i - 1] == b'.'));
                if !starts_word {
                    continue;
                }
                let Some((head, steps, _)) = parse_path(&text[i..]) else { continue };
                if steps.is_empty() || !TOP_LEVEL.contains(&head) {
                    continue;
                }
                if let Some(explained) = explain_undefined(source, start + i..start + i + head.len(), root)
                    && explained.contains('(')
                {
                    return Some(explained);
                }
            }
        }
    }
    None
}

/// One step of a variable path: `.name`, `["name"]` or `[3]`.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// "undefined value `ports.htpp` (available in `ports`: admin, http)" and the like.
fn explain_undefined(source: &str, range: std::ops::Range<usize>, root: &Value) -> Option<String> {
    let mut start = range.start.min(source.len());
    // Spans of attribute lookups can start at the `.`: walk back over the base path.
    let bytes = source.as_bytes();
    if !source.is_char_boundary(start) {
        return None;
    }
    while start > 0 {
        let c = bytes[start - 1];
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            start -= 1;
        } else if c == b']' {
            start = source[..start].rfind('[')?;
        } else {
            break;
        }
    }
    // The path may go on past the span (which can cover just its head).
    let text = source.get(start..)?;
    let (head, steps, path) = parse_path(text)?;
    // The span of a filter, test or call names the filter, not a variable.
    let before = source[..start].trim_end();
    if before.ends_with('|') || before.ends_with(" is") || text[path.len()..].trim_start().starts_with('(') {
        return None;
    }
    let top = TOP_LEVEL.join(", ");
    let Ok(mut value) = root.get_attr(head) else {
        return None;
    };
    if value.is_undefined() {
        if steps.is_empty() || !is_local(source, head) {
            return Some(format!("undefined value `{path}` (available: {top})"));
        }
        // A loop or `set` variable: its fields are not known here.
        return Some(format!("undefined value `{path}`"));
    }
    let mut walked = head.len();
    for step in &steps {
        let next = match step {
            Step::Key(key) => value.get_attr(key).ok()?,
            Step::Index(idx) => value.get_item_by_index(*idx).ok()?,
        };
        if next.is_undefined() {
            let base = &path[..walked];
            let path = &path[..walked + step_len(&path[walked..])];
            return Some(match (step, value.kind()) {
                (Step::Key(_), minijinja::value::ValueKind::Map) => {
                    format!("undefined value `{path}` (available in `{base}`: {})", keys_of(&value))
                }
                (Step::Index(_), minijinja::value::ValueKind::Seq) => {
                    let n = value.len().unwrap_or(0);
                    format!("undefined value `{path}` (`{base}` has {n} items)")
                }
                _ => format!("undefined value `{path}` (`{base}` is a {})", value.kind()),
            });
        }
        walked += step_len(&path[walked..]);
        value = next;
    }
    Some(format!("undefined value `{path}`"))
}

/// Parses `head(.name|[..])*` at the start of `text`; returns the head, the steps and the
/// parsed text.
fn parse_path(text: &str) -> Option<(&str, Vec<Step<'_>>, &str)> {
    let ident_len = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    let head_len = ident_len(text);
    if head_len == 0 || text.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let head = &text[..head_len];
    let mut steps = Vec::new();
    let mut i = head_len;
    loop {
        let rest = &text[i..];
        if let Some(after) = rest.strip_prefix('.') {
            let n = ident_len(after);
            if n == 0 {
                break;
            }
            steps.push(Step::Key(&after[..n]));
            i += 1 + n;
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = after.find(']') else { break };
            let inner = after[..close].trim();
            let quoted = inner.len() >= 2
                && ((inner.starts_with('"') && inner.ends_with('"'))
                    || (inner.starts_with('\'') && inner.ends_with('\'')));
            if quoted {
                steps.push(Step::Key(&inner[1..inner.len() - 1]));
            } else if let Ok(idx) = inner.parse::<usize>() {
                steps.push(Step::Index(idx));
            } else {
                break;
            }
            i += 1 + close + 1;
        } else {
            break;
        }
    }
    Some((head, steps, &text[..i]))
}

/// Length of the first step of a path text (`.name...` or `[..]...`).
fn step_len(rest: &str) -> usize {
    if let Some(after) = rest.strip_prefix('.') {
        1 + after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len())
    } else {
        rest.find(']').map_or(rest.len(), |close| close + 1)
    }
}

/// Whether the template binds `name` itself (`{% for name in`, `{% for a, name in`,
/// `{% set name =`, macro-free), so it is not a missing top-level value.
fn is_local(source: &str, name: &str) -> bool {
    let words: Vec<&str> =
        source.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
    words.windows(2).any(|w| (w[0] == "for" || w[0] == "set") && w[1] == name)
        || words.windows(3).any(|w| w[0] == "for" && w[2] == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(list: &[(&str, u16)]) -> BTreeMap<String, u16> {
        list.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    fn inst(pod: &str, index: u32, host: Option<&str>, p: &[(&str, u16)]) -> InstanceAddress {
        InstanceAddress {
            index,
            name: format!("{pod}-{index}"),
            host: host.unwrap_or_default().to_owned(),
            ports: if host.is_some() { ports(p) } else { BTreeMap::new() },
            placed: host.is_some(),
            decommissioning: false,
        }
    }

    fn ctx() -> TemplateContext {
        let mut instances = BTreeMap::new();
        instances.insert(
            "controller".to_owned(),
            (0..3)
                .map(|i| inst("controller", i, Some(&format!("127.0.1.{}", i + 1)), &[("controller", 9093)]))
                .collect(),
        );
        instances.insert(
            "broker".to_owned(),
            vec![
                inst("broker", 0, Some("127.0.1.1"), &[("broker", 9092), ("http", 8080)]),
                inst("broker", 1, None, &[]),
                inst("broker", 2, Some("127.0.1.3"), &[("broker", 9092), ("http", 8080)]),
            ],
        );
        TemplateContext {
            service: "kafka".into(),
            role: "kafka-role".into(),
            pod: "broker".into(),
            index: 2,
            instance: "broker-2".into(),
            task: "server".into(),
            host: "127.0.1.3".into(),
            hostname: "agent3.local".into(),
            ports: ports(&[("broker", 9092), ("http", 8080)]),
            env: [("JAVA_HOME".to_owned(), "/opt/jdk".to_owned())].into(),
            params: [("HEAP".to_owned(), "2g".to_owned())].into(),
            instances,
            attributes: [("rack".to_owned(), "r2".to_owned())].into(),
            replaced_host: None,
            replaced_ports: BTreeMap::new(),
        }
    }

    fn render(template: &str) -> Result<String, TemplateError> {
        Renderer::new().render("t", template, &ctx())
    }

    #[test]
    fn template_each_value_renders() {
        let out = render(
            "{{ service }} {{ role }} {{ pod }} {{ index }} {{ index + 1 }} {{ instance }} {{ task }} \
             {{ host }} {{ hostname }} {{ ports.broker }} {{ ports['http'] }} {{ env.JAVA_HOME }} \
             {{ params.HEAP }} {{ instances.broker | length }} {{ instance_count.controller }} \
             {{ instances.broker[2].name }}",
        );
        assert_eq!(
            out.unwrap(),
            "kafka kafka-role broker 2 3 broker-2 server 127.0.1.3 agent3.local 9092 8080 /opt/jdk 2g 3 3 broker-2"
        );
    }

    #[test]
    fn template_top_level_names_match_context() {
        let c = ctx();
        let full = Full { ctx: &c, instance_count: BTreeMap::new() };
        let root = Value::from_serialize(&full);
        let mut keys: Vec<String> = root.try_iter().unwrap().map(|k| k.to_string()).collect();
        let mut expected: Vec<String> = TOP_LEVEL.iter().map(|s| (*s).to_owned()).collect();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn template_strict_undefined_top_level() {
        let err = render("a\nb\nlisteners=PLAINTEXT://{{ host }}:{{ portz.http }}\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert_eq!(
            err.to_string(),
            "t line 3: undefined value `portz.http` (available: service, role, pod, index, instance, task, \
             host, hostname, ports, env, params, instances, instance_count, attributes, replaced_host, replaced_ports)"
        );
        let err = render("{{ hots }}").unwrap_err();
        assert!(err.message.starts_with("undefined value `hots` (available: service,"), "{err}");
        let err = render("{% if hots %}x{% endif %}").unwrap_err();
        assert!(err.message.starts_with("undefined value `hots` (available:"), "{err}");
        let err = render("{% for b in instancez.broker %}{% endfor %}").unwrap_err();
        assert!(err.message.starts_with("undefined value `instancez.broker` (available:"), "{err}");
    }

    #[test]
    fn template_strict_undefined_nested() {
        let err = render("x\n{{ ports.htpp }}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t line 2: undefined value `ports.htpp` (available in `ports`: broker, http)"
        );
        let err = render("{{ ports['htpp'] }}").unwrap_err();
        assert_eq!(err.message, "undefined value `ports['htpp']` (available in `ports`: broker, http)");
        let err = render("{{ params.XMX }}").unwrap_err();
        assert_eq!(err.message, "undefined value `params.XMX` (available in `params`: HEAP)");
        // Builtins given an undefined value: their message, then which value it was.
        let err = render("{{ instances.brokr | length }}").unwrap_err();
        assert_eq!(
            err.message,
            "invalid operation: cannot calculate length of value of type undefined; \
             undefined value `instances.brokr` (available in `instances`: broker, controller)"
        );
        let err = render("a\n{{ 'x' ~ host }} {{ ports.htpp + 1 }}").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message.ends_with("; undefined value `ports.htpp` (available in `ports`: broker, http)"),
            "{err}"
        );
        let err = render(r#"{{ instances.brokr | map(attribute="host") | join(",") }}"#).unwrap_err();
        assert!(
            err.message.ends_with(
                "undefined value `instances.brokr` (available in `instances`: broker, controller)"
            ),
            "{err}"
        );
        let err = render("{{ instance_count.node }}").unwrap_err();
        assert_eq!(
            err.message,
            "undefined value `instance_count.node` (available in `instance_count`: broker, controller)"
        );
        let err = render("{{ instances.broker[7].host }}").unwrap_err();
        assert_eq!(err.message, "undefined value `instances.broker[7]` (`instances.broker` has 3 items)");
        let err = render("{{ instances.broker[0].ports.admin }}").unwrap_err();
        assert_eq!(
            err.message,
            "undefined value `instances.broker[0].ports.admin` (available in `instances.broker[0].ports`: broker, http)"
        );
        // Loop variables: no misleading top-level list.
        let err = render("{% for b in instances.broker %}{{ b.ports.admin }}{% endfor %}").unwrap_err();
        assert_eq!(err.message, "undefined value `b.ports.admin`");
        // An unplaced instance has no ports.
        let err = render("{% for b in instances.broker %}{{ b.ports.broker }} {% endfor %}").unwrap_err();
        assert_eq!(err.message, "undefined value `b.ports.broker`");
    }

    #[test]
    fn template_optional_values() {
        assert_eq!(render("{{ params.XMX | default('1g') }}").unwrap(), "1g");
        assert_eq!(render("{% if params.XMX is defined %}y{% else %}n{% endif %}").unwrap(), "n");
        assert_eq!(render("{% if env.JAVA_HOME is defined %}y{% endif %}").unwrap(), "y");
    }

    #[test]
    fn template_addresses_filter() {
        assert_eq!(
            render(r#"{{ instances.broker | addresses("broker") | join(",") }}"#).unwrap(),
            "127.0.1.1:9092,127.0.1.3:9092"
        );
        assert_eq!(
            render(r#"{{ instances.controller | addresses("controller") | join(",") }}"#).unwrap(),
            "127.0.1.1:9093,127.0.1.2:9093,127.0.1.3:9093"
        );
        let err = render(r#"{{ instances.broker | addresses("admin") | join(",") }}"#).unwrap_err();
        assert_eq!(
            err.message,
            "invalid operation: instance `broker-0` has no port `admin` (its ports: broker, http)"
        );
        let err = render(r#"{{ instances.brokers | addresses("broker") | join(",") }}"#).unwrap_err();
        assert!(err.message.contains("(pod types: broker, controller)"), "{err}");
        let mut c = ctx();
        c.instances.insert("v6".into(), vec![inst("v6", 0, Some("::1"), &[("p", 1)])]);
        let out = Renderer::new().render("t", r#"{{ instances.v6 | addresses("p") | first }}"#, &c);
        assert_eq!(out.unwrap(), "[::1]:1");
    }

    #[test]
    fn template_seed_lists() {
        // map(attribute=...) over every instance, placed or not.
        assert_eq!(
            render(r#"{{ instances.controller | map(attribute="host") | join(",") }}"#).unwrap(),
            "127.0.1.1,127.0.1.2,127.0.1.3"
        );
        // Only placed ones.
        assert_eq!(
            render(r#"{{ instances.broker | selectattr("placed") | map(attribute="host") | join(",") }}"#)
                .unwrap(),
            "127.0.1.1,127.0.1.3"
        );
        assert_eq!(
            render(r#"{{ instances.broker | rejectattr("placed") | map(attribute="name") | join(",") }}"#)
                .unwrap(),
            "broker-1"
        );
    }

    #[test]
    fn template_kafka_quorum_voters() {
        let t = "controller.quorum.voters={% for c in instances.controller %}{{ c.index }}@{{ c.host }}:{{ c.ports.controller }}{% if not loop.last %},{% endif %}{% endfor %}\n";
        assert_eq!(
            render(t).unwrap(),
            "controller.quorum.voters=0@127.0.1.1:9093,1@127.0.1.2:9093,2@127.0.1.3:9093\n"
        );
    }

    #[test]
    fn template_cassandra_seeds() {
        let mut c = ctx();
        c.instances.insert(
            "node".into(),
            vec![
                inst("node", 0, None, &[]),
                inst("node", 1, Some("10.0.0.2"), &[]),
                inst("node", 2, None, &[]),
                inst("node", 3, Some("10.0.0.4"), &[]),
                inst("node", 4, Some("10.0.0.5"), &[]),
            ],
        );
        let t = r#"seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{{ (instances.node | selectattr("placed") | map(attribute="host") | list)[:2] | join(",") }}"
"#;
        let out = Renderer::new().render("cassandra.yaml", t, &c).unwrap();
        assert!(out.ends_with("      - seeds: \"10.0.0.2,10.0.0.4\"\n"), "{out}");
        // The same with a loop.
        let t = r#"{% for n in instances.node | selectattr("placed") %}{% if loop.index <= 2 %}{% if not loop.first %},{% endif %}{{ n.host }}{% endif %}{% endfor %}"#;
        assert_eq!(Renderer::new().render("t", t, &c).unwrap(), "10.0.0.2,10.0.0.4");
        let t = r#"{{ instances.node | selectattr("placed") | map(attribute="host") | tojson }}"#;
        assert_eq!(Renderer::new().render("t", t, &c).unwrap(), r#"["10.0.0.2","10.0.0.4","10.0.0.5"]"#);
    }

    #[test]
    fn template_syntax_errors_have_lines() {
        let r = Renderer::new();
        let err = r.check("pods[kafka].tasks[broker].configs[server]", "a=1\nb={{ host\nc=3\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(
            err.to_string().starts_with("pods[kafka].tasks[broker].configs[server] line 3: syntax error: "),
            "{err}"
        );
        let err = r.check("t", "a\n{% for x in y %}\nb\n").unwrap_err();
        assert!(err.message.starts_with("syntax error: unexpected end of input"), "{err}");
        let err = r.check("t", "a\nb\n{% if %}\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        let err = r.check("t", "a\n{# never closed\nb\nc\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("never closed"), "{err}");
        // render reports them the same way.
        let err = r.render("t", "x\n{{ }}", &ctx()).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(r.check("t", "{{ host }} {% if x %}{% endif %} {# c #}").is_ok());
        // Unknown filters show up when rendering.
        let err = render("\n{{ host | uper }}").unwrap_err();
        assert_eq!(err.to_string(), "t line 2: unknown filter: filter uper is unknown");
    }

    #[test]
    fn template_shell_passes_through() {
        let cmd = "export X=$PORT_HTTP; cd ${HOME}/x && exec ./bin/run --port=$PORT_HTTP --n=$((1+2)) \
                   --id={{ index }} \"$@\" $(hostname) ${VAR:-def} ${VAR##*/} $#";
        assert_eq!(
            render(cmd).unwrap(),
            "export X=$PORT_HTTP; cd ${HOME}/x && exec ./bin/run --port=$PORT_HTTP --n=$((1+2)) \
             --id=2 \"$@\" $(hostname) ${VAR:-def} ${VAR##*/} $#"
        );
    }

    #[test]
    fn template_bash_length_is_literal() {
        let cmd = "arr=(a b); echo ${#arr[@]} ${#HOME}\n{# a real comment #}echo {{ host }} ${#x} #}\n";
        assert_eq!(render(cmd).unwrap(), "arr=(a b); echo ${#arr[@]} ${#HOME}\necho 127.0.1.3 ${#x} #}\n");
        assert_eq!(render("${#a}").unwrap(), "${#a}");
        // Inside raw blocks everything is literal already.
        assert_eq!(render("{% raw %}${#a} {{ x }}{% endraw %} ${#b}").unwrap(), "${#a} {{ x }} ${#b}");
        assert_eq!(render("{%- raw -%} ${#a} {%- endraw -%} {{ pod }}").unwrap(), "${#a}broker");
        // `${#` inside a real comment stays inside it.
        assert_eq!(render("a{# ${#x} #}b").unwrap(), "ab");
        // Other `{#` are comments; escape them explicitly.
        assert_eq!(render("{{ \"{#\" }} {{ \"{{\" }}").unwrap(), "{# {{");
        assert!(Renderer::new().check("t", "echo ${#X}").is_ok());
        // Unterminated tags after a `${#` (and multibyte text) do not trip the scanner.
        assert!(Renderer::new().check("t", "${#x} {% 日").is_err());
        assert!(Renderer::new().check("t", "${#x} {% raw %} 日").is_err());
    }

    #[test]
    fn template_whitespace_and_newlines() {
        assert_eq!(render("a\n").unwrap(), "a\n");
        assert_eq!(render("a\n\n").unwrap(), "a\n\n");
        assert_eq!(render("").unwrap(), "");
        // Jinja defaults: block lines keep their newline unless trimmed with `-`.
        assert_eq!(render("x={% if true %}1{% endif %}\ny=2\n").unwrap(), "x=1\ny=2\n");
        assert_eq!(
            render("{% for c in instances.controller -%}\n{{ c.index }}\n{% endfor %}").unwrap(),
            "0\n1\n2\n"
        );
        // No HTML escaping, even for names that look like HTML files.
        let out = Renderer::new().render("index.html", "{{ '<a&b>' }}", &ctx()).unwrap();
        assert_eq!(out, "<a&b>");
    }

    #[test]
    fn template_renders_fast_enough() {
        let mut lines = Vec::new();
        for i in 0..50 {
            lines.push(match i % 5 {
                0 => format!("key{i}={{{{ service }}}}-{{{{ instance }}}}"),
                1 => format!("listen{i}={{{{ host }}}}:{{{{ ports.broker }}}}"),
                2 => format!("seeds{i}={{{{ instances.broker | addresses(\"broker\") | join(\",\") }}}}"),
                3 => format!("heap{i}={{{{ params.HEAP | default(\"1g\") }}}}"),
                _ => format!("plain{i}=value with $VAR and ${{HOME}}"),
            });
        }
        let template = lines.join("\n") + "\n";
        let r = Renderer::new();
        let c = ctx();
        let first = r.render("t", &template, &c).unwrap();
        assert!(first.contains("key0=kafka-broker-2\n"));
        assert!(first.contains("listen1=127.0.1.3:9092\n"));
        assert!(first.contains("seeds2=127.0.1.1:9092,127.0.1.3:9092\n"));
        assert!(first.contains("heap3=2g\n"));
        assert!(first.contains("plain4=value with $VAR and ${HOME}\n"));
        for _ in 0..10_000 {
            assert_eq!(r.render("t", &template, &c).unwrap(), first);
        }
    }

    proptest::proptest! {
        #[test]
        fn template_never_panics(src in r"(\$|\{|\}|#|%|-|raw|endraw| |\n|é|日|x|ports|\.|host|\||'|\[|\])*") {
            let r = Renderer::new();
            let _ = r.check("t", &src);
            let _ = r.render("t", &src, &ctx());
            let escaped = escape_shell_length(&src);
            if !src.contains("${#") {
                proptest::prop_assert_eq!(escaped.as_ref(), src.as_str());
            }
        }
    }

    #[test]
    fn template_renderer_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Renderer>();
        assert_send_sync::<TemplateError>();
    }
}
