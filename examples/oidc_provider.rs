//! The test OIDC provider (tests/support/oidc_provider.rs) as a process, for the browser test and
//! for trying the web app's or the CLI's sign-in by hand. Prints `{"issuer":"http://127.0.0.1:PORT"}`
//! on one line once it listens, then serves until killed. Usage:
//!
//! `oidc_provider --client-id ID --redirect URI [--redirect URI …] [--access-ttl SECONDS] [--port N]`
//!
//! A `--redirect http://127.0.0.1/callback` (no port) accepts that path on any loopback port.

#[path = "../tests/support/oidc_provider.rs"]
mod oidc_provider;

use std::io::Write;
use std::time::Duration;

use oidc_provider::{Provider, ProviderConfig};

const USAGE: &str = "usage: oidc_provider --client-id ID --redirect URI [--redirect URI ...] \
                     [--access-ttl SECONDS (300)] [--port N (0: any)]";

fn parse(mut args: impl Iterator<Item = String>) -> Result<ProviderConfig, String> {
    let mut client_id = None;
    let mut config = ProviderConfig {
        client_id: String::new(),
        redirect_uris: Vec::new(),
        access_ttl: Duration::from_secs(300),
        port: 0,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--client-id" => client_id = Some(value),
            "--redirect" => config.redirect_uris.push(value),
            "--access-ttl" => {
                let seconds = value
                    .parse()
                    .map_err(|_| format!("--access-ttl is a number of seconds, not {value:?}"))?;
                config.access_ttl = Duration::from_secs(seconds);
            }
            "--port" => {
                config.port = value
                    .parse()
                    .map_err(|_| format!("--port is a port number, not {value:?}"))?;
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    config.client_id = client_id.ok_or("--client-id is required")?;
    if config.redirect_uris.is_empty() {
        return Err("at least one --redirect is required".into());
    }
    Ok(config)
}

#[tokio::main]
async fn main() {
    let config = parse(std::env::args().skip(1)).unwrap_or_else(|error| {
        eprintln!("{error}\n{USAGE}");
        std::process::exit(2);
    });
    let provider = Provider::start(config).await;
    // The browser test reads this line to learn the port.
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{}",
        serde_json::json!({ "issuer": provider.issuer })
    )
    .unwrap();
    stdout.flush().unwrap();
    drop(stdout);
    // Serves until the test kills it (SIGTERM or ctrl-c end the process as they normally do).
    std::future::pending::<()>().await;
}
