//! The `sluice` command: `serve` the gateway, run the `mock` provider, `check` a config,
//! manage virtual `keys` through the admin API.

mod keys;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_core::Config;
use sluice_core::mock::MockSettings;
use tokio::net::TcpListener;

// Opt-in (`--features mimalloc`): fewer instructions per request than glibc's allocator,
// at the price of a larger resident set (see bench/README.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "An AI gateway: one endpoint in front of many LLM providers."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway. Without --config: the built-in mock provider plus every provider
    /// whose API key is in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GROQ_API_KEY, …).
    Serve {
        /// YAML config file.
        #[arg(long, short, env = "SLUICE_CONFIG")]
        config: Option<String>,
        /// Address to listen on (overrides server.listen).
        #[arg(long, short, env = "SLUICE_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Run the mock provider (OpenAI dialect) as its own server.
    Mock {
        #[arg(long, short, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        /// YAML file of mock settings (reply, latency, jitter, first_token, between_tokens, faults).
        #[arg(long)]
        settings: Option<String>,
    },
    /// Validate a config file without serving; prints file:line and the problem.
    Check { file: String },
    /// Create, list and disable virtual keys through a running gateway's admin API.
    Keys(keys::KeysArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match build_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config, listen } => serve(config, listen).await,
            Command::Mock { listen, settings } => mock(listen, settings).await,
            Command::Check { file } => check(&file),
            Command::Keys(args) => keys::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One worker thread (`SLUICE_WORKERS=1` or `TOKIO_WORKER_THREADS=1`): tokio's
/// current-thread scheduler, which wakes tasks without cross-thread synchronisation;
/// otherwise the multi-thread scheduler with that many workers (default: one per core).
fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = ["SLUICE_WORKERS", "TOKIO_WORKER_THREADS"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse::<usize>().ok());
    match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(workers) if workers > 1 => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn serve(config_path: Option<String>, listen: Option<SocketAddr>) -> Result<(), String> {
    let config = match &config_path {
        Some(path) => Config::load(path).map_err(|err| err.to_string())?,
        None => Config::from_env(|name| std::env::var(name).ok()),
    };
    let addr = listen.unwrap_or(config.server.listen);
    let gateway = sluice_gateway::Gateway::from_config(&config)
        .await
        .map_err(|err| err.to_string())?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    for upstream in gateway.providers() {
        tracing::info!(provider = %upstream.name, kind = upstream.kind.as_str(), base_url = %upstream.base_url(), "provider ready");
    }
    tracing::info!(address = %local, config = config_path.as_deref().unwrap_or("(none: environment defaults)"), "sluice is serving");
    sluice_gateway::serve(
        std::sync::Arc::clone(&gateway),
        listener,
        shutdown_signal(),
        config.server.shutdown_grace.get(),
    )
    .await
    .map_err(|err| err.to_string())?;
    // The spend of the last moments goes to the store, and leased limits back to
    // Redis, before the process ends.
    if let Some(governor) = gateway.governor()
        && let Err(err) = governor.shutdown().await
    {
        tracing::error!(error = %err, "could not write the last spend to the store");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn mock(listen: SocketAddr, settings_path: Option<String>) -> Result<(), String> {
    let settings = match settings_path {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
            sluice_core::config::parse_mock_settings(&text)
                .map_err(|err| format!("{path}: {err}"))?
        }
        None => MockSettings::default(),
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    tracing::info!(address = %listen, "sluice mock provider is serving");
    sluice_mock::serve(settings, listener, shutdown_signal())
        .await
        .map_err(|err| err.to_string())
}

fn check(file: &str) -> Result<(), String> {
    let config = Config::load(file).map_err(|err| err.to_string())?;
    println!(
        "{file}: ok ({} providers, {} routes)",
        config.providers.len(),
        config.routes.len()
    );
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
