//! Node configuration: defaults, then a TOML file, then `BRAID_*`
//! environment variables, then flags. Validated before anything binds.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Everything the node needs to start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// RocksDB directory.
    pub data_dir: PathBuf,
    /// When set, uploads under any other key epoch are refused even before
    /// the first upload.
    pub expected_epoch: Option<String>,
    /// Largest upload batch accepted, in records.
    pub max_batch_records: usize,
    /// Partnerships: name → the agency codes whose panels share a view.
    /// A panel sees a profile only when one of its records comes from one
    /// of its partnership's agencies.
    pub partnerships: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            data_dir: PathBuf::from("braid-data"),
            expected_epoch: None,
            max_batch_records: 5000,
            partnerships: std::collections::BTreeMap::new(),
        }
    }
}

impl NodeConfig {
    /// Reads a TOML file over the defaults.
    pub fn from_toml(text: &str) -> anyhow::Result<NodeConfig> {
        Ok(toml::from_str(text)?)
    }

    /// Applies `BRAID_LISTEN`, `BRAID_DATA_DIR` and `BRAID_EXPECTED_EPOCH`.
    pub fn apply_env(&mut self) -> anyhow::Result<()> {
        if let Ok(listen) = std::env::var("BRAID_LISTEN") {
            self.listen = listen.parse().map_err(|_| anyhow::anyhow!("BRAID_LISTEN is not a socket address"))?;
        }
        if let Ok(dir) = std::env::var("BRAID_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Ok(epoch) = std::env::var("BRAID_EXPECTED_EPOCH") {
            self.expected_epoch = Some(epoch);
        }
        Ok(())
    }

    /// Checks the settings make sense together.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.max_batch_records > 0 && self.max_batch_records <= 100_000,
            "max_batch_records must be between 1 and 100000"
        );
        anyhow::ensure!(!self.data_dir.as_os_str().is_empty(), "data_dir must be set");
        for (name, agencies) in &self.partnerships {
            anyhow::ensure!(!agencies.is_empty(), "partnership `{name}` names no agencies");
            anyhow::ensure!(agencies.len() <= 64, "partnership `{name}` names more than 64 agencies");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_validates() {
        let text = include_str!("../../../deploy/node.example.toml");
        let config = NodeConfig::from_toml(text).expect("example parses");
        config.validate().expect("example is valid");
        assert_eq!(config.listen.port(), 7443);
        assert!(NodeConfig::from_toml("no_such_setting = 1").is_err());
    }
}
