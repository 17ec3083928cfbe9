//! One file per podctl command, each with its clap arguments and its `run`.

pub mod apply;
pub mod attach;
pub mod create;
pub mod delete;
pub mod describe;
pub mod exec;
pub mod get;
pub mod grpc_probe;
pub mod image;
pub mod inspect;
pub mod internal;
pub mod login;
pub mod logs;
pub mod ns;
pub mod objects;
pub mod port_forward;
pub mod recover;
pub mod run;

use clap::Subcommand;

use crate::Globals;

/// Exit code 0: the command did what it was asked.
const DONE: u8 = 0;

#[derive(Subcommand)]
pub enum Command {
    /// Create and run the pod(s) of a manifest (Kubernetes YAML or podctl TOML).
    ///
    /// In the foreground (default) every container's output is printed with
    /// its name, and podctl returns when the pods end: 0 when they succeeded,
    /// 1 when one failed; Ctrl-C deletes them. With -d it prints each pod's
    /// name and returns once the app containers run.
    ///
    /// Example: podctl run -d -f examples/two-containers-pod.yml
    Run(run::RunArgs),
    /// Store a manifest's ConfigMaps and Secrets and run its pods that do not
    /// exist yet (detached); a changed ConfigMap or Secret reaches the
    /// volumes of the pods that use it at once.
    ///
    /// Example: podctl apply -f examples/configmap-env-and-volume.yml
    Apply(apply::ApplyArgs),
    /// Make a ConfigMap or a Secret from literals and files.
    ///
    /// Example: podctl create configmap settings --from-literal mode=fast
    #[command(subcommand)]
    Create(create::CreateCommand),
    /// Log in to a registry: the credential is checked, then stored (mode 0600)
    /// in $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
    ///
    /// Example: echo secret | podctl login 127.0.0.1:5000 -u alice --password-stdin
    Login(login::LoginArgs),
    /// Remove a registry's stored credential.
    ///
    /// Example: podctl logout 127.0.0.1:5000
    Logout(login::LogoutArgs),
    /// List pods, or show one as Kubernetes shows it.
    ///
    /// Example: podctl get pods; podctl get pod two-containers-pod -o json
    Get(get::GetArgs),
    /// Delete pods: preStop hooks, SIGTERM, then SIGKILL after the grace period.
    ///
    /// `stop` is an alias: podctl keeps no stopped pods, so stopping a pod
    /// deletes it (its logs go with it; read them first).
    ///
    /// Example: podctl delete pod two-containers-pod --grace-period 0
    #[command(alias = "stop")]
    Delete(delete::DeleteArgs),
    /// Print a container's logs.
    ///
    /// Example: podctl logs hello
    Logs(logs::LogsArgs),
    /// Show a pod in detail: containers, states, restarts, mounts, conditions, volumes, events.
    ///
    /// Example: podctl describe pod crashy
    Describe(describe::DescribeArgs),
    /// A pod's namespaces as a table (NS TYPE PID CONTAINER SHARED): which are
    /// shared with pause, which are the host's, which are the container's own.
    ///
    /// Example: podctl ns two-containers-pod
    Ns(PodName),
    /// Run a command in a running container (its namespaces, cgroup, root,
    /// user and environment) and return its exit code.
    ///
    /// Example: podctl exec web -c content -- wget -qO- http://localhost:8080/
    Exec(exec::ExecArgs),
    /// Show a running container's output from now on and, with -i, send it
    /// this terminal's input (a container with stdin: true or tty: true).
    ///
    /// Example: echo hello | podctl attach reader -i
    Attach(attach::AttachArgs),
    /// Forward local ports to ports of a pod, as kubectl port-forward does
    /// (no hostPort needed); Ctrl-C ends it.
    ///
    /// Example: podctl port-forward web 8080:80
    PortForward(port_forward::PortForwardArgs),
    /// Give a pod whose supervisor died (status Unknown) a new supervisor: the
    /// sandbox is recreated and the containers restarted, keeping restart
    /// counts, logs and volumes.
    ///
    /// Example: podctl recover two-containers-pod
    Recover(PodName),
    /// The runtime's view of a pod as JSON: pause and container pids,
    /// namespace ids, cgroups, root filesystems and log files.
    ///
    /// Example: podctl inspect two-containers-pod
    Inspect(PodName),
    /// Manage local images (OCI image layouts and archives).
    ///
    /// Example: podctl image import target/images/busybox (the image of every example pod)
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Work a pod's supervisor hands to podctl (not for people).
    #[command(subcommand, hide = true)]
    Internal(internal::InternalCommand),
    /// Print a shell completion script.
    ///
    /// Example: podctl completion bash > /etc/bash_completion.d/podctl
    Completion(CompletionArgs),
}

/// A pod named in a namespace: the arguments of commands about one pod.
#[derive(clap::Args)]
pub struct PodName {
    pub name: String,
    #[arg(short, long, default_value = "default")]
    pub namespace: String,
}

/// `podctl completion SHELL`.
#[derive(clap::Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

/// The resource `get`, `describe` and `delete` are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Resource {
    #[value(alias = "pod", alias = "po")]
    Pods,
    #[value(alias = "configmap", alias = "cm")]
    Configmaps,
    #[value(alias = "secret")]
    Secrets,
}

impl Resource {
    /// The kind of stored object, for ConfigMaps and Secrets.
    pub fn object_kind(self) -> Option<podcore::objects::Kind> {
        match self {
            Self::Pods => None,
            Self::Configmaps => Some(podcore::objects::Kind::ConfigMap),
            Self::Secrets => Some(podcore::objects::Kind::Secret),
        }
    }
}

/// Run one command; its exit code.
pub fn run(globals: &Globals, command: Command) -> anyhow::Result<u8> {
    let root = globals.root.as_path();
    match command {
        Command::Run(args) => return run::run(globals, args),
        Command::Exec(args) => return exec::run(root, args),
        Command::Attach(args) => attach::run(root, args)?,
        Command::Image(command) => image::run(globals, command)?,
        Command::Apply(args) => apply::run(globals, args)?,
        Command::Create(command) => create::run(root, command)?,
        Command::Internal(command) => internal::run(globals, command)?,
        Command::Login(args) => login::login(globals, args)?,
        Command::Logout(args) => login::logout(args)?,
        Command::Get(args) => get::run(root, args)?,
        Command::Delete(args) => delete::run(root, args)?,
        Command::Logs(args) => logs::run(root, args)?,
        Command::Describe(args) => describe::run(root, args)?,
        Command::Ns(pod) => ns::run(root, pod)?,
        Command::PortForward(args) => port_forward::run(root, args)?,
        Command::Recover(pod) => recover::run(root, pod)?,
        Command::Inspect(pod) => inspect::run(root, pod)?,
        Command::Completion(_) => unreachable!("handled before the root check"),
    }
    Ok(DONE)
}
