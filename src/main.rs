//! The `jindou` binary: parse the command line, load the config, run the shards until a
//! signal, stop gracefully.

use clap::{Parser, Subcommand};
use jindou::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc malloc: the message path allocates small, short-lived buffers on
/// every shard, and glibc's arena bookkeeping (`malloc_consolidate`, `unlink_chunk`) took about
/// a third of the server's CPU under load in `perf`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Jindou (筋斗云): a WuKongIM-compatible instant-messaging server.
#[derive(Parser, Debug)]
#[command(name = "jindou", version, about)]
struct Cli {
    /// YAML config file with WuKongIM's keys (and Jindou's); embedded defaults without it.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the effective configuration (defaults, file and WK_* variables merged) and exit.
    Config,
    /// Open every shard's store with repair on: a corrupt record that is not a torn tail is
    /// truncated (with everything after it) and reported. Run with the server stopped.
    Repair,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, report) = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("jindou: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Config) = cli.command {
        for key in &report.unknown_keys {
            eprintln!("jindou: warning: unknown config key `{key}` ignored");
        }
        print!("{}", config.to_yaml());
        return ExitCode::SUCCESS;
    }
    let _log_guard = init_logging(&config);
    if let Some(Command::Repair) = cli.command {
        return repair(&config);
    }
    for key in &report.unknown_keys {
        tracing::warn!(key = %key, "unknown config key ignored");
    }
    let server = match jindou::server::start(config) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("jindou: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "jindou {} listening {}",
        env!("CARGO_PKG_VERSION"),
        server.addrs
    );
    let shutdown = server.shutdown_handle();
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("jindou: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let handle = signals.handle();
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            tracing::info!(signal = sig, "stopping");
            shutdown.trigger();
        }
    });
    let clean = server.wait();
    handle.close();
    if clean {
        tracing::info!("stopped");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Logs to stderr and, when `logger.dir` is set, to daily-rotated files there (relative paths
/// are under `rootDir`). The returned guard flushes the file writer at exit.
fn init_logging(config: &Config) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config.log_filter()))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_line_number(config.logger.line_num)
        .with_filter(filter());
    let (file, guard) = if config.logger.dir.is_empty() {
        (None, None)
    } else {
        let dir = std::path::Path::new(&config.root_dir).join(&config.logger.dir);
        let appender = tracing_appender::rolling::daily(dir, "jindou.log");
        let (writer, guard) = tracing_appender::non_blocking(appender);
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .with_line_number(config.logger.line_num)
            .with_filter(filter());
        (Some(layer), Some(guard))
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}

/// `jindou repair`: opens each shard's store with truncation of corrupt records allowed.
fn repair(config: &Config) -> ExitCode {
    let mut ok = true;
    for id in 0..config.effective_shards() {
        let mut sc = jindou::server::store_config(config, id);
        sc.repair = true;
        sc.sync_policy = jindou_storage::SyncPolicy::None;
        if !sc.dir.exists() {
            continue;
        }
        match jindou_storage::Store::open(&sc) {
            Ok(mut store) => {
                let flushed = store
                    .messages
                    .flush_blocking()
                    .and(store.meta.flush_blocking());
                match flushed {
                    Ok(()) => println!("shard {id}: {} is consistent", sc.dir.display()),
                    Err(e) => {
                        ok = false;
                        eprintln!("shard {id}: flush failed: {e}");
                    }
                }
            }
            Err(e) => {
                ok = false;
                eprintln!("shard {id}: cannot repair {}: {e}", sc.dir.display());
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
