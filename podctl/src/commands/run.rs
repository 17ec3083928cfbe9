//! `podctl run -f MANIFEST`: check the manifest, pull what it needs, make
//! each pod and start its supervisor; in the foreground, print the
//! containers' output until the pods end.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podcore::control;
use podcore::image::Store;
use podcore::logs::Start;
use podcore::pod::{PodPaths, PodRecord, RunOptions};
use podcore::spec::{self, Format};
use podcore::status::{Phase, PodStatus};

use crate::Globals;
use crate::commands::delete;
use crate::error::CliError;
use crate::launch;
use crate::output;
use crate::pods;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: i32) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// `podctl run` arguments.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The manifest, or - for standard input.
    #[arg(short, long)]
    file: PathBuf,
    /// Return once the pod runs and leave it to its supervisor.
    #[arg(short, long)]
    detach: bool,
    /// Delete the pod once it ends (foreground only).
    #[arg(long)]
    rm: bool,
    /// Refuse fields Kubernetes does not know (kubectl's strict field
    /// validation) instead of warning and ignoring them.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    pods: PodArgs,
}

/// How the pods of a run (or an apply) run.
#[derive(clap::Args)]
pub struct PodArgs {
    /// Restart back-off: first delay and cap, e.g. 1s,60s (default 10s,300s as Kubernetes).
    #[arg(long, value_parser = parse_backoff)]
    backoff: Option<(Duration, Duration)>,
    /// Allow hostPath volumes (they hand the host's files to the pod).
    #[arg(long)]
    allow_host_paths: bool,
    /// Allow privileged containers.
    #[arg(long)]
    allow_privileged: bool,
    /// Allow hostNetwork, hostPID and hostIPC (the pod shares the host's namespaces).
    #[arg(long)]
    allow_host_namespaces: bool,
    /// Rotate a container's log past this size (the kubelet's containerLogMaxSize).
    #[arg(long, default_value = "10Mi", value_parser = parse_size)]
    log_max_size: u64,
    /// Log files kept per container run, the current one included (containerLogMaxFiles).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    log_max_files: u32,
    /// Where the CNI network config is: its first *.conflist names the pod
    /// network (none: the built-in bridge on 10.86.0.0/16).
    #[arg(long, env = "PODCTL_CNI_CONF_DIR", default_value = podcore::network::DEFAULT_CONF_DIR)]
    cni_conf_dir: PathBuf,
    /// Where CNI plugins are (folders separated by ':').
    #[arg(
        long,
        value_delimiter = ':',
        default_value = "/usr/lib/cni:/opt/cni/bin"
    )]
    cni_bin_dir: Vec<PathBuf>,
    /// Who starts containers again: `policy` (the pod's restartPolicy, as
    /// the kubelet) or `client` (only a client of the pod's control
    /// socket, as a CRI runtime under a kubelet; the sandbox stays until deleted).
    #[arg(long, value_enum, default_value = "policy")]
    restart_mode: RestartModeArg,
}

/// `--restart-mode`, see [`podcore::pod::RestartMode`].
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RestartModeArg {
    Policy,
    Client,
}

impl PodArgs {
    /// How the pods are to run.
    pub fn options(&self, registries: &crate::registries::RegistryArgs) -> RunOptions {
        let mut options = RunOptions {
            allow_host_paths: self.allow_host_paths,
            allow_privileged: self.allow_privileged,
            allow_host_namespaces: self.allow_host_namespaces,
            log_max_size: self.log_max_size,
            log_max_files: self.log_max_files,
            cni: podcore::network::CniPaths {
                conf_dir: self.cni_conf_dir.clone(),
                bin_dirs: self.cni_bin_dir.clone(),
            },
            restart_mode: match self.restart_mode {
                RestartModeArg::Policy => podcore::pod::RestartMode::Policy,
                RestartModeArg::Client => podcore::pod::RestartMode::Client,
            },
            registries: registries.options(),
            ..RunOptions::default()
        };
        if let Some((initial, cap)) = self.backoff {
            options.backoff_initial_ms = initial.as_millis() as u64;
            options.backoff_cap_ms = cap.as_millis() as u64;
        }
        options
    }
}

/// Parse a size as Kubernetes writes quantities (`10Mi`, `512Ki`, `1G`, bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bytes = podcore::spec::quantity::memory_bytes(text)?;
    if bytes < 4096 {
        return Err(format!("{text:?} is too small: at least 4Ki"));
    }
    Ok(bytes)
}

/// Parse `A,B` back-off durations (`1s,60s`).
pub fn parse_backoff(text: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = text
        .split_once(',')
        .ok_or("expected INITIAL,CAP such as 1s,60s")?;
    let a = humantime::parse_duration(a.trim()).map_err(|e| format!("initial delay {a:?}: {e}"))?;
    let b = humantime::parse_duration(b.trim()).map_err(|e| format!("cap {b:?}: {e}"))?;
    if a.is_zero() || b < a {
        return Err("the initial delay must be positive and at most the cap".into());
    }
    Ok((a, b))
}

pub fn run(globals: &Globals, args: RunArgs) -> anyhow::Result<u8> {
    let manifest = read_manifest(&args.file, args.strict)?;
    if manifest.pods.is_empty() {
        bail!(CliError::Usage(format!(
            "{} holds no pod, only ConfigMaps or Secrets: store them with `podctl apply -f`",
            args.file.display()
        )));
    }
    for warning in &manifest.warnings {
        eprintln!("warning: {warning}");
    }
    let options = args.pods.options(&globals.registries);
    check_pods(&manifest.pods, &options)?;
    for (object, change) in store_objects(&globals.root, &manifest.objects)? {
        eprintln!("{} {change}", object.display_name());
    }
    check_volume_objects(&globals.root, &manifest.pods)?;
    let started = start_pods(globals, &options, manifest.pods, |name| {
        if args.detach {
            println!("{name}");
        }
    })?;
    if args.detach {
        return Ok(0);
    }
    foreground(&globals.root, &started, args.rm)
}

/// The manifest at `file` (`-`: standard input), parsed and checked; with
/// `strict`, a field Kubernetes does not know is an error.
pub fn read_manifest(file: &Path, strict: bool) -> anyhow::Result<spec::Manifest> {
    let (text, format) = manifest_text(file)?;
    let parse_started = Instant::now();
    let manifest = spec::parse_manifest(&text, format)
        .with_context(|| format!("invalid manifest {}", file.display()))?;
    if strict {
        let warnings = manifest
            .warnings
            .iter()
            .chain(manifest.pods.iter().flat_map(|p| &p.warnings));
        let unknown: Vec<String> = warnings
            .filter_map(|w| spec::unknown_field(w))
            .map(|path| format!("unknown field {path:?}"))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "invalid manifest {}: strict decoding error: {} (remove it, or run without --strict to ignore it)",
                file.display(),
                unknown.join(", ")
            );
        }
    }
    tracing::debug!(
        "step parse and validate the manifest: {}",
        since(parse_started)
    );
    Ok(manifest)
}

/// Refuse, before anything is made, a pod that asks for what the run does not allow.
pub fn check_pods(pods: &[spec::Parsed], options: &RunOptions) -> anyhow::Result<()> {
    for p in pods {
        podcore::runtime::check_permitted(&p.pod, options)
            .with_context(|| format!("create pod {}", p.pod.name))?;
    }
    Ok(())
}

/// Refuse pods whose volumes show a ConfigMap or Secret that is not there
/// (and not optional), before any is made.
pub fn check_volume_objects(root: &Path, pods: &[spec::Parsed]) -> anyhow::Result<()> {
    let objects = podcore::objects::Objects::new(root);
    for p in pods {
        if let Some(missing) = podcore::volumes::missing_objects(&p.pod, &objects)
            .into_iter()
            .next()
        {
            return Err(missing).with_context(|| format!("create pod {}", p.pod.name));
        }
    }
    Ok(())
}

/// Store a manifest's ConfigMaps and Secrets; what each store did.
pub fn store_objects(
    root: &Path,
    objects: &[podcore::objects::Object],
) -> anyhow::Result<Vec<(podcore::objects::Object, podcore::objects::Change)>> {
    let store = podcore::objects::Objects::new(root);
    objects
        .iter()
        .map(|object| {
            let change = store
                .put(object)
                .with_context(|| format!("store {}", object.display_name()))?;
            Ok((object.clone(), change))
        })
        .collect()
}

/// Pull, prepare and start each pod, telling `started` each pod's name as
/// it runs; the pods' records.
pub fn start_pods(
    globals: &Globals,
    options: &RunOptions,
    pods: Vec<spec::Parsed>,
    started: impl Fn(&str),
) -> anyhow::Result<Vec<PodRecord>> {
    // Before anything is made: a pod without its supervisor cannot start.
    let supervisor = launch::supervisor_binary()?;
    let store = globals.store()?;
    pull_images(&store, &globals.registries, &pods)?;
    let root = globals.root.as_path();
    let mut records = Vec::new();
    // The kernel's slow first cgroup move overlaps the work below (see MigrationWarmth).
    let _warmth = podcore::cgroups::MigrationWarmth::start();
    for p in pods {
        for warning in &p.warnings {
            eprintln!("warning: {warning}");
        }
        for note in &p.notes {
            eprintln!("note: {note}");
        }
        let name = p.pod.name.clone();
        let progress = output::spinner();
        progress.set_message(format!("preparing pod {name}: images and their layers"));
        progress.tick();
        let prepare_started = Instant::now();
        let prepared = podcore::runtime::prepare(root, &store, p.pod, options.clone());
        progress.finish_and_clear();
        let podcore::runtime::Prepared { record, written } =
            prepared.with_context(|| format!("create pod {name}"))?;
        tracing::debug!(
            "step images, name and pod record: {}",
            since(prepare_started)
        );
        let supervisor_started = Instant::now();
        let network = || podcore::runtime::make_network(root, &record).map_err(anyhow::Error::from);
        launch::start_supervisor(
            root,
            &record,
            &supervisor,
            false,
            Some(&network),
            Some(written),
        )
        .with_context(|| format!("start pod {name}"))?;
        tracing::debug!(
            "step supervisor started the pod: {}",
            since(supervisor_started)
        );
        started(&name);
        records.push(record);
    }
    Ok(records)
}

/// The manifest's text and format; `-` is standard input, YAML unless it reads as TOML.
fn manifest_text(file: &Path) -> anyhow::Result<(String, Format)> {
    if file != Path::new("-") {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        return Ok((text, Format::from_path(file)));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("read the manifest from stdin")?;
    let format = if toml_like(&text) {
        Format::Toml
    } else {
        Format::Yaml
    };
    Ok((text, format))
}

/// Pull what the pods' containers need by their imagePullPolicy, before any pod is made.
fn pull_images(
    store: &Store,
    registries: &crate::registries::RegistryArgs,
    parsed: &[spec::Parsed],
) -> anyhow::Result<()> {
    use podcore::image::registry::{PullDecision, pull_decision};
    let mut pulled = std::collections::BTreeSet::new();
    for p in parsed {
        let lists = [
            ("initContainers", &p.pod.init_containers),
            ("containers", &p.pod.containers),
        ];
        for (field, list) in lists {
            for (i, c) in list.iter().enumerate() {
                let at = || format!("create pod {}: spec.{field}[{i}].image", p.pod.name);
                let present = store.resolve(&c.image).is_ok();
                match pull_decision(&c.image_pull_policy, &c.image, present) {
                    PullDecision::UseLocal => {}
                    PullDecision::NeverPull => bail!(CliError::NotFound(format!(
                        "{}: image {} is not present and imagePullPolicy is Never (ErrImageNeverPull): \
                         pull it with `podctl image pull {}` or import it with `podctl image import PATH --name {}`",
                        at(),
                        c.image,
                        c.image,
                        c.image
                    ))),
                    PullDecision::Pull if pulled.contains(&c.image) => {}
                    PullDecision::Pull => {
                        registries
                            .registry()?
                            .pull(store, &c.image)
                            .map_err(anyhow::Error::from)
                            .with_context(|| {
                                format!(
                                    "{} (ErrImagePull; a local image is imported with `podctl image import PATH --name {}`)",
                                    at(),
                                    c.image
                                )
                            })?;
                        pulled.insert(c.image.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

fn since(started: Instant) -> String {
    format!("{:.1} ms", started.elapsed().as_secs_f64() * 1000.0)
}

fn toml_like(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with('[') || l.contains(" = "))
}

/// Foreground `run`: stream every container's output prefixed with its name
/// until the pods end; Ctrl-C or SIGTERM deletes them gracefully.
fn foreground(root: &Path, records: &[PodRecord], remove: bool) -> anyhow::Result<u8> {
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_interrupt),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { nix::sys::signal::sigaction(signal, &action) }
            .context("install signal handler")?;
    }
    // One follower per container, from its first run on.
    let mut followers: Vec<(&str, podcore::logs::RunsFollower)> = records
        .iter()
        .flat_map(|record| {
            let paths = PodPaths::new(root, &record.uid);
            record.spec.all_containers().map(move |c| {
                let dir = paths.logs(&c.name);
                let follower = podcore::logs::RunsFollower::new(&dir, 0, Start::Beginning);
                (c.name.as_str(), follower)
            })
        })
        .collect();
    loop {
        let mut out = std::io::stdout().lock();
        for (container, follower) in &mut followers {
            let _ = follower.poll(|_, line| writeln!(out, "[{container}] {line}"));
        }
        let _ = out.flush();
        drop(out);
        if INTERRUPTED.load(Ordering::Relaxed) {
            eprintln!("interrupted: deleting the pod(s)");
            delete::remove_all(root, &entries(records), None)?;
            return Ok(130);
        }
        let statuses: Vec<Option<PodStatus>> = records
            .iter()
            .map(|r| pods::status_of(&PodPaths::new(root, &r.uid)))
            .collect();
        let done = statuses.iter().all(|s| {
            s.as_ref()
                .is_none_or(|s| s.phase.is_terminal() || s.phase == Phase::Unknown)
        });
        let supervisors_gone = records
            .iter()
            .all(|r| control::supervisor_pid(&PodPaths::new(root, &r.uid)).is_none());
        if done && supervisors_gone {
            let failed = statuses
                .iter()
                .any(|s| s.as_ref().is_none_or(|s| s.phase != Phase::Succeeded));
            if remove {
                delete::remove_all(root, &entries(records), Some(0))?;
            }
            return Ok(if failed { 1 } else { 0 });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pods of records, to delete them.
fn entries(records: &[PodRecord]) -> Vec<podcore::pod::PodEntry> {
    records.iter().map(PodRecord::entry).collect()
}
