//! `podctl login` and `podctl logout`: a registry's credential, checked and
//! stored where Docker and podman keep theirs.

use anyhow::Context;
use podcore::image::registry::{Credential, config::store_credential};

use crate::Globals;

/// `podctl login` arguments.
#[derive(clap::Args)]
pub struct LoginArgs {
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
}

/// `podctl logout` arguments.
#[derive(clap::Args)]
pub struct LogoutArgs {
    /// The registry, HOST[:PORT].
    server: String,
}

/// `podctl login`: check the credential against the registry, then store it.
pub fn login(globals: &Globals, args: LoginArgs) -> anyhow::Result<()> {
    let LoginArgs {
        server,
        username,
        password,
        password_stdin,
    } = args;
    let password = match (password, password_stdin) {
        (Some(_), true) => anyhow::bail!("give --password or --password-stdin, not both"),
        (Some(p), false) => p,
        (None, true) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("read the password from stdin")?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => anyhow::bail!("no password: give --password-stdin (or --password)"),
    };
    let credential = Credential { username, password };
    globals
        .registries
        .registry()?
        .check_login(&server, &credential)
        .map_err(anyhow::Error::from)?;
    let file = store_credential(&server, Some(&credential)).map_err(anyhow::Error::msg)?;
    println!("Login Succeeded (credential stored in {})", file.display());
    Ok(())
}

/// `podctl logout`.
pub fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let server = args.server;
    let file = store_credential(&server, None).map_err(anyhow::Error::msg)?;
    println!(
        "Removed login credentials for {server} from {}",
        file.display()
    );
    Ok(())
}
