//! The `braid` binary answers help and writes synthetic data. (Its presence
//! also makes `cargo test --workspace` build the binary that the end-to-end
//! tests in `tests/` drive.)

use std::process::Command;

#[test]
fn help_lists_every_command() {
    let output = Command::new(env!("CARGO_BIN_EXE_braid")).arg("--help").output().expect("run braid");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["keys", "synth", "agency", "admin", "eval", "demo"] {
        assert!(text.contains(command), "help mentions {command}");
    }
}

#[test]
fn synth_writes_extracts_mappings_and_truth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output =
        Command::new(env!("CARGO_BIN_EXE_braid")).args(["synth", "--children", "50", "--seed", "3", "--out"]).arg(dir.path()).output().expect("run braid");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for agency in ["CSC-NORTH", "POL-NORTH", "YOT-NORTH", "VOL-NORTH"] {
        assert!(dir.path().join(format!("{agency}.csv")).exists());
        let mapping = std::fs::read_to_string(dir.path().join(format!("{agency}.mapping.toml"))).expect("mapping");
        braid_pseudonym::Mapping::parse(&mapping).expect("the written mapping parses");
    }
    let truth = std::fs::read_to_string(dir.path().join("truth.csv")).expect("truth");
    assert!(truth.starts_with("agency,case_id,person_id,role,true_person,incident"));
    let bad = Command::new(env!("CARGO_BIN_EXE_braid")).args(["synth", "--noise", "extreme", "--out"]).arg(dir.path()).output().expect("run braid");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--noise must be low, default or high"));
}
