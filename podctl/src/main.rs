//! `podctl`: run Kubernetes pods on one Linux host.
//!
//! Each command is one file of [`commands`]; what several share is beside
//! it: the image store ([`store`]), registry settings ([`registries`]), how a
//! pod's supervisor is started ([`launch`]) and asked ([`pods`]), and how
//! things are printed ([`output`], [`terminal`]).
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 not found.

mod commands;
mod error;
mod launch;
mod output;
mod pods;
mod registries;
mod store;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::error::CliError;

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
    #[command(flatten)]
    globals: Globals,
    /// Log what podctl does (tracing at debug level; -vv for trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log level filter (error, warn, info, debug, trace or a tracing filter).
    #[arg(long, global = true, env = "PODCTL_LOG")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: commands::Command,
}

/// What every command may need: where podctl keeps its state, and where
/// images come from.
#[derive(clap::Args)]
pub struct Globals {
    /// Where podctl keeps images and pods.
    #[arg(
        long,
        global = true,
        env = "PODCTL_ROOT",
        default_value = "/var/lib/podctl"
    )]
    pub root: PathBuf,
    #[command(flatten)]
    pub registries: registries::RegistryArgs,
}

impl Globals {
    /// The image store under the root, given the pause image if it lacks it.
    pub fn store(&self) -> anyhow::Result<podcore::image::Store> {
        store::open(&self.root)
    }
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
    let mut cli = Cli::parse();
    // Made absolute once: the supervisor and libcontainer work from other
    // folders, where a relative root would name nothing (or another root).
    if let Ok(root) = std::path::absolute(&cli.globals.root) {
        cli.globals.root = root;
    }
    if let commands::Command::Completion(args) = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(
            args.shell,
            &mut Cli::command(),
            "podctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    init_tracing(cli.verbose, cli.log_level.as_deref());
    if !nix::unistd::geteuid().is_root() {
        eprintln!("podctl: must run as root (pods need namespaces, mounts and cgroups)");
        return ExitCode::from(EXIT_FAILURE);
    }
    match commands::run(&cli.globals, cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            // Each cause once: library errors often say their source already.
            eprintln!("error: {}", podcore::supervisor::chain(error.as_ref()));
            ExitCode::from(exit_code(&error))
        }
    }
}

fn exit_code(error: &anyhow::Error) -> u8 {
    let mut not_found = false;
    for cause in error.chain() {
        match cause.downcast_ref::<CliError>() {
            Some(CliError::Usage(_)) => return EXIT_USAGE,
            Some(CliError::NotFound(_)) => not_found = true,
            None => {}
        }
        not_found |= matches!(
            cause.downcast_ref::<podcore::image::Error>(),
            Some(podcore::image::Error::NotFound { .. })
        ) || matches!(
            cause.downcast_ref::<podcore::pod::PodError>(),
            Some(podcore::pod::PodError::NotFound { .. })
        );
    }
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
