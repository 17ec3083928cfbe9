//! `podctl`: run Kubernetes pods on one Linux host.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 not found.

mod image_cmd;
mod internal;
mod output;
mod pod_cmd;
mod port_forward;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use podcore::image::Store;

/// Exit code for a runtime failure.
const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error (clap uses it too).
const EXIT_USAGE: u8 = 2;
/// Exit code for something named that does not exist (pod, container, image).
const EXIT_NOT_FOUND: u8 = 3;

#[derive(Parser)]
#[command(
    version,
    about = "Run Kubernetes pods on one Linux host",
    after_help = "Exit codes: 0 success, 1 runtime failure (or a failed pod in the foreground), 2 usage error, 3 not found.\n\
                  Needs root: pods need namespaces, mounts and cgroups."
)]
struct Cli {
    /// Where podctl keeps images and pods.
    #[arg(
        long,
        global = true,
        env = "PODCTL_ROOT",
        default_value = "/var/lib/podctl"
    )]
    root: PathBuf,
    /// Log what podctl does (tracing at debug level; -vv for trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log level filter (error, warn, info, debug, trace or a tracing filter).
    #[arg(long, global = true, env = "PODCTL_LOG")]
    log_level: Option<String>,
    #[command(flatten)]
    registries: RegistryArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where images are pulled from and pushed to.
#[derive(clap::Args, Clone)]
pub struct RegistryArgs {
    /// Registry mirrors and plain-HTTP registries, in podman's registries.conf
    /// shape ([[registry]] prefix, [[registry.mirror]] location, insecure).
    #[arg(
        long,
        global = true,
        env = "PODCTL_REGISTRIES_CONFIG",
        default_value = podcore::image::registry::config::DEFAULT_CONFIG
    )]
    registries_config: PathBuf,
    /// A registry reached over plain HTTP (repeatable); loopback ones always are.
    #[arg(long, global = true)]
    insecure_registry: Vec<String>,
}

impl RegistryArgs {
    /// These settings as a pod's record keeps them.
    pub fn options(&self) -> podcore::pod::RegistryOptions {
        podcore::pod::RegistryOptions {
            config: self.registries_config.clone(),
            insecure: self.insecure_registry.clone(),
        }
    }

    /// A registry client with these settings and progress bars on a terminal.
    pub fn registry(&self) -> anyhow::Result<podcore::image::registry::Registry> {
        self.registry_showing(std::sync::Arc::new(output::BlobBars::new()))
    }

    /// A registry client with these settings, reporting to `progress`.
    pub fn registry_showing(
        &self,
        progress: std::sync::Arc<dyn podcore::image::registry::Progress>,
    ) -> anyhow::Result<podcore::image::registry::Registry> {
        let mut settings = podcore::image::registry::Settings::load(&self.registries_config)
            .map_err(anyhow::Error::msg)?;
        settings
            .insecure
            .extend(self.insecure_registry.iter().cloned());
        Ok(podcore::image::registry::Registry::new(settings, progress))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create and run the pod(s) of a manifest (Kubernetes YAML or podctl TOML).
    ///
    /// In the foreground (default) every container's output is printed with
    /// its name, and podctl returns when the pods end: 0 when they succeeded,
    /// 1 when one failed; Ctrl-C deletes them. With -d it prints each pod's
    /// name and returns once the app containers run.
    ///
    /// Example: podctl run -d -f examples/two-containers-pod.yml
    Run {
        /// The manifest, or - for standard input.
        #[arg(short, long)]
        file: PathBuf,
        /// Return once the pod runs and leave it to its supervisor.
        #[arg(short, long)]
        detach: bool,
        /// Delete the pod once it ends (foreground only).
        #[arg(long)]
        rm: bool,
        /// Restart back-off: first delay and cap, e.g. 1s,60s (default 10s,300s as Kubernetes).
        #[arg(long, value_parser = pod_cmd::parse_backoff)]
        backoff: Option<(std::time::Duration, std::time::Duration)>,
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
        #[arg(long, default_value = "10Mi", value_parser = pod_cmd::parse_size)]
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
    },
    /// Log in to a registry: the credential is checked, then stored (mode 0600)
    /// in $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
    ///
    /// Example: echo secret | podctl login 127.0.0.1:5000 -u alice --password-stdin
    Login {
        /// The registry, HOST[:PORT].
        server: String,
        #[arg(short, long)]
        username: String,
        /// The password (visible in the process list: prefer --password-stdin).
        #[arg(short, long)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a registry's stored credential.
    ///
    /// Example: podctl logout 127.0.0.1:5000
    Logout {
        /// The registry, HOST[:PORT].
        server: String,
    },
    /// List pods, or show one as Kubernetes shows it.
    ///
    /// Example: podctl get pods; podctl get pod two-containers-pod -o json
    Get {
        /// pods (or pod, po).
        #[arg(value_parser = ["pods", "pod", "po"])]
        resource: String,
        /// Only this pod.
        name: Option<String>,
        /// Output: wide, json, yaml or name (default: a table).
        #[arg(short, long, default_value = "")]
        output: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Delete pods: preStop hooks, SIGTERM, then SIGKILL after the grace period.
    ///
    /// `stop` is an alias: podctl keeps no stopped pods, so stopping a pod
    /// deletes it (its logs go with it; read them first).
    ///
    /// Example: podctl delete pod two-containers-pod --grace-period 0
    #[command(alias = "stop")]
    Delete {
        /// pods (or pod, po).
        #[arg(value_parser = ["pods", "pod", "po"])]
        resource: String,
        names: Vec<String>,
        /// Seconds between SIGTERM and SIGKILL (default: the pod's terminationGracePeriodSeconds).
        #[arg(long)]
        grace_period: Option<u64>,
        /// Every pod of the namespace.
        #[arg(long)]
        all: bool,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Print a container's logs.
    ///
    /// Example: podctl logs hello
    Logs {
        pod: String,
        /// The container (default: the only one, or the first app container).
        #[arg(short, long)]
        container: Option<String>,
        /// Keep printing as the container writes.
        #[arg(short, long)]
        follow: bool,
        /// The previous run of a restarted container.
        #[arg(short, long)]
        previous: bool,
        /// Prefix each line with its RFC 3339 time.
        #[arg(long)]
        timestamps: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Show a pod in detail: containers, states, restarts, mounts, conditions, volumes, events.
    ///
    /// Example: podctl describe pod crashy
    Describe {
        /// pod (or pods, po).
        #[arg(value_parser = ["pods", "pod", "po"])]
        resource: String,
        name: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// A pod's namespaces as a table (NS TYPE PID CONTAINER SHARED): which are
    /// shared with pause, which are the host's, which are the container's own.
    ///
    /// Example: podctl ns two-containers-pod
    Ns {
        name: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Run a command in a running container (its namespaces, cgroup, root,
    /// user and environment) and return its exit code.
    ///
    /// Example: podctl exec web -c content -- wget -qO- http://localhost:8080/
    Exec {
        /// Pass standard input to the command.
        #[arg(short, long)]
        stdin: bool,
        /// Run the command on a terminal (use with -s for an interactive shell).
        #[arg(short, long)]
        tty: bool,
        name: String,
        /// The container (default: the pod's first app container).
        #[arg(short, long)]
        container: Option<String>,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Forward local ports to ports of a pod, as kubectl port-forward does
    /// (no hostPort needed); Ctrl-C ends it.
    ///
    /// Example: podctl port-forward web 8080:80
    PortForward {
        name: String,
        /// [LOCAL:]REMOTE, one or more.
        #[arg(required = true, value_parser = port_forward::parse_forward)]
        ports: Vec<port_forward::Forward>,
        /// The local address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        address: std::net::IpAddr,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Give a pod whose supervisor died (status Unknown) a new supervisor: the
    /// sandbox is recreated and the containers restarted, keeping restart
    /// counts, logs and volumes.
    ///
    /// Example: podctl recover two-containers-pod
    Recover {
        name: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// The runtime's view of a pod as JSON: pause and container pids,
    /// namespace ids, cgroups, root filesystems and log files.
    ///
    /// Example: podctl inspect two-containers-pod
    Inspect {
        name: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
    },
    /// Manage local images (OCI image layouts and archives).
    ///
    /// Example: podctl image import target/images/busybox (the image of every example pod)
    #[command(subcommand)]
    Image(image_cmd::ImageCommand),
    /// Work a pod's supervisor hands to podctl (not for people).
    #[command(subcommand, hide = true)]
    Internal(internal::InternalCommand),
    /// Print a shell completion script.
    ///
    /// Example: podctl completion bash > /etc/bash_completion.d/podctl
    Completion { shell: clap_complete::Shell },
}

fn main() -> ExitCode {
    // SAFETY: called first thing, before any other thread exists; restores the
    // default SIGPIPE so `podctl ... | head` ends quietly like other CLI tools.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let cli = Cli::parse();
    if let Command::Completion { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(shell, &mut Cli::command(), "podctl", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    init_tracing(cli.verbose, cli.log_level.as_deref());
    if !nix::unistd::geteuid().is_root() {
        eprintln!("podctl: must run as root (pods need namespaces, mounts and cgroups)");
        return ExitCode::from(EXIT_FAILURE);
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            // Each cause once: library errors often say their source already.
            eprintln!("error: {}", podcore::supervisor::chain(error.as_ref()));
            ExitCode::from(exit_code(&error))
        }
    }
}

/// `--restart-mode`, see [`podcore::pod::RestartMode`].
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RestartModeArg {
    Policy,
    Client,
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let root = cli.root.as_path();
    match cli.command {
        Command::Image(command) => {
            image_cmd::run(root, &open_store(root)?, &cli.registries, command)?
        }
        Command::Internal(command) => {
            internal::run(root, &open_store(root)?, &cli.registries, command)?
        }
        Command::Login {
            server,
            username,
            password,
            password_stdin,
        } => image_cmd::login(&cli.registries, &server, username, password, password_stdin)?,
        Command::Logout { server } => image_cmd::logout(&server)?,
        Command::Run {
            file,
            detach,
            rm,
            backoff,
            allow_host_paths,
            allow_privileged,
            allow_host_namespaces,
            log_max_size,
            log_max_files,
            cni_conf_dir,
            cni_bin_dir,
            restart_mode,
        } => {
            let store = open_store(root)?;
            let args = pod_cmd::RunArgs {
                file,
                detach,
                remove: rm,
                backoff,
                allow_host_paths,
                allow_privileged,
                allow_host_namespaces,
                log_max_size,
                log_max_files,
                cni: podcore::network::CniPaths {
                    conf_dir: cni_conf_dir,
                    bin_dirs: cni_bin_dir,
                },
                restart_mode: match restart_mode {
                    RestartModeArg::Policy => podcore::pod::RestartMode::Policy,
                    RestartModeArg::Client => podcore::pod::RestartMode::Client,
                },
            };
            return Ok(pod_cmd::run(root, &store, &cli.registries, args)? as u8);
        }
        Command::Get {
            name,
            output,
            namespace,
            ..
        } => pod_cmd::get(root, name.as_deref(), &namespace, &output)?,
        Command::Delete {
            names,
            grace_period,
            all,
            namespace,
            ..
        } => {
            if names.is_empty() && !all {
                anyhow::bail!(Usage("name the pods to delete, or use --all".into()));
            }
            pod_cmd::delete(root, &names, all, &namespace, grace_period)?
        }
        Command::Logs {
            pod,
            container,
            follow,
            previous,
            timestamps,
            tail,
            namespace,
        } => pod_cmd::logs(
            root,
            pod_cmd::LogsArgs {
                namespace: &namespace,
                name: &pod,
                container: container.as_deref(),
                follow,
                previous,
                timestamps,
                tail,
            },
        )?,
        Command::Describe {
            name, namespace, ..
        } => pod_cmd::describe(root, &namespace, &name)?,
        Command::Ns { name, namespace } => pod_cmd::namespaces_table(root, &namespace, &name)?,
        Command::Exec {
            stdin,
            tty,
            name,
            container,
            namespace,
            command,
        } => {
            return pod_cmd::exec(
                root,
                &namespace,
                &name,
                container.as_deref(),
                command,
                stdin,
                tty,
            );
        }
        Command::Recover { name, namespace } => pod_cmd::recover(root, &namespace, &name)?,
        Command::PortForward {
            name,
            ports,
            address,
            namespace,
        } => port_forward::run(root, &namespace, &name, &ports, address)?,
        Command::Inspect { name, namespace } => pod_cmd::inspect(root, &namespace, &name)?,
        Command::Completion { .. } => unreachable!("handled before the root check"),
    }
    Ok(0)
}

/// A usage error found after parsing: exit code 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Open the image store, giving a fresh one the pause image.
fn open_store(root: &Path) -> anyhow::Result<Store> {
    let store = Store::open(root).map_err(anyhow::Error::from)?;
    match pause_binary() {
        Some(binary) => {
            store.ensure_pause(&binary)?;
        }
        None => tracing::warn!(
            "no pause binary found (PODCTL_PAUSE, beside podctl, /usr/libexec/podctl): the pause image is not in the store"
        ),
    }
    Ok(store)
}

/// The static pause binary: `PODCTL_PAUSE`, else beside podctl, else the
/// usual install folders.
fn pause_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PODCTL_PAUSE") {
        return Some(PathBuf::from(path));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("pause")));
    beside
        .into_iter()
        .chain(
            [
                "/usr/libexec/podctl/pause",
                "/usr/local/libexec/podctl/pause",
            ]
            .map(PathBuf::from),
        )
        .find(|p| p.is_file())
}

fn exit_code(error: &anyhow::Error) -> u8 {
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<Usage>().is_some())
    {
        return EXIT_USAGE;
    }
    let not_found = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<podcore::image::Error>(),
            Some(podcore::image::Error::NotFound { .. })
        ) || matches!(
            cause.downcast_ref::<podcore::pod::PodError>(),
            Some(podcore::pod::PodError::NotFound { .. })
        ) || cause.downcast_ref::<pod_cmd::NotFound>().is_some()
    });
    if not_found {
        EXIT_NOT_FOUND
    } else {
        EXIT_FAILURE
    }
}

fn init_tracing(verbose: u8, level: Option<&str>) {
    let filter = match (level, verbose) {
        (Some(level), _) => level.to_string(),
        (None, 0) => "warn,libcgroups=error".into(),
        (None, 1) => "debug,libcontainer=info,libcgroups=error".into(),
        (None, _) => "trace".into(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
}
