//! `podctl`: run Kubernetes pods on one host.

use clap::Parser;

#[derive(Parser)]
#[command(version, about = "Run Kubernetes pods on one Linux host")]
struct Cli {}

fn main() {
    Cli::parse();
}
