//! Stacks end to end on the embedded cluster: two services from a stack file, the second's
//! config using the first's endpoints, in dependency order; and the stack file's mistakes
//! (unknown framework or dependency, a cycle, an endpoint that does not exist) named clearly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_testkit::{Stack, StackError};
use std::path::Path;

const HELLO: &str = include_str!("../../../configs/hello.toml");

/// Knows `hello` only.
struct Hello;

impl herd_testkit::Frameworks for Hello {
    fn default_config(&self, framework: &str) -> Option<&'static str> {
        (framework == "hello").then_some(HELLO)
    }

    fn parse(
        &self,
        _: &str,
        text: &str,
        format: herd_core::spec::SpecFormat,
        origin: &str,
    ) -> Result<herd_core::spec::ServiceSpec, String> {
        herd_core::spec::ServiceSpec::parse(text, format, origin).map_err(|e| e.to_string())
    }
}

fn frameworks() -> std::sync::Arc<dyn herd_testkit::Frameworks> {
    std::sync::Arc::new(Hello)
}

/// hello with one instance, renamed, its server given `env` entries.
fn hello_config(name: &str, env: &str) -> String {
    HELLO
        .replacen("name = \"hello\"", &format!("name = \"{name}\""), 1)
        .replacen("count = 3", "count = 1", 1)
        .replacen("kill_grace_secs = 2", &format!("kill_grace_secs = 2\nenv = {{ {env} }}"), 1)
}

fn write_stack(dir: &Path, stack: &str) -> std::path::PathBuf {
    let path = dir.join("stack.toml");
    std::fs::write(&path, stack).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_comes_up_in_dependency_order_and_hands_out_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("front.toml"),
        hello_config("front", "UPSTREAM = \"{{ services.back.endpoints['hello-http'] | join(',') }}\""),
    )
    .unwrap();
    std::fs::write(dir.path().join("back.toml"), hello_config("back", "ROLE = \"back\"")).unwrap();
    let block = 60 + std::process::id() % 40;
    let path = write_stack(
        dir.path(),
        &format!(
            r#"
name = "demo"
[cluster]
agents = 2
cpus = 2.0
mem_mb = 2048
disk_mb = 2048
agent_ip_block = {block}

[[services]]
name = "front"
framework = "hello"
config = "front.toml"
depends_on = ["back"]

[[services]]
name = "back"
framework = "hello"
config = "back.toml"
"#
        ),
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    let stack = Stack::from_file(&path, frameworks())
        .unwrap()
        .work_dir(&dir.path().join("work"))
        .on_progress(std::sync::Arc::new(move |service, plan| {
            record.lock().unwrap().push((service.to_owned(), format!("{:?}", plan.status)));
        }))
        .up()
        .await
        .unwrap();
    assert_eq!(stack.services().collect::<Vec<_>>(), ["back", "front"], "dependencies first");
    let back = stack.endpoints("back").unwrap().joined("hello-http");
    assert!(back.starts_with(&format!("127.0.{block}.")), "{back}");
    // The front's config was rendered with the back's endpoint.
    let api = stack.api("front").unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let http = reqwest::Client::builder().tls_backend_preconfigured(tls).build().unwrap();
    let config: serde_json::Value = serde_json::from_str(
        &http.get(format!("http://{api}/v1/config")).send().await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    let server = config["spec"]["pods"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "server")
        .unwrap();
    assert_eq!(server["env"]["UPSTREAM"], back.as_str(), "{server}");
    // The back's server answers on its endpoint.
    let starts = http.get(format!("http://{back}/starts")).send().await.unwrap().text().await.unwrap();
    assert!(starts.contains("started hello-0"), "{starts}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first().map(|(s, _)| s.as_str()), Some("back"));
    assert!(seen.iter().any(|(s, status)| s == "front" && status == "Complete"), "{seen:?}");
    stack.shutdown().await;
}

#[tokio::test]
async fn stack_file_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[services]]\nname = \"a\"\nframework = \"nope\"\n", "unknown framework \"nope\""),
        (
            "[[services]]\nname = \"a\"\nframework = \"hello\"\ndepends_on = [\"b\"]\n",
            "depends on \"b\", which is not in the stack",
        ),
        (
            "[[services]]\nname = \"a\"\nframework = \"hello\"\ndepends_on = [\"b\"]\n[[services]]\nname = \"b\"\nframework = \"hello\"\ndepends_on = [\"a\"]\n",
            "circular dependencies between a, b",
        ),
        ("[[services]]\nname = \"a\"\nframework = \"hello\"\nconfg = \"x\"\n", "unknown field `confg`"),
    ];
    for (services, expected) in cases {
        let path = write_stack(dir.path(), &format!("name = \"bad\"\n{services}"));
        let err = Stack::from_file(&path, frameworks()).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(expected), "{expected:?} not in: {err}");
    }
    // An endpoint reference to a service that is not up (not a dependency): named.
    std::fs::write(
        dir.path().join("a.toml"),
        hello_config("a", "X = \"{{ services.ghost.endpoints['x'] }}\""),
    )
    .unwrap();
    let path = write_stack(
        dir.path(),
        "name = \"bad\"\n[[services]]\nname = \"a\"\nframework = \"hello\"\nconfig = \"a.toml\"\n",
    );
    let err = Stack::from_file(&path, frameworks())
        .unwrap()
        .master("http://127.0.0.1:9")
        .work_dir(&dir.path().join("w"))
        .up()
        .await
        .unwrap_err();
    assert!(matches!(err, StackError::Template { ref service, .. } if service == "a"), "{err}");
    assert!(err.to_string().contains("services.<name>.endpoints"), "{err}");
}
