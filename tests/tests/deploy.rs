//! The deployment files under `deploy/` agree with the node and with each
//! other, checked offline (no Docker engine, cluster or network):
//!
//! * `node.container.toml` and the ConfigMap's copy of it parse and validate
//!   as a `NodeConfig`, and are the same config; the ConfigMap's policy
//!   parses and grants a role for every agency and partnership it names.
//! * `braid-node.service` (and the `/healthz` watchdog units) carry the
//!   hardening, reload, restart and readiness settings, against the ports
//!   and paths of `node.example.toml`; `systemd-analyze verify` and
//!   `systemd-analyze security --offline` pass when systemd-analyze exists.
//! * The Dockerfile builds with the packages `bootstrap.sh` installs, runs
//!   as a fixed non-root UID, exposes exactly the config's ports, keeps
//!   `data_dir` in its VOLUME and health-checks the operations port.
//! * `compose.yaml` publishes those ports, mounts every file the config
//!   names (read-only) and the data volume, as the image's user.
//! * The Kubernetes manifests use standard kinds and apiVersions, pass a
//!   light schema check (required fields, known field names, types), and
//!   use the same ports, probes, UID/GID, mount paths and image.
//!
//! Change a port, path or user id in one file and a test here fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use braid_node::NodeConfig;
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

// ---------------------------------------------------------------- files

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A config, parsed and validated as the node does at start-up.
fn parse_config(text: &str, what: &str) -> NodeConfig {
    let config = NodeConfig::from_toml(text).unwrap_or_else(|e| panic!("{what} does not parse: {e:#}"));
    config.validate().unwrap_or_else(|e| panic!("{what} is not valid: {e:#}"));
    config
}

fn container_config() -> NodeConfig {
    parse_config(&read("node.container.toml"), "deploy/node.container.toml")
}

fn example_config() -> NodeConfig {
    parse_config(&read("node.example.toml"), "deploy/node.example.toml")
}

fn ops_port(config: &NodeConfig) -> u16 {
    config.operations_listen.expect("operations_listen is set").port()
}

/// The ports the node listens on: gRPC and operations.
fn config_ports(config: &NodeConfig) -> BTreeSet<u16> {
    BTreeSet::from([config.listen.port(), ops_port(config)])
}

/// Every absolute path a config file names (whatever the setting), so that a
/// new path setting is covered without changing this test.
fn config_paths(toml_text: &str) -> BTreeSet<PathBuf> {
    fn walk(value: &toml::Value, out: &mut BTreeSet<PathBuf>) {
        match value {
            toml::Value::String(s) if s.starts_with('/') => {
                out.insert(PathBuf::from(s));
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            toml::Value::Table(table) => table.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&toml_text.parse::<toml::Value>().expect("TOML"), &mut out);
    out
}

/// `http://HOST:PORT/PATH` found in a command line: (host, port, path).
fn url_in(text: &str) -> (String, u16, String) {
    let start = text.find("http://").unwrap_or_else(|| panic!("no http:// URL in {text:?}"));
    let url: String = text[start + "http://".len()..].chars().take_while(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | ';' | ')')).collect();
    let (authority, path) = url.split_once('/').expect("URL has a path");
    let (host, port) = authority.rsplit_once(':').expect("URL has a port");
    (host.to_owned(), port.parse().expect("numeric port"), format!("/{path}"))
}

// ---------------------------------------------------------------- systemd

/// A unit file: section → (key, value) in order. Comments and blank lines
/// dropped, continuation lines joined.
struct Unit(BTreeMap<String, Vec<(String, String)>>);

impl Unit {
    fn parse(text: &str) -> Unit {
        let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut section = String::new();
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            if let Some(joined) = line.strip_suffix('\\') {
                pending.push_str(joined);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not a setting: {line:?}"));
            sections.entry(section.clone()).or_default().push((key.trim().to_owned(), value.trim().to_owned()));
        }
        Unit(sections)
    }

    fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.0.get(section).into_iter().flatten().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// The value in force (the last one), which must be set.
    fn get(&self, section: &str, key: &str) -> &str {
        self.all(section, key).last().copied().unwrap_or_else(|| panic!("[{section}] {key}= is not set"))
    }
}

#[test]
fn the_systemd_unit_is_hardened_and_matches_the_example_config() {
    let config = example_config();
    let unit = Unit::parse(&read("braid-node.service"));
    let s = "Service";

    // How it runs, reloads, stops and restarts.
    assert!(matches!(unit.get(s, "Type"), "simple" | "exec"), "the node has no sd_notify");
    assert_eq!(unit.get(s, "User"), "braid");
    assert_eq!(unit.get(s, "Group"), "braid");
    let exec: Vec<&str> = unit.get(s, "ExecStart").split_whitespace().collect();
    assert!(exec[0].starts_with('/') && exec[0].ends_with("/braid-node"), "ExecStart runs braid-node: {exec:?}");
    assert_eq!(exec.iter().position(|a| *a == "--config").map(|i| exec[i + 1]), Some(CONFIG_FILE));
    assert_eq!(unit.get(s, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(unit.get(s, "Restart"), "on-failure");
    assert_ne!(unit.get(s, "KillSignal"), "SIGKILL");

    // Ready once /readyz answers on the operations port of the config.
    let (host, port, path) = url_in(unit.get(s, "ExecStartPost"));
    assert_eq!((host.as_str(), port, path.as_str()), ("127.0.0.1", ops_port(&config), "/readyz"));
    assert!(config.operations_listen.expect("set").ip().is_loopback());

    // The data directory is the only writable path, and systemd makes it.
    assert_eq!(Path::new("/var/lib").join(unit.get(s, "StateDirectory")), config.data_dir);
    assert_eq!(unit.all(s, "ReadWritePaths"), [config.data_dir.to_str().expect("UTF-8")]);
    // Every other path the config names stays readable under the sandbox.
    for path in config_paths(&read("node.example.toml")) {
        if !path.starts_with(&config.data_dir) {
            assert!(
                ["/home", "/root", "/run/user", "/tmp", "/var/tmp"].iter().all(|hidden| !path.starts_with(hidden)),
                "{} is hidden from the service by ProtectHome/PrivateTmp",
                path.display()
            );
        }
    }

    // Hardening.
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        assert_eq!(unit.get(s, key), value, "[Service] {key}=");
    }
    assert!(unit.all(s, "SystemCallFilter").contains(&"@system-service"));
    assert!(unit.all(s, "AmbientCapabilities").iter().all(|v| v.is_empty()));
    assert_eq!(unit.get("Install", "WantedBy"), "multi-user.target");

    // The watchdog restarts the node on /healthz 503, on the same port.
    let health = Unit::parse(&read("braid-node-health.service"));
    let script = health.get(s, "ExecStart");
    let (host, port, path) = url_in(script);
    assert_eq!((host.as_str(), port, path.as_str()), ("127.0.0.1", ops_port(&config), "/healthz"));
    assert!(script.contains("503") && script.contains("systemctl restart braid-node.service"), "{script}");
    let timer = Unit::parse(&read("braid-node-health.timer"));
    assert!(!timer.get("Timer", "OnUnitActiveSec").is_empty());
}

/// `systemd-analyze verify` (and `security --offline`) on copies of the
/// units whose ExecStart names a binary that exists here.
#[test]
fn systemd_analyze_accepts_the_units() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not installed: only the unit-file checks ran");
        return;
    }
    let built = std::env::current_exe().expect("test path").parent().and_then(Path::parent).map(|dir| dir.join("braid-node")).filter(|binary| binary.exists());
    let binary = built.unwrap_or_else(|| PathBuf::from("/bin/true"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let units = ["braid-node.service", "braid-node-health.service", "braid-node-health.timer"];
    for name in units {
        let text = read(name).replace("ExecStart=/usr/local/bin/braid-node ", &format!("ExecStart={} ", binary.display()));
        std::fs::write(dir.path().join(name), text).expect("write unit copy");
    }
    let output = Command::new("systemd-analyze").arg("verify").args(units.map(|name| dir.path().join(name))).output().expect("run systemd-analyze verify");
    let complaints: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&output.stdout).lines())
        .filter(|line| line.contains("braid") || line.contains(&*dir.path().to_string_lossy()))
        .map(str::to_owned)
        .collect();
    eprintln!("systemd-analyze verify: {}", if complaints.is_empty() { "no complaints" } else { "complaints" });
    assert!(output.status.success() && complaints.is_empty(), "systemd-analyze verify: {complaints:#?}");

    // Exposure 0.0 (best) to 10.0; the threshold is in tenths.
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(dir.path().join("braid-node.service"))
        .output()
        .expect("run systemd-analyze security");
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    if errors.contains("unrecognized option") {
        eprintln!("this systemd-analyze has no `security --offline` (systemd < 250): exposure not checked");
        return;
    }
    let score = report.lines().find(|l| l.contains("Overall exposure level")).unwrap_or("no score");
    eprintln!("systemd-analyze security: {score}");
    assert!(output.status.success(), "exposure above 2.0:\n{report}{errors}");
}

// ---------------------------------------------------------------- Dockerfile

/// The config file the image's command reads, and that the unit reads.
const CONFIG_FILE: &str = "/etc/braid/node.toml";

/// One build stage: its base image and instructions (keyword, arguments).
struct Stage {
    from: String,
    instructions: Vec<(String, String)>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions.iter().filter(|(k, _)| k == keyword).map(|(_, a)| a.as_str()).collect()
    }

    fn one(&self, keyword: &str) -> &str {
        match self.all(keyword)[..] {
            [only] => only,
            ref many => panic!("{keyword}: expected one instruction, found {many:?}"),
        }
    }

    /// Every shell command of every RUN (split on `&&`), as words.
    fn run_commands(&self) -> Vec<Vec<&str>> {
        self.all("RUN").iter().flat_map(|run| run.split("&&")).map(|c| c.split_whitespace().collect()).collect()
    }

    /// Packages installed with apt-get.
    fn apt_packages(&self) -> BTreeSet<&str> {
        self.run_commands()
            .into_iter()
            .filter(|words| words.windows(2).any(|w| w == ["apt-get", "install"]))
            .flat_map(|words| words.into_iter().skip_while(|w| *w != "install").skip(1).filter(|w| !w.starts_with('-')))
            .collect()
    }

    /// The value after `flag` in the command that starts with `program`.
    fn flag(&self, program: &str, flag: &str) -> Option<String> {
        self.run_commands()
            .into_iter()
            .filter(|words| words.first() == Some(&program))
            .find_map(|words| words.iter().position(|w| *w == flag).map(|i| words[i + 1].to_owned()))
    }
}

fn parse_dockerfile(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue; // comments may sit inside continued instructions too
        }
        if let Some(joined) = trimmed.strip_suffix('\\') {
            pending.push_str(joined);
            pending.push(' ');
            continue;
        }
        let instruction = std::mem::take(&mut pending) + trimmed;
        let (keyword, args) = instruction.split_once(char::is_whitespace).expect("instruction with arguments");
        let (keyword, args) = (keyword.to_uppercase(), args.trim().to_owned());
        if keyword == "FROM" {
            stages.push(Stage { from: args.split_whitespace().next().expect("image").to_owned(), instructions: Vec::new() });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, args));
        }
    }
    stages
}

/// An exec-form argument list: `["a", "b"]`.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form ({e}): {args}"))
}

/// What the runtime image is, as read from the Dockerfile.
struct Image {
    uid: u32,
    gid: u32,
    user: String,
    volume: PathBuf,
    exposed: BTreeSet<u16>,
    healthcheck: Vec<String>,
    command: Vec<String>,
}

fn image() -> Image {
    let stages = parse_dockerfile(&read("Dockerfile"));
    let runtime = stages.last().expect("a stage");
    let user = runtime.one("USER").to_owned();
    let (uid, gid) = user.split_once(':').expect("USER uid:gid, numeric so that runAsNonRoot can check it");
    let volumes = runtime.one("VOLUME");
    let volume = if volumes.starts_with('[') { exec_form(volumes).concat() } else { volumes.to_owned() };
    let healthcheck = runtime.one("HEALTHCHECK");
    let healthcheck = exec_form(&healthcheck[healthcheck.find("CMD").expect("HEALTHCHECK CMD") + 3..]);
    Image {
        uid: uid.parse().expect("numeric uid"),
        gid: gid.parse().expect("numeric gid"),
        user: user.clone(),
        volume: PathBuf::from(volume),
        exposed: runtime.one("EXPOSE").split_whitespace().map(|p| p.trim_end_matches("/tcp").parse().expect("port")).collect(),
        healthcheck,
        command: exec_form(runtime.one("CMD")),
    }
}

#[test]
fn the_dockerfile_builds_the_node_and_matches_the_container_config() {
    let config = container_config();
    let stages = parse_dockerfile(&read("Dockerfile"));
    let [builder, runtime] = &stages[..] else { panic!("expected a build stage and a runtime stage") };

    // Built on bookworm with the packages bootstrap.sh installs.
    assert!(builder.from.starts_with("rust:") && builder.from.ends_with("-bookworm"), "{}", builder.from);
    let bootstrap = std::fs::read_to_string(deploy_dir().join("bootstrap.sh")).expect("bootstrap.sh");
    let wanted = bootstrap.lines().find_map(|l| l.strip_prefix("packages=(")).expect("packages=( in bootstrap.sh");
    for package in wanted.trim_end_matches(')').split_whitespace() {
        assert!(builder.apt_packages().contains(package), "the builder does not install {package}");
    }
    assert!(builder.all("RUN").iter().any(|run| run.contains("cargo build --release --locked -p braid-node")));

    // Runs on bookworm-slim with RocksDB's runtime library.
    assert_eq!(runtime.from, "debian:bookworm-slim");
    let packages = runtime.apt_packages();
    let rocksdb: Vec<&&str> = packages.iter().filter(|p| p.starts_with("librocksdb") && !p.ends_with("-dev")).collect();
    assert_eq!(rocksdb.len(), 1, "one RocksDB runtime package: {packages:?}");
    if let Some(depends) = rocksdb_dev_runtime_dependency() {
        assert_eq!(*rocksdb[0], depends, "librocksdb-dev (what the builder links against) depends on {depends}");
    }

    // A fixed, non-root user that owns the data directory.
    let image = image();
    assert!(image.uid != 0 && image.gid != 0, "USER {}", image.user);
    assert_eq!(runtime.flag("useradd", "--uid"), Some(image.uid.to_string()));
    assert_eq!(runtime.flag("groupadd", "--gid"), Some(image.gid.to_string()));
    let data_dir_owner = runtime
        .run_commands()
        .into_iter()
        .find(|words| words.starts_with(&["install", "-d"]) && words.last() == Some(&config.data_dir.to_str().expect("UTF-8")))
        .map(|words| words.windows(2).filter(|w| w[0] == "-o").map(|w| w[1].to_owned()).collect::<Vec<_>>());
    assert_eq!(data_dir_owner, Some(vec![image.uid.to_string()]), "the image creates data_dir owned by its user");

    // Data, ports, health check and command agree with the config.
    assert_eq!(image.volume, config.data_dir, "VOLUME is data_dir");
    assert_eq!(image.exposed, config_ports(&config), "EXPOSE is the config's ports");
    assert!(config.listen.ip().is_unspecified(), "in a container the node listens on every interface");
    assert!(config.operations_listen.expect("set").ip().is_unspecified(), "probes come from outside the container");
    let (host, port, path) = url_in(&image.healthcheck.join(" "));
    assert_eq!((host.as_str(), port, path.as_str()), ("127.0.0.1", ops_port(&config), "/healthz"));
    assert!(packages.contains(image.healthcheck[0].as_str()), "the image installs {}", image.healthcheck[0]);
    assert_eq!(image.command, ["braid-node", "--config", CONFIG_FILE]);
    assert!(runtime.all("COPY").contains(&format!("deploy/node.container.toml {CONFIG_FILE}").as_str()));

    // Every path the config names is in the volume or in a directory the
    // image creates (where compose and Kubernetes mount the files).
    let created: BTreeSet<PathBuf> = runtime
        .run_commands()
        .into_iter()
        .filter(|words| words.starts_with(&["install", "-d"]) || words.first() == Some(&"mkdir"))
        .flat_map(|words| words.into_iter().filter(|w| w.starts_with('/')).map(PathBuf::from))
        .collect();
    for path in config_paths(&read("node.container.toml")) {
        assert!(
            path.starts_with(&image.volume) || path.parent().is_some_and(|dir| created.contains(dir)),
            "{} is neither in the volume nor in a directory the image creates ({created:?})",
            path.display()
        );
    }
}

/// The runtime package librocksdb-dev depends on, when this machine runs
/// the same Debian release as the image (bookworm) and apt-cache knows it.
fn rocksdb_dev_runtime_dependency() -> Option<String> {
    let release = std::fs::read_to_string("/etc/os-release").ok()?;
    if !release.lines().any(|l| l == "VERSION_CODENAME=bookworm") {
        return None;
    }
    let output = Command::new("apt-cache").args(["depends", "librocksdb-dev"]).output().ok()?;
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| l.trim().strip_prefix("Depends: ")).find(|d| d.starts_with("librocksdb")).map(str::to_owned)
}

// ---------------------------------------------------------------- YAML

/// Every document of a YAML file.
fn yaml_documents(relative: &str) -> Vec<Yaml> {
    let text = read(relative);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Yaml::deserialize(document).unwrap_or_else(|e| panic!("{relative}: {e}")))
        .filter(|document| !document.is_null())
        .collect()
}

/// The value at a dotted path, which must exist.
fn at<'a>(value: &'a Yaml, path: &str) -> &'a Yaml {
    path.split('.').fold(value, |v, key| v.get(key).unwrap_or_else(|| panic!("missing {path} (at {key})")))
}

fn str_at<'a>(value: &'a Yaml, path: &str) -> &'a str {
    at(value, path).as_str().unwrap_or_else(|| panic!("{path} is not a string"))
}

fn int_at(value: &Yaml, path: &str) -> i64 {
    at(value, path).as_i64().unwrap_or_else(|| panic!("{path} is not an integer"))
}

fn seq_at<'a>(value: &'a Yaml, path: &str) -> &'a [Yaml] {
    at(value, path).as_sequence().unwrap_or_else(|| panic!("{path} is not a list"))
}

fn strings(value: &Yaml) -> Vec<String> {
    value.as_sequence().expect("a list").iter().map(|v| v.as_str().expect("a string").to_owned()).collect()
}

/// Fails on a key not in `allowed` (a typo Kubernetes would ignore or
/// refuse).
fn known_keys(value: &Yaml, allowed: &[&str], what: &str) {
    for key in value.as_mapping().unwrap_or_else(|| panic!("{what} is not a mapping")).keys() {
        let key = key.as_str().expect("string key");
        assert!(allowed.contains(&key), "{what}: unknown field `{key}`");
    }
}

// ---------------------------------------------------------------- compose

#[test]
fn compose_runs_the_image_with_the_container_config() {
    let config = container_config();
    let image = image();
    let [compose] = &yaml_documents("compose.yaml")[..] else { panic!("one document") };
    let services = at(compose, "services").as_mapping().expect("services");
    assert_eq!(services.len(), 1);
    let node = at(compose, "services.braid-node");

    // Built from the repository root with deploy/Dockerfile, run as it says.
    let context = deploy_dir().join(str_at(node, "build.context"));
    let dockerfile = context.join(str_at(node, "build.dockerfile"));
    assert_eq!(dockerfile.canonicalize().ok(), deploy_dir().join("Dockerfile").canonicalize().ok());
    assert!(context.join("Cargo.lock").exists(), "the build context is the workspace root");
    assert_eq!(str_at(node, "user"), image.user);
    if let Some(command) = node.get("command") {
        assert_eq!(strings(command), image.command);
    }
    let test = strings(at(node, "healthcheck.test"));
    assert_eq!((test[0].as_str(), &test[1..]), ("CMD", &image.healthcheck[..]));
    assert_eq!(at(node, "read_only").as_bool(), Some(true));
    assert_eq!(strings(at(node, "cap_drop")), ["ALL"]);

    // Ports: the config's, operations on the host's loopback only.
    let mut published = BTreeSet::new();
    for port in seq_at(node, "ports") {
        let port = port.as_str().expect("HOST:CONTAINER as a string");
        let (host, container) = port.rsplit_once(':').expect("HOST:CONTAINER");
        let container: u16 = container.parse().expect("container port");
        if container == ops_port(&config) {
            assert!(host.starts_with("127.0.0.1:"), "the operations port is published on loopback only: {port}");
        }
        published.insert(container);
    }
    assert_eq!(published, config_ports(&config));

    // Mounts: the data volume at data_dir, and every file the config names
    // (and the config itself), read-only.
    let mut data_volume = None;
    let mut files = BTreeMap::new();
    for volume in seq_at(node, "volumes") {
        let target = PathBuf::from(str_at(volume, "target"));
        match str_at(volume, "type") {
            "volume" => {
                assert_eq!(target, config.data_dir, "the named volume holds data_dir");
                data_volume = Some(str_at(volume, "source").to_owned());
            }
            "bind" => {
                assert_eq!(at(volume, "read_only").as_bool(), Some(true), "{} is mounted read-only", target.display());
                files.insert(target, str_at(volume, "source").to_owned());
            }
            other => panic!("unexpected mount type {other}"),
        }
    }
    let data_volume = data_volume.expect("a named volume for the data");
    assert!(at(compose, "volumes").get(data_volume.as_str()).is_some(), "volume {data_volume} is declared");
    let config_source = files.get(Path::new(CONFIG_FILE)).expect("the config is mounted");
    assert_eq!(deploy_dir().join(config_source).canonicalize().ok(), deploy_dir().join("node.container.toml").canonicalize().ok());
    for path in config_paths(&read("node.container.toml")) {
        assert!(path.starts_with(&config.data_dir) || files.contains_key(&path), "compose does not mount {}", path.display());
    }
}

// ---------------------------------------------------------------- Kubernetes

/// Kinds these manifests may use, with their standard apiVersions.
const KINDS: &[(&str, &str)] =
    &[("v1", "ConfigMap"), ("v1", "Service"), ("v1", "Secret"), ("apps/v1", "StatefulSet"), ("kustomize.config.k8s.io/v1beta1", "Kustomization")];

const OBJECT_META: &[&str] = &["name", "namespace", "labels", "annotations"];
const STATEFUL_SET_SPEC: &[&str] = &[
    "replicas",
    "selector",
    "template",
    "volumeClaimTemplates",
    "serviceName",
    "podManagementPolicy",
    "updateStrategy",
    "revisionHistoryLimit",
    "minReadySeconds",
    "persistentVolumeClaimRetentionPolicy",
    "ordinals",
];
const POD_SPEC: &[&str] = &[
    "activeDeadlineSeconds",
    "affinity",
    "automountServiceAccountToken",
    "containers",
    "dnsConfig",
    "dnsPolicy",
    "enableServiceLinks",
    "ephemeralContainers",
    "hostAliases",
    "hostIPC",
    "hostNetwork",
    "hostPID",
    "hostUsers",
    "hostname",
    "imagePullSecrets",
    "initContainers",
    "nodeName",
    "nodeSelector",
    "os",
    "overhead",
    "preemptionPolicy",
    "priority",
    "priorityClassName",
    "readinessGates",
    "resourceClaims",
    "resources",
    "restartPolicy",
    "runtimeClassName",
    "schedulerName",
    "schedulingGates",
    "securityContext",
    "serviceAccount",
    "serviceAccountName",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "subdomain",
    "terminationGracePeriodSeconds",
    "tolerations",
    "topologySpreadConstraints",
    "volumes",
];
const POD_SECURITY_CONTEXT: &[&str] = &[
    "appArmorProfile",
    "fsGroup",
    "fsGroupChangePolicy",
    "runAsGroup",
    "runAsNonRoot",
    "runAsUser",
    "seLinuxChangePolicy",
    "seLinuxOptions",
    "seccompProfile",
    "supplementalGroups",
    "supplementalGroupsPolicy",
    "sysctls",
    "windowsOptions",
];
const CONTAINER: &[&str] = &[
    "args",
    "command",
    "env",
    "envFrom",
    "image",
    "imagePullPolicy",
    "lifecycle",
    "livenessProbe",
    "name",
    "ports",
    "readinessProbe",
    "resizePolicy",
    "resources",
    "restartPolicy",
    "securityContext",
    "startupProbe",
    "stdin",
    "stdinOnce",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "tty",
    "volumeDevices",
    "volumeMounts",
    "workingDir",
];
const CONTAINER_PORT: &[&str] = &["containerPort", "hostIP", "hostPort", "name", "protocol"];
const PROBE: &[&str] = &[
    "exec",
    "failureThreshold",
    "grpc",
    "httpGet",
    "initialDelaySeconds",
    "periodSeconds",
    "successThreshold",
    "tcpSocket",
    "terminationGracePeriodSeconds",
    "timeoutSeconds",
];
const HTTP_GET: &[&str] = &["host", "httpHeaders", "path", "port", "scheme"];
const SECURITY_CONTEXT: &[&str] = &[
    "allowPrivilegeEscalation",
    "appArmorProfile",
    "capabilities",
    "privileged",
    "procMount",
    "readOnlyRootFilesystem",
    "runAsGroup",
    "runAsNonRoot",
    "runAsUser",
    "seLinuxOptions",
    "seccompProfile",
    "windowsOptions",
];
const RESOURCES: &[&str] = &["claims", "limits", "requests"];
const VOLUME_MOUNT: &[&str] = &["mountPath", "mountPropagation", "name", "readOnly", "recursiveReadOnly", "subPath", "subPathExpr"];
const SERVICE_SPEC: &[&str] = &[
    "allocateLoadBalancerNodePorts",
    "clusterIP",
    "clusterIPs",
    "externalIPs",
    "externalName",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "internalTrafficPolicy",
    "ipFamilies",
    "ipFamilyPolicy",
    "loadBalancerClass",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "ports",
    "publishNotReadyAddresses",
    "selector",
    "sessionAffinity",
    "sessionAffinityConfig",
    "trafficDistribution",
    "type",
];
const SERVICE_PORT: &[&str] = &["appProtocol", "name", "nodePort", "port", "protocol", "targetPort"];

/// Every manifest under deploy/kubernetes, by kind (one of each).
fn manifests() -> BTreeMap<String, Yaml> {
    let dir = deploy_dir().join("kubernetes");
    let mut by_kind = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/kubernetes") {
        let name = entry.expect("entry").file_name().into_string().expect("UTF-8 name");
        assert!(name.ends_with(".yaml"), "only YAML in deploy/kubernetes: {name}");
        for document in yaml_documents(&format!("kubernetes/{name}")) {
            let kind = str_at(&document, "kind").to_owned();
            let api_version = str_at(&document, "apiVersion");
            assert!(KINDS.contains(&(api_version, kind.as_str())), "{name}: {api_version} {kind} is not a standard kind here");
            if kind != "Kustomization" {
                let meta = at(&document, "metadata");
                known_keys(meta, OBJECT_META, &format!("{name} metadata"));
                let object = str_at(meta, "name");
                assert!(dns_label(object), "{name}: `{object}` is not a DNS-1123 label");
            }
            assert!(!by_kind.contains_key(&kind), "{name}: a second {kind}");
            by_kind.insert(kind, document);
        }
    }
    by_kind
}

fn dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A file a ConfigMap holds (keys have dots, so not through `at`).
fn configmap_file<'a>(configmap: &'a Yaml, key: &str) -> Option<&'a str> {
    at(configmap, "data").get(key).map(|v| v.as_str().expect("ConfigMap data are strings"))
}

/// A Kubernetes quantity of bytes (`2Gi`, `512Mi`, `1G`).
fn bytes(quantity: &str) -> u64 {
    let mut units =
        [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40)].into_iter().chain([("k", 1000), ("M", 1_000_000), ("G", 1_000_000_000)]);
    let (number, unit) = units.find_map(|(suffix, unit)| quantity.strip_suffix(suffix).map(|n| (n, unit))).unwrap_or((quantity, 1));
    number.parse::<u64>().unwrap_or_else(|_| panic!("quantity {quantity}")) * unit
}

/// A container port by name or number.
fn resolve_port(port: &Yaml, container_ports: &BTreeMap<String, u16>) -> u16 {
    match port.as_str() {
        Some(name) => *container_ports.get(name).unwrap_or_else(|| panic!("no container port named {name}")),
        None => u16::try_from(port.as_u64().expect("a port name or number")).expect("port"),
    }
}

/// Labels `selector` matches, which must all be in `labels`.
fn selects(selector: &Yaml, labels: &Yaml) -> bool {
    let selector = selector.as_mapping().expect("selector labels");
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

#[test]
fn the_kubernetes_manifests_are_well_formed_and_match_the_image_and_config() {
    let config = container_config();
    let image = image();
    let manifests = manifests();

    // The kustomization applies every other file, and never a Secret (so
    // applying it cannot overwrite the real keys).
    let kustomization = &manifests["Kustomization"];
    let resources: BTreeSet<String> = strings(at(kustomization, "resources")).into_iter().collect();
    let files: BTreeSet<String> = std::fs::read_dir(deploy_dir().join("kubernetes"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8"))
        .filter(|name| name != "kustomization.yaml")
        .collect();
    assert_eq!(resources, files, "kustomization.yaml lists every manifest");
    assert!(!manifests.contains_key("Secret"), "the TLS Secret is created with kubectl (deploy/README.md)");

    // StatefulSet: one replica, light schema.
    let set = &manifests["StatefulSet"];
    let spec = at(set, "spec");
    known_keys(spec, STATEFUL_SET_SPEC, "StatefulSet spec");
    assert_eq!(int_at(spec, "replicas"), 1, "the store belongs to one process");
    let template_labels = at(spec, "template.metadata.labels");
    assert!(selects(at(spec, "selector.matchLabels"), template_labels), "the selector matches the pod template");
    let pod = at(spec, "template.spec");
    known_keys(pod, POD_SPEC, "pod spec");
    let [container] = seq_at(pod, "containers") else { panic!("one container") };
    known_keys(container, CONTAINER, "container");
    assert_eq!(str_at(container, "name"), "braid-node");

    // The image's command, reading the config file.
    let command = strings(at(container, "command"));
    assert_eq!(command[..image.command.len()], image.command[..], "the image's command, perhaps with more flags");

    // Ports: the config's, by name.
    let mut container_ports = BTreeMap::new();
    for port in seq_at(container, "ports") {
        known_keys(port, CONTAINER_PORT, "container port");
        let number = u16::try_from(int_at(port, "containerPort")).expect("port");
        container_ports.insert(str_at(port, "name").to_owned(), number);
    }
    assert_eq!(container_ports.values().copied().collect::<BTreeSet<_>>(), config_ports(&config));
    assert_eq!(container_ports.values().copied().collect::<BTreeSet<_>>(), image.exposed);

    // Probes on the operations port: ready on /readyz, live on /healthz,
    // and time for the index rebuild before liveness counts.
    let probe = |name: &str, path: &str| {
        let probe = at(container, name);
        known_keys(probe, PROBE, name);
        known_keys(at(probe, "httpGet"), HTTP_GET, name);
        assert_eq!(str_at(probe, "httpGet.path"), path, "{name}");
        assert_eq!(resolve_port(at(probe, "httpGet.port"), &container_ports), ops_port(&config), "{name} port");
        probe
    };
    probe("readinessProbe", "/readyz");
    probe("livenessProbe", "/healthz");
    let startup = probe("startupProbe", "/readyz");
    let seconds = |key: &str, default: i64| startup.get(key).map_or(default, |v| v.as_i64().expect("integer"));
    let patience = seconds("initialDelaySeconds", 0) + seconds("periodSeconds", 10) * seconds("failureThreshold", 3);
    assert!(patience >= 120, "the startup probe allows {patience} s for the index rebuild");
    let annotations = at(spec, "template.metadata.annotations");
    if let Some(port) = annotations.get("prometheus.io/port") {
        assert_eq!(port.as_str(), Some(ops_port(&config).to_string().as_str()), "Prometheus scrapes the operations port");
    }

    // Resources: memory for ~1.26 M records.
    let resources = at(container, "resources");
    known_keys(resources, RESOURCES, "resources");
    let requested = bytes(str_at(resources, "requests.memory"));
    assert!(requested >= 2 << 30, "at least 2 GiB requested");
    assert!(bytes(str_at(resources, "limits.memory")) >= requested);

    // Security: the image's user, nothing more.
    let pod_security = at(pod, "securityContext");
    known_keys(pod_security, POD_SECURITY_CONTEXT, "pod securityContext");
    assert_eq!(at(pod_security, "runAsNonRoot").as_bool(), Some(true));
    assert_eq!(int_at(pod_security, "runAsUser"), i64::from(image.uid), "same UID as the Dockerfile");
    assert_eq!(int_at(pod_security, "runAsGroup"), i64::from(image.gid), "same GID as the Dockerfile");
    assert_eq!(int_at(pod_security, "fsGroup"), i64::from(image.gid), "the volumes belong to the image's group");
    let security = at(container, "securityContext");
    known_keys(security, SECURITY_CONTEXT, "container securityContext");
    assert_eq!(at(security, "allowPrivilegeEscalation").as_bool(), Some(false));
    assert_eq!(at(security, "readOnlyRootFilesystem").as_bool(), Some(true));
    assert_eq!(strings(at(security, "capabilities.drop")), ["ALL"]);
    if let Some(run_as) = security.get("runAsUser") {
        assert_eq!(run_as.as_i64(), Some(i64::from(image.uid)));
    }

    // Mounts: data_dir (= the image's VOLUME) on the claim template,
    // writable; every other path the config names, and the config itself,
    // from a read-only projected volume of the ConfigMap and the Secret.
    let mounts: BTreeMap<PathBuf, &Yaml> = seq_at(container, "volumeMounts")
        .iter()
        .map(|m| {
            known_keys(m, VOLUME_MOUNT, "volumeMount");
            (PathBuf::from(str_at(m, "mountPath")), m)
        })
        .collect();
    let data = mounts.get(&config.data_dir).expect("a mount at data_dir");
    assert_eq!(config.data_dir, image.volume);
    assert_ne!(data.get("readOnly").and_then(Yaml::as_bool), Some(true));
    let [claim] = seq_at(spec, "volumeClaimTemplates") else { panic!("one volumeClaimTemplate") };
    assert_eq!(str_at(claim, "metadata.name"), str_at(data, "name"), "data_dir is on the claim");
    assert!(strings(at(claim, "spec.accessModes")).contains(&"ReadWriteOnce".to_owned()));
    bytes(str_at(claim, "spec.resources.requests.storage"));

    let volumes: BTreeMap<&str, &Yaml> = seq_at(pod, "volumes").iter().map(|v| (str_at(v, "name"), v)).collect();
    let mut config_files = config_paths(&read("node.container.toml"));
    config_files.insert(PathBuf::from(CONFIG_FILE));
    config_files.retain(|path| !path.starts_with(&config.data_dir));
    let configmap = &manifests["ConfigMap"];
    let readme = read("README.md");
    for path in &config_files {
        let (dir, mount) = mounts
            .iter()
            .find(|(dir, _)| path.parent() == Some(dir.as_path()))
            .unwrap_or_else(|| panic!("nothing is mounted at {}", path.parent().expect("dir").display()));
        assert_eq!(mount.get("readOnly").and_then(Yaml::as_bool), Some(true), "{} is read-only", dir.display());
        let volume = volumes.get(str_at(mount, "name")).expect("the mount's volume");
        let file = path.file_name().expect("file").to_str().expect("UTF-8");
        let provides = |source: &&Yaml| {
            let items = source.get("configMap").or(source.get("secret")).map(|s| seq_at(s, "items"));
            items.is_some_and(|items| items.iter().any(|item| str_at(item, "path") == file))
        };
        let source = seq_at(volume, "projected.sources").iter().find(provides).unwrap_or_else(|| panic!("no projected source provides {}", path.display()));
        if let Some(map) = source.get("configMap") {
            assert_eq!(str_at(map, "name"), str_at(configmap, "metadata.name"));
        } else {
            // The Secret holds it: the README's kubectl command creates it.
            let secret = str_at(at(source, "secret"), "name");
            assert!(readme.contains(&format!("kubectl create secret generic {secret}")), "README creates {secret}");
            assert!(readme.contains(&format!("--from-file={file}=")), "README puts {file} in {secret}");
        }
    }
    let sources = volumes.values().filter_map(|v| v.get("projected")).flat_map(|p| seq_at(p, "sources"));
    for map in sources.filter_map(|source| source.get("configMap")) {
        for item in seq_at(map, "items") {
            assert!(configmap_file(configmap, str_at(item, "key")).is_some(), "the ConfigMap has {}", str_at(item, "key"));
        }
    }

    // The ConfigMap's node.toml is node.container.toml; its policy grants a
    // role to every agency and partnership the config names.
    let node_toml = configmap_file(configmap, "node.toml").expect("node.toml in the ConfigMap");
    let in_cluster = parse_config(node_toml, "the ConfigMap's node.toml");
    assert_eq!(in_cluster, config, "the ConfigMap's node.toml and deploy/node.container.toml differ");
    let policy_toml = configmap_file(configmap, "policy.toml").expect("policy.toml in the ConfigMap");
    let policy = braid_access::Policy::from_toml(policy_toml).expect("the ConfigMap's policy parses");
    let roles: BTreeSet<String> = policy.principals().map(|(_, role)| role.to_string()).collect();
    for agency in config.agencies.keys() {
        assert!(roles.contains(&format!("agency:{agency}")), "no principal uploads for {agency}");
    }
    for partnership in config.partnerships.keys() {
        assert!(roles.contains(&format!("panel:{partnership}")), "no panel for {partnership}");
    }

    // Service: the config's ports onto the container's, selecting the pod.
    let service = &manifests["Service"];
    let service_spec = at(service, "spec");
    known_keys(service_spec, SERVICE_SPEC, "Service spec");
    assert!(selects(at(service_spec, "selector"), template_labels), "the Service selects the pod");
    assert_eq!(str_at(spec, "serviceName"), str_at(service, "metadata.name"));
    let mut service_ports = BTreeSet::new();
    for port in seq_at(service_spec, "ports") {
        known_keys(port, SERVICE_PORT, "Service port");
        let number = u16::try_from(int_at(port, "port")).expect("port");
        let target = port.get("targetPort").map_or(number, |t| resolve_port(t, &container_ports));
        assert_eq!(number, target, "the Service keeps the node's port numbers");
        service_ports.insert(number);
    }
    assert_eq!(service_ports, config_ports(&config));

    // The same image as compose builds.
    let [compose] = &yaml_documents("compose.yaml")[..] else { panic!("one document") };
    assert_eq!(str_at(container, "image"), str_at(compose, "services.braid-node.image"));
}

// ---------------------------------------------------------------- README

#[test]
fn the_readme_covers_each_way_to_run_the_node() {
    let readme = read("README.md");
    let config = container_config();
    for needle in [
        "braid-node.service",
        "braid-node-health.timer",
        "deploy/Dockerfile",
        "deploy/compose.yaml",
        "kubectl apply -k deploy/kubernetes",
        "/healthz",
        "/readyz",
        "/metrics",
        "SIGHUP",
        CONFIG_FILE,
        config.data_dir.to_str().expect("UTF-8"),
        &config.listen.port().to_string(),
        &ops_port(&config).to_string(),
        &image().uid.to_string(),
    ] {
        assert!(readme.contains(needle), "deploy/README.md does not mention {needle}");
    }
}
