//! # herd-hello
//!
//! herd's reference framework, like the DC/OS SDK's hello-world: three instances of a
//! small HTTP server, each recording its starts on a persistent volume and serving them on
//! a reserved port (ready once served), plus a ONCE task that initialises the volume.
//! It exercises the whole core — reservations, volumes, ports, templates, readiness, the
//! deploy plan, recovery in place — with nothing but `python3`.
//!
//! Where to start: `configs/hello.toml` (the documented default config) and [`default_spec`].

use herd_core::spec::{ServiceSpec, SpecError, SpecFormat};

/// The documented default config (`configs/hello.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/hello.toml");

/// The default spec.
pub fn default_spec() -> Result<ServiceSpec, SpecError> {
    ServiceSpec::parse(DEFAULT_CONFIG, SpecFormat::Toml, "configs/hello.toml")
}

#[cfg(test)]
mod tests {
    use herd_core::spec::{ServiceSpec, SpecFormat};

    #[test]
    fn the_default_config_parses_and_validates() {
        let spec = super::default_spec().unwrap();
        if let Err(errors) = herd_core::validation::validate(&spec) {
            panic!("{errors:?}");
        }
        assert_eq!(spec.pods[0].count, 3);
    }

    #[test]
    fn the_yaml_config_is_the_same_service() {
        let yaml = include_str!("../../../configs/hello.yaml");
        let from_yaml = ServiceSpec::parse(yaml, SpecFormat::Yaml, "configs/hello.yaml").unwrap();
        assert_eq!(from_yaml, super::default_spec().unwrap());
    }
}
