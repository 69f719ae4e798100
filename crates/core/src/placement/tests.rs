use super::*;
use herd_mesos_api::{Attribute, Range, Ranges, Scalar, Set, Text, ValueType};
use proptest::prelude::*;
use std::collections::HashMap;

fn attr(name: &str, kind: ValueType) -> Attribute {
    Attribute { name: name.to_owned(), kind, scalar: None, ranges: None, set: None, text: None }
}

fn text(name: &str, value: &str) -> Attribute {
    Attribute { text: Some(Text { value: value.to_owned() }), ..attr(name, ValueType::Text) }
}

fn scalar(name: &str, value: f64) -> Attribute {
    Attribute { scalar: Some(Scalar { value }), ..attr(name, ValueType::Scalar) }
}

fn ranges(name: &str, value: &[(u64, u64)]) -> Attribute {
    Attribute {
        ranges: Some(Ranges { range: value.iter().map(|&(begin, end)| Range { begin, end }).collect() }),
        ..attr(name, ValueType::Ranges)
    }
}

fn set(name: &str, items: &[&str]) -> Attribute {
    Attribute {
        set: Some(Set { item: items.iter().map(|s| s.to_string()).collect() }),
        ..attr(name, ValueType::Set)
    }
}

fn c(s: &str) -> Constraint {
    Constraint::parse(s).unwrap()
}

/// Agents `(hostname, rack)` with a TEXT `rack` attribute (none if `rack` is empty).
struct Cluster {
    agents: Vec<(String, Vec<Attribute>)>,
}

impl Cluster {
    fn new(agents: &[(&str, &str)]) -> Self {
        Cluster {
            agents: agents
                .iter()
                .map(|&(host, rack)| {
                    let attrs = if rack.is_empty() { vec![] } else { vec![text("rack", rack)] };
                    (host.to_owned(), attrs)
                })
                .collect(),
        }
    }

    fn view(&self, host: &str) -> AgentView<'_> {
        let (h, a) = self.agents.iter().find(|(h, _)| h == host).unwrap();
        AgentView::new(h, a)
    }

    fn views(&self, hosts: &[&str]) -> Vec<AgentView<'_>> {
        hosts.iter().map(|h| self.view(h)).collect()
    }

    /// `check` of one constraint string, as Ok(()) or the reason.
    fn check(&self, constraint: &str, candidate: &str, placed: &[&str]) -> Result<(), String> {
        check(&[c(constraint)], &self.view(candidate), &self.views(placed)).map_err(|r| r.reason)
    }
}

// ---------------------------------------------------------------- parsing

#[test]
fn parses_every_operator_and_round_trips() {
    let cases: Vec<(&str, Constraint, &str)> = vec![
        ("hostname:UNIQUE", Constraint::Unique { field: "hostname".into() }, "hostname:UNIQUE"),
        (
            "rack:CLUSTER:rack-1",
            Constraint::Cluster { field: "rack".into(), value: Some("rack-1".into()) },
            "rack:CLUSTER:rack-1",
        ),
        ("rack:CLUSTER", Constraint::Cluster { field: "rack".into(), value: None }, "rack:CLUSTER"),
        ("rack:CLUSTER:", Constraint::Cluster { field: "rack".into(), value: None }, "rack:CLUSTER"),
        ("zone:GROUP_BY", Constraint::GroupBy { field: "zone".into(), groups: None }, "zone:GROUP_BY"),
        ("zone:GROUP_BY:3", Constraint::GroupBy { field: "zone".into(), groups: Some(3) }, "zone:GROUP_BY:3"),
        (
            "hostname:LIKE:10\\.0\\.0\\.[0-9]+",
            Constraint::Like {
                field: "hostname".into(),
                regex: Pattern::new("10\\.0\\.0\\.[0-9]+").unwrap(),
            },
            "hostname:LIKE:10\\.0\\.0\\.[0-9]+",
        ),
        (
            "rack:UNLIKE:a:b|c",
            Constraint::Unlike { field: "rack".into(), regex: Pattern::new("a:b|c").unwrap() },
            "rack:UNLIKE:a:b|c",
        ),
        ("rack:MAX_PER:2", Constraint::MaxPer { field: "rack".into(), max: 2 }, "rack:MAX_PER:2"),
        // Operator case is ignored; field and operator are trimmed.
        (" hostname : unique ", Constraint::Unique { field: "hostname".into() }, "hostname:UNIQUE"),
        (
            "rack:group_by: 2",
            Constraint::GroupBy { field: "rack".into(), groups: Some(2) },
            "rack:GROUP_BY:2",
        ),
    ];
    for (input, expected, canonical) in cases {
        let parsed: Constraint = input.parse().unwrap();
        assert_eq!(parsed, expected, "{input}");
        assert_eq!(parsed.to_string(), canonical, "{input}");
        assert_eq!(Constraint::parse(canonical).unwrap(), expected, "{canonical}");
    }
}

#[test]
fn field_and_operator_accessors() {
    let max_per = c("rack:MAX_PER:2");
    assert_eq!(max_per.field(), "rack");
    assert_eq!(max_per.operator(), Operator::MaxPer);
    assert!(max_per.depends_on_placed());
    assert!(!c("rack:LIKE:a").depends_on_placed());
    assert!(!c("rack:CLUSTER:a").depends_on_placed());
    assert!(c("rack:CLUSTER").depends_on_placed());
}

#[test]
fn parse_errors_name_the_constraint_and_the_fix() {
    let err = |s: &str| Constraint::parse(s).unwrap_err();
    let msg = |s: &str| err(s).to_string();

    for s in ["hostname", "", ":UNIQUE", "hostname:", "  :  "] {
        assert!(matches!(err(s), ConstraintError::Malformed { .. }), "{s:?}: {:?}", err(s));
    }
    assert_eq!(
        msg("hostname"),
        "\"hostname\": a placement constraint is FIELD:OPERATOR[:VALUE], e.g. hostname:UNIQUE or rack:LIKE:rack-[12]"
    );

    assert!(matches!(
        err("hostname:UNIQ"),
        ConstraintError::UnknownOperator { ref operator, .. } if operator == "UNIQ"
    ));
    assert_eq!(
        msg("hostname:UNIQ"),
        "\"hostname:UNIQ\": unknown operator \"UNIQ\"; valid operators are UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE and MAX_PER"
    );

    assert!(matches!(err("hostname:UNIQUE:x"), ConstraintError::UnexpectedValue { .. }));
    assert_eq!(
        msg("hostname:UNIQUE:x"),
        "\"hostname:UNIQUE:x\": UNIQUE takes no value; write hostname:UNIQUE"
    );

    for s in ["rack:LIKE", "rack:UNLIKE:", "rack:MAX_PER"] {
        assert!(matches!(err(s), ConstraintError::MissingValue { .. }), "{s}");
    }
    assert_eq!(msg("rack:LIKE"), "\"rack:LIKE\": LIKE needs a regular expression; write rack:LIKE:REGEX");
    assert_eq!(
        msg("rack:MAX_PER"),
        "\"rack:MAX_PER\": MAX_PER needs the most instances per value; write rack:MAX_PER:N"
    );

    for s in [
        "rack:GROUP_BY:x",
        "rack:GROUP_BY:0",
        "rack:GROUP_BY:-1",
        "rack:MAX_PER:0",
        "rack:MAX_PER:1.5",
        "rack:MAX_PER:99999999999",
    ] {
        assert!(matches!(err(s), ConstraintError::InvalidNumber { .. }), "{s}");
    }
    assert_eq!(
        msg("rack:GROUP_BY:x"),
        "\"rack:GROUP_BY:x\": GROUP_BY takes a number of groups, a positive integer (e.g. rack:GROUP_BY:3), not \"x\""
    );
    assert_eq!(
        msg("rack:MAX_PER:0"),
        "\"rack:MAX_PER:0\": MAX_PER takes the most instances per value, a positive integer (e.g. rack:MAX_PER:2), not \"0\""
    );

    for s in ["rack:LIKE:[", "rack:UNLIKE:a)|(b"] {
        assert!(matches!(err(s), ConstraintError::InvalidRegex { .. }), "{s}");
    }
    assert!(
        msg("rack:LIKE:[").starts_with("\"rack:LIKE:[\": LIKE takes a regular expression: "),
        "{}",
        msg("rack:LIKE:[")
    );
}

#[test]
fn parse_all_stops_at_the_first_error() {
    let ok = parse_all(&["hostname:UNIQUE".into(), "rack:GROUP_BY:2".into()]).unwrap();
    assert_eq!(ok, vec![c("hostname:UNIQUE"), c("rack:GROUP_BY:2")]);
    assert_eq!(parse_all(&[]).unwrap(), vec![]);
    let err = parse_all(&["hostname:UNIQUE".into(), "rack:NEAR".into()]).unwrap_err();
    assert!(matches!(err, ConstraintError::UnknownOperator { constraint, .. } if constraint == "rack:NEAR"));
}

// ---------------------------------------------------------------- semantics

fn hosts() -> Cluster {
    Cluster::new(&[
        ("127.0.1.1", "r1"),
        ("127.0.1.2", "r1"),
        ("127.0.1.3", "r2"),
        ("127.0.1.4", "r2"),
        ("127.0.1.5", "r3"),
        ("127.0.1.6", ""),
    ])
}

#[test]
fn rejection_display() {
    let hosts = hosts();
    let rejection =
        check(&[c("hostname:UNIQUE")], &hosts.view("127.0.1.2"), &hosts.views(&["127.0.1.1", "127.0.1.2"]))
            .unwrap_err();
    assert_eq!(rejection.to_string(), "hostname:UNIQUE: an instance already runs on 127.0.1.2");
    assert_eq!(rejection.constraint, "hostname:UNIQUE");
}

#[test]
fn unique() {
    let h = hosts();
    assert_eq!(h.check("hostname:UNIQUE", "127.0.1.1", &[]), Ok(()));
    assert_eq!(h.check("hostname:UNIQUE", "127.0.1.2", &["127.0.1.1"]), Ok(()));
    assert!(h.check("hostname:UNIQUE", "127.0.1.1", &["127.0.1.1"]).is_err());
    assert_eq!(h.check("rack:UNIQUE", "127.0.1.3", &["127.0.1.1"]), Ok(()));
    assert_eq!(
        h.check("rack:UNIQUE", "127.0.1.2", &["127.0.1.1"]),
        Err("an instance already runs on an agent with rack r1".into())
    );
    // Placed instances without the attribute are not counted; a candidate without it fails.
    assert_eq!(h.check("rack:UNIQUE", "127.0.1.1", &["127.0.1.6"]), Ok(()));
    assert_eq!(
        h.check("rack:UNIQUE", "127.0.1.6", &[]),
        Err("agent 127.0.1.6 has no attribute \"rack\"".into())
    );
}

#[test]
fn cluster_with_a_value() {
    let h = hosts();
    assert_eq!(h.check("rack:CLUSTER:r2", "127.0.1.3", &[]), Ok(()));
    assert_eq!(h.check("rack:CLUSTER:r2", "127.0.1.1", &[]), Err("rack is r1, not r2".into()));
    assert!(h.check("rack:CLUSTER:r2", "127.0.1.6", &[]).is_err());
    assert_eq!(h.check("hostname:CLUSTER:127.0.1.5", "127.0.1.5", &["127.0.1.5"]), Ok(()));
    assert!(h.check("hostname:CLUSTER:127.0.1.5", "127.0.1.4", &[]).is_err());
    // Only the candidate matters: instances placed elsewhere before do not block.
    assert_eq!(h.check("rack:CLUSTER:r2", "127.0.1.4", &["127.0.1.1"]), Ok(()));
}

#[test]
fn cluster_without_a_value_follows_the_placed_instances() {
    let h = hosts();
    // Anything goes first.
    assert_eq!(h.check("rack:CLUSTER", "127.0.1.5", &[]), Ok(()));
    assert_eq!(h.check("hostname:CLUSTER", "127.0.1.5", &[]), Ok(()));
    // Then the value the placed instances share.
    assert_eq!(h.check("rack:CLUSTER", "127.0.1.2", &["127.0.1.1"]), Ok(()));
    assert_eq!(
        h.check("rack:CLUSTER", "127.0.1.3", &["127.0.1.1", "127.0.1.2"]),
        Err("2 of the 2 placed instances run where rack is not r2; CLUSTER keeps them all on one value"
            .into())
    );
    assert_eq!(h.check("hostname:CLUSTER", "127.0.1.1", &["127.0.1.1"]), Ok(()));
    assert_eq!(
        h.check("hostname:CLUSTER", "127.0.1.2", &["127.0.1.1"]),
        Err("1 of the 1 placed instances run on other hosts than 127.0.1.2; CLUSTER keeps them all on one value".into())
    );
    // Placed instances already split (the constraint was added later): nothing fits.
    assert!(h.check("rack:CLUSTER", "127.0.1.1", &["127.0.1.1", "127.0.1.3"]).is_err());
    assert!(h.check("rack:CLUSTER", "127.0.1.3", &["127.0.1.1", "127.0.1.3"]).is_err());
    // A placed instance without the attribute is not on the candidate's value either.
    assert!(h.check("rack:CLUSTER", "127.0.1.1", &["127.0.1.6"]).is_err());
    assert!(h.check("rack:CLUSTER", "127.0.1.6", &[]).is_err());
}

#[test]
fn group_by_without_a_number_of_groups() {
    let h = hosts();
    let g = "rack:GROUP_BY";
    assert_eq!(h.check(g, "127.0.1.1", &[]), Ok(()));
    // r1 has 1, nothing else known: r1 is the least-used known value.
    assert_eq!(h.check(g, "127.0.1.2", &["127.0.1.1"]), Ok(()));
    // An unused value is always fine.
    assert_eq!(h.check(g, "127.0.1.3", &["127.0.1.1", "127.0.1.2"]), Ok(()));
    // r1 has 2, r2 has 1: r1 must wait, r2 and r3 may go.
    let placed = ["127.0.1.1", "127.0.1.2", "127.0.1.3"];
    assert_eq!(
        h.check(g, "127.0.1.1", &placed),
        Err("2 instances already run on an agent with rack r1, and another rack value has only 1".into())
    );
    assert_eq!(h.check(g, "127.0.1.4", &placed), Ok(()));
    assert_eq!(h.check(g, "127.0.1.5", &placed), Ok(()));
    // r1 2, r2 2, r3 1: only r3.
    let placed = ["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4", "127.0.1.5"];
    assert!(h.check(g, "127.0.1.1", &placed).is_err());
    assert!(h.check(g, "127.0.1.3", &placed).is_err());
    assert_eq!(h.check(g, "127.0.1.5", &placed), Ok(()));
    // Agents without the attribute are neither counted nor allowed.
    assert_eq!(h.check(g, "127.0.1.2", &["127.0.1.1", "127.0.1.6"]), Ok(()));
    assert!(h.check(g, "127.0.1.6", &[]).is_err());
    // On hostnames.
    assert_eq!(h.check("hostname:GROUP_BY", "127.0.1.1", &["127.0.1.1"]), Ok(()));
    assert!(h.check("hostname:GROUP_BY", "127.0.1.1", &["127.0.1.1", "127.0.1.1", "127.0.1.2"]).is_err());
}

#[test]
fn group_by_with_a_number_of_groups() {
    let h = hosts();
    let g = "rack:GROUP_BY:3";
    // Fewer than 3 racks in use: only unused racks.
    assert_eq!(h.check(g, "127.0.1.1", &[]), Ok(()));
    assert_eq!(
        h.check(g, "127.0.1.2", &["127.0.1.1"]),
        Err("1 instance(s) already run on an agent with rack r1, and only 1 of 3 rack values are in use"
            .into())
    );
    assert_eq!(h.check(g, "127.0.1.3", &["127.0.1.1"]), Ok(()));
    assert!(h.check(g, "127.0.1.4", &["127.0.1.1", "127.0.1.3"]).is_err());
    assert_eq!(h.check(g, "127.0.1.5", &["127.0.1.1", "127.0.1.3"]), Ok(()));
    // All 3 in use, 1 each: any.
    let placed = ["127.0.1.1", "127.0.1.3", "127.0.1.5"];
    for cand in ["127.0.1.2", "127.0.1.4", "127.0.1.5"] {
        assert_eq!(h.check(g, cand, &placed), Ok(()), "{cand}");
    }
    // Then back to the least-used rule.
    let placed = ["127.0.1.1", "127.0.1.3", "127.0.1.5", "127.0.1.2"];
    assert!(h.check(g, "127.0.1.1", &placed).is_err());
    assert_eq!(h.check(g, "127.0.1.4", &placed), Ok(()));
    // GROUP_BY:2 with 3 racks behaves like GROUP_BY once 2 are in use.
    assert_eq!(h.check("rack:GROUP_BY:2", "127.0.1.2", &["127.0.1.1", "127.0.1.3"]), Ok(()));
    // GROUP_BY:1 is plain GROUP_BY.
    assert_eq!(h.check("rack:GROUP_BY:1", "127.0.1.2", &["127.0.1.1"]), Ok(()));
}

#[test]
fn like_and_unlike_match_whole_values() {
    let h = hosts();
    assert_eq!(h.check("rack:LIKE:r[12]", "127.0.1.1", &[]), Ok(()));
    assert_eq!(h.check("rack:LIKE:r[12]", "127.0.1.5", &[]), Err("rack is r3 does not match r[12]".into()));
    // Anchored: `r` alone does not match "r1".
    assert!(h.check("rack:LIKE:r", "127.0.1.1", &[]).is_err());
    assert!(h.check("hostname:LIKE:127", "127.0.1.1", &[]).is_err());
    assert_eq!(h.check("hostname:LIKE:127\\.0\\.1\\.[1-3]", "127.0.1.3", &[]), Ok(()));
    // Alternation is anchored as a whole.
    assert!(h.check("rack:LIKE:x|r", "127.0.1.1", &[]).is_err());
    assert_eq!(h.check("rack:LIKE:x|r1", "127.0.1.1", &[]), Ok(()));
    // Missing attribute: LIKE fails, UNLIKE passes.
    assert!(h.check("rack:LIKE:.*", "127.0.1.6", &[]).is_err());
    assert_eq!(h.check("rack:UNLIKE:.*", "127.0.1.6", &[]), Ok(()));
    assert_eq!(h.check("rack:UNLIKE:r[12]", "127.0.1.5", &[]), Ok(()));
    assert_eq!(h.check("rack:UNLIKE:r[12]", "127.0.1.2", &[]), Err("rack is r1 matches r[12]".into()));
    assert_eq!(h.check("rack:UNLIKE:r", "127.0.1.2", &[]), Ok(()));
}

#[test]
fn max_per() {
    let h = hosts();
    assert_eq!(h.check("rack:MAX_PER:2", "127.0.1.1", &["127.0.1.2"]), Ok(()));
    assert_eq!(
        h.check("rack:MAX_PER:2", "127.0.1.1", &["127.0.1.2", "127.0.1.1"]),
        Err("2 instances already run on an agent with rack r1 (at most 2)".into())
    );
    assert_eq!(h.check("rack:MAX_PER:2", "127.0.1.3", &["127.0.1.2", "127.0.1.1"]), Ok(()));
    assert_eq!(h.check("hostname:MAX_PER:1", "127.0.1.3", &["127.0.1.2"]), Ok(()));
    assert!(h.check("hostname:MAX_PER:1", "127.0.1.2", &["127.0.1.2"]).is_err());
    assert!(h.check("rack:MAX_PER:5", "127.0.1.6", &[]).is_err());
}

#[test]
fn the_first_broken_constraint_is_reported() {
    let h = hosts();
    let constraints =
        parse_all(&["rack:LIKE:r[12]".into(), "hostname:UNIQUE".into(), "rack:MAX_PER:1".into()]).unwrap();
    let placed = h.views(&["127.0.1.1"]);
    let first = |cand: &str| check(&constraints, &h.view(cand), &placed).map_err(|r| r.constraint);
    assert_eq!(first("127.0.1.5"), Err("rack:LIKE:r[12]".into()));
    assert_eq!(first("127.0.1.1"), Err("hostname:UNIQUE".into()));
    assert_eq!(first("127.0.1.2"), Err("rack:MAX_PER:1".into()));
    assert_eq!(first("127.0.1.3"), Ok(()));
    assert_eq!(check(&[], &h.view("127.0.1.6"), &placed), Ok(()));
}

// ---------------------------------------------------------------- attributes

#[test]
fn attribute_text_of_each_mesos_type() {
    let cases = [
        (text("rack", "rack-1"), Some("rack-1")),
        (scalar("cores", 2.0), Some("2")),
        (scalar("cores", 1.5), Some("1.5")),
        (scalar("cores", 0.1 + 0.2), Some("0.3")),
        (scalar("cores", 2.0004), Some("2")),
        (scalar("cores", -0.0001), Some("0")),
        (ranges("ports", &[(31000, 32000), (33000, 33000)]), Some("[31000-32000,33000-33000]")),
        (ranges("ports", &[]), Some("[]")),
        (set("disks", &["ssd", "hdd"]), Some("{ssd,hdd}")),
        (set("disks", &[]), Some("{}")),
        // The type names a field that is unset: no value.
        (attr("rack", ValueType::Text), None),
        (attr("cores", ValueType::Scalar), None),
    ];
    for (attribute, expected) in cases {
        assert_eq!(attribute_text(&attribute).as_deref(), expected, "{attribute:?}");
    }
}

#[test]
fn constraints_on_attributes_of_each_type() {
    let attrs = vec![
        text("rack", "rack-1"),
        scalar("cores", 2.0),
        scalar("weight", 1.5),
        ranges("ports", &[(1, 2), (5, 9)]),
        set("disks", &["ssd", "nvme"]),
        text("rack", "shadowed"),
        text("hostname", "not-the-hostname"),
    ];
    let agent = AgentView::new("h1", &attrs);
    let ok = |s: &str| check(&[c(s)], &agent, &[]);
    assert_eq!(ok("rack:CLUSTER:rack-1"), Ok(()));
    assert_eq!(ok("cores:CLUSTER:2"), Ok(()));
    assert_eq!(ok("weight:LIKE:1\\.5"), Ok(()));
    assert_eq!(ok("ports:CLUSTER:[1-2,5-9]"), Ok(()));
    assert_eq!(ok("ports:LIKE:\\[1-.*"), Ok(()));
    assert_eq!(ok("disks:CLUSTER:{ssd,nvme}"), Ok(()));
    assert_eq!(ok("disks:LIKE:.*ssd.*"), Ok(()));
    assert!(ok("rack:CLUSTER:shadowed").is_err(), "the first attribute of a name counts");
    assert_eq!(ok("hostname:CLUSTER:h1"), Ok(()), "hostname is always the agent's");

    // Counting works on rendered values too.
    let other = vec![scalar("cores", 2.0), set("disks", &["ssd", "nvme"])];
    let placed = [AgentView::new("h2", &other)];
    assert!(check(&[c("cores:UNIQUE")], &agent, &placed).is_err());
    assert!(check(&[c("disks:MAX_PER:1")], &agent, &placed).is_err());
    assert_eq!(check(&[c("ports:UNIQUE")], &agent, &placed), Ok(()));
    let index = PlacementIndex::from_placed(&placed);
    assert_eq!(index.count("cores", "2"), 1);
    assert_eq!(index.count("disks", "{ssd,nvme}"), 1);
    assert_eq!(index.count("hostname", "h2"), 1);
    assert_eq!(index.count("hostname", "h1"), 0);
}

// ---------------------------------------------------------------- the index

#[test]
fn index_add_and_remove() {
    let h = hosts();
    let constraints = [c("hostname:UNIQUE"), c("rack:MAX_PER:2")];
    let mut index = PlacementIndex::new();
    assert!(index.is_empty());
    let a1 = h.view("127.0.1.1");
    let a2 = h.view("127.0.1.2");
    let a3 = h.view("127.0.1.3");
    assert_eq!(index.allows(&constraints, &a1), Ok(()));
    index.add(&a1);
    assert_eq!(index.len(), 1);
    assert!(index.allows(&constraints, &a1).is_err());
    assert_eq!(index.allows(&constraints, &a2), Ok(()));
    index.add(&a2);
    assert!(index.allows(&constraints, &a2).is_err());
    assert_eq!(index.allows(&constraints, &a3), Ok(()));
    assert_eq!(index.count("rack", "r1"), 2);

    assert!(index.remove(&a1));
    assert_eq!(index.len(), 1);
    assert_eq!(index.count("rack", "r1"), 1);
    assert_eq!(index.allows(&constraints, &a1), Ok(()));
    // Removing what is not there changes nothing.
    assert!(!index.remove(&a1));
    assert!(!index.remove(&a3));
    assert_eq!(index.len(), 1);
    assert!(index.remove(&a2));
    assert!(index.is_empty());
    assert_eq!(index.count("rack", "r1"), 0);
    assert!(!index.remove(&a2));
}

/// The reference: every rule read straight off the module docs, scanning `placed`.
fn naive(
    constraints: &[Constraint],
    candidate: &AgentView<'_>,
    placed: &[AgentView<'_>],
) -> Result<(), String> {
    for constraint in constraints {
        let field = constraint.field();
        let value = candidate.value(field).map(|v| v.into_owned());
        let placed_values: Vec<Option<String>> =
            placed.iter().map(|p| p.value(field).map(|v| v.into_owned())).collect();
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for v in placed_values.iter().flatten() {
            *counts.entry(v.as_str()).or_default() += 1;
        }
        let count = value.as_deref().map_or(0, |v| counts.get(v).copied().unwrap_or(0));
        let ok = match constraint {
            Constraint::Like { regex, .. } => value.as_deref().is_some_and(|v| regex.is_match(v)),
            Constraint::Unlike { regex, .. } => !value.as_deref().is_some_and(|v| regex.is_match(v)),
            Constraint::Unique { .. } => value.is_some() && count == 0,
            Constraint::Cluster { value: Some(w), .. } => value.as_ref() == Some(w),
            Constraint::Cluster { value: None, .. } => {
                value.is_some() && placed_values.iter().all(|p| *p == value)
            }
            Constraint::MaxPer { max, .. } => value.is_some() && count < *max,
            Constraint::GroupBy { groups, .. } => {
                value.is_some() && {
                    let mut known: Vec<u32> = counts.values().copied().collect();
                    if count == 0 {
                        known.push(0);
                    }
                    while known.len() < groups.unwrap_or(0) as usize {
                        known.push(0);
                    }
                    known.iter().all(|k| count <= *k)
                }
            }
        };
        if !ok {
            return Err(constraint.to_string());
        }
    }
    Ok(())
}

fn arb_attributes() -> impl Strategy<Value = Vec<Attribute>> {
    let rack = prop::option::of(prop::sample::select(vec!["r0", "r1", "r2"]).prop_map(|v| text("rack", v)));
    let zone = prop::option::of(prop::sample::select(vec![1.0, 1.5, 2.0]).prop_map(|v| scalar("zone", v)));
    let ports = prop::option::of(
        prop::sample::select(vec![vec![(1, 2)], vec![(1, 2), (4, 4)]]).prop_map(|v| ranges("ports", &v)),
    );
    let tags =
        prop::option::of(prop::sample::select(vec![vec!["a"], vec!["a", "b"]]).prop_map(|v| set("tags", &v)));
    // Sometimes a second `rack`, which must be ignored.
    let shadow = prop::option::of(Just(text("rack", "r9")));
    (rack, zone, ports, tags, shadow)
        .prop_map(|(r, z, p, t, s)| [r, z, p, t, s].into_iter().flatten().collect())
}

fn arb_agent() -> impl Strategy<Value = (String, Vec<Attribute>)> {
    ((0..5u8).prop_map(|i| format!("h{i}")), arb_attributes())
}

fn arb_constraint() -> impl Strategy<Value = Constraint> {
    let field = prop::sample::select(vec!["hostname", "rack", "zone", "ports", "tags", "missing"]);
    let value = prop::sample::select(vec!["h1", "r1", "1.5", "2", "[1-2]", "{a,b}", "x"]);
    let regex = prop::sample::select(vec!["h[0-2]", "r[01]", "1\\.5|2", "\\[1-2.*", "\\{a.*", "r", ".*"]);
    (field, 0..6u8, value, regex, 1..4u32, prop::option::of(1..5u32)).prop_map(
        |(field, op, value, regex, n, groups)| {
            let field = field.to_owned();
            match op {
                0 => Constraint::Unique { field },
                1 => Constraint::Cluster { field, value: groups.map(|_| value.to_owned()) },
                2 => Constraint::GroupBy { field, groups },
                3 => Constraint::Like { field, regex: Pattern::new(regex).unwrap() },
                4 => Constraint::Unlike { field, regex: Pattern::new(regex).unwrap() },
                _ => Constraint::MaxPer { field, max: n },
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn index_agrees_with_the_naive_reference(
        constraints in prop::collection::vec(arb_constraint(), 0..4),
        candidate in arb_agent(),
        placed in prop::collection::vec(arb_agent(), 0..10),
        ghosts in prop::collection::vec(arb_agent(), 0..4),
    ) {
        let candidate = AgentView::new(&candidate.0, &candidate.1);
        let placed: Vec<AgentView<'_>> = placed.iter().map(|(h, a)| AgentView::new(h, a)).collect();
        let expected = naive(&constraints, &candidate, &placed);

        // Built at once.
        let index = PlacementIndex::from_placed(&placed);
        prop_assert_eq!(index.len(), placed.len());
        let got = index.allows(&constraints, &candidate);
        prop_assert_eq!(got.clone().map_err(|r| r.constraint), expected.clone());

        // Built incrementally, with instances that come and go.
        let mut incremental = PlacementIndex::new();
        for ghost in &ghosts {
            incremental.add(&AgentView::new(&ghost.0, &ghost.1));
        }
        for agent in &placed {
            incremental.add(agent);
        }
        for ghost in &ghosts {
            prop_assert!(incremental.remove(&AgentView::new(&ghost.0, &ghost.1)));
        }
        prop_assert_eq!(incremental.allows(&constraints, &candidate), got.clone());

        // The convenience wrapper.
        prop_assert_eq!(check(&constraints, &candidate, &placed), got);
    }
}
