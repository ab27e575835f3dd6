//! `jindou-powerfs`: mount the power-losing filesystem from the command line, and cut its power.
//!
//! ```text
//! jindou-powerfs mount BACKING MOUNTPOINT   # foreground; SIGUSR1 cuts, SIGUSR2 cuts with a
//!                                           # torn last write, SIGINT/SIGTERM unmount
//! jindou-powerfs cut MOUNTPOINT [--tear | --tear-bytes N]
//! jindou-powerfs status MOUNTPOINT
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jindou_powerfs::control::seed;
use jindou_powerfs::model::CONTROL_NAME;
use jindou_powerfs::{Mounted, Tear};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

#[derive(Parser)]
#[command(about = "A FUSE filesystem that loses everything not fsynced when its power is cut")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Mounts BACKING at MOUNTPOINT and serves it until SIGINT or SIGTERM.
    Mount {
        backing: PathBuf,
        mountpoint: PathBuf,
    },
    /// Cuts the power of the filesystem mounted at MOUNTPOINT (through its control file).
    Cut {
        mountpoint: PathBuf,
        /// Keep a random sector-aligned prefix of the last unsynced write.
        #[arg(long)]
        tear: bool,
        /// Keep exactly this many leading bytes of the last unsynced write.
        #[arg(long, conflicts_with = "tear")]
        tear_bytes: Option<u64>,
    },
    /// Prints the counters of the filesystem mounted at MOUNTPOINT.
    Status { mountpoint: PathBuf },
}

fn control(mountpoint: &Path, command: &str) -> std::io::Result<String> {
    let path = mountpoint.join(CONTROL_NAME);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .write_all(command.as_bytes())?;
    let mut out = String::new();
    std::fs::File::open(&path)?.read_to_string(&mut out)?;
    Ok(out)
}

fn serve(backing: &Path, mountpoint: &Path) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGUSR1, SIGUSR2, SIGINT, SIGTERM])?;
    let mounted = Mounted::mount(backing, mountpoint)?;
    eprintln!(
        "jindou-powerfs: {} mounted at {} (SIGUSR1: cut, SIGUSR2: cut with a torn write)",
        backing.display(),
        mountpoint.display()
    );
    for sig in signals.forever() {
        match sig {
            SIGUSR1 => eprintln!("jindou-powerfs: {}", mounted.cut(Tear::None)),
            SIGUSR2 => eprintln!("jindou-powerfs: {}", mounted.cut(Tear::Random(seed()))),
            _ => break,
        }
    }
    mounted.unmount()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Mount {
            backing,
            mountpoint,
        } => serve(&backing, &mountpoint),
        Cmd::Cut {
            mountpoint,
            tear,
            tear_bytes,
        } => {
            let cmd = match (tear, tear_bytes) {
                (_, Some(n)) => format!("cut tear={n}"),
                (true, None) => "cut tear".to_string(),
                (false, None) => "cut".to_string(),
            };
            control(&mountpoint, &cmd).map(|out| print!("{out}"))
        }
        Cmd::Status { mountpoint } => control(&mountpoint, "status").map(|out| print!("{out}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jindou-powerfs: {e}");
            ExitCode::FAILURE
        }
    }
}
