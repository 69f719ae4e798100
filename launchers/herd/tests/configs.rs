//! Every shipped file is checked: service configs in configs/ parse and validate, stack
//! files in examples/ parse and name known frameworks and valid configs, and the production
//! launchers (systemd, Marathon) run `herd run` with `HERD_*` variables it really reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(root().join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
    out.sort();
    out
}

fn herd(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(args)
        .env("HERD_HOME", std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn every_service_config_in_configs_is_valid() {
    let mut checked = 0;
    for file in files("configs") {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        // The pinned distributions are artifact specs, checked by herd-integration-tests.
        if name == "distributions.toml" || !(name.ends_with(".toml") || name.ends_with(".yaml")) {
            continue;
        }
        let (ok, out) = herd(&["config", "validate", file.to_str().unwrap()]);
        assert!(ok, "{name}: {out}");
        checked += 1;
    }
    assert!(checked >= 2, "configs/ holds the documented default configs");
}

#[test]
fn every_example_stack_names_known_frameworks_and_valid_configs() {
    let mut checked = 0;
    for file in files("examples").into_iter().filter(|f| f.extension().is_some_and(|x| x == "toml")) {
        let stack = herd_testkit::StackFile::load(&file).unwrap();
        for service in &stack.services {
            let (ok, out) = herd(&["config", "defaults", &service.framework]);
            assert!(ok, "{}: service {}: {out}", file.display(), service.name);
            if let Some(config) = &service.config {
                let path = file.parent().unwrap().join(config);
                let (ok, out) = herd(&["config", "validate", path.to_str().unwrap()]);
                assert!(ok, "{}: service {}: {out}", file.display(), service.name);
            }
        }
        checked += 1;
    }
    assert!(checked >= 1, "examples/ holds stack files");
}

#[test]
fn the_production_launchers_run_herd_with_variables_it_reads() {
    let (ok, help) = herd(&["run", "--help"]);
    assert!(ok, "{help}");
    let unit = std::fs::read_to_string(root().join("launchers/systemd/herd-kafka.service")).unwrap();
    assert!(unit.lines().any(|l| l.starts_with("ExecStart=") && l.contains("herd run kafka")), "{unit}");
    let env = std::fs::read_to_string(root().join("launchers/systemd/herd-kafka.env")).unwrap();
    let marathon: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("launchers/marathon/herd-kafka.json")).unwrap(),
    )
    .unwrap();
    assert!(marathon["cmd"].as_str().unwrap().contains("herd run kafka"), "{marathon}");
    let mut variables: Vec<String> = env
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| l.split('=').next().unwrap().to_owned())
        .collect();
    variables.extend(marathon["env"].as_object().unwrap().keys().cloned());
    for var in variables {
        // HERD_HOME and HERD_LOG are read by every command, not flags of `herd run`.
        if var == "HERD_HOME" || var == "HERD_LOG" {
            continue;
        }
        assert!(help.contains(&format!("[env: {var}")), "herd run does not read {var}:\n{help}");
    }
}
