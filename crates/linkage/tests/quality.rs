//! Linkage quality on synthetic populations, in memory, with the default
//! configuration at every noise level (nothing is tuned per dataset).

mod support;

use braid_linkage::LinkerConfig;
use braid_synth::NoiseLevel;

#[test]
fn default_noise_reaches_f1_0_995_and_keeps_siblings_apart() {
    let prepared = support::prepare(2000, 42, NoiseLevel::Default);
    let report = support::link(&prepared, LinkerConfig::default());
    let line = support::describe("default", &report);
    assert!(report.scores.f1 >= 0.995, "{line}");
    assert!(report.households.precision >= 0.99, "{line}");
}

#[test]
fn high_noise_reaches_f1_0_98_and_keeps_siblings_apart() {
    let prepared = support::prepare(2000, 7, NoiseLevel::High);
    let report = support::link(&prepared, LinkerConfig::default());
    let line = support::describe("high", &report);
    assert!(report.scores.f1 >= 0.98, "{line}");
    assert!(report.households.precision >= 0.99, "{line}");
}
