//! `podctl`: run Kubernetes pods on one Linux host.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 not found.

mod image_cmd;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use podcore::image::Store;

/// Exit code for a runtime failure.
const EXIT_FAILURE: u8 = 1;
/// Exit code for something named that does not exist (pod, container, image).
const EXIT_NOT_FOUND: u8 = 3;

#[derive(Parser)]
#[command(
    version,
    about = "Run Kubernetes pods on one Linux host",
    after_help = "Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 not found.\n\
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage local images (OCI image layouts and archives).
    #[command(subcommand)]
    Image(image_cmd::ImageCommand),
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
    init_tracing(cli.verbose, cli.log_level.as_deref());
    if !nix::unistd::geteuid().is_root() {
        eprintln!("podctl: must run as root (pods need namespaces, mounts and cgroups)");
        return ExitCode::from(EXIT_FAILURE);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Image(command) => image_cmd::run(&open_store(&cli.root)?, command),
    }
}

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
    let not_found = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<podcore::image::Error>(),
            Some(podcore::image::Error::NotFound { .. })
        )
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
        (None, 0) => "warn".into(),
        (None, 1) => "debug".into(),
        (None, _) => "trace".into(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
