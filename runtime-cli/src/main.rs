//! `baleia`: runc's command line over runtime-core.
//!
//! Every command is a thin call into the library. Failures print one line on stderr, add one
//! `level=error` line to the `--log` file (JSON with `--log-format json`, as containerd reads
//! it) and exit 1.

mod cli;
mod commands;
mod logging;
mod tty;
mod update_flags;

use std::process::ExitCode;

pub use cli::{Cli, Command, CreateArgs, ExecArgs, LogFormat, UpdateArgs};

fn main() -> ExitCode {
    // First thing, before even parsing the command line (the re-executed program parses it):
    // this may execute the program again, from a view of its binary that the containers
    // cannot write. Any argument naming a command that makes container processes triggers it;
    // whether that is the command is only known after parsing, which decides what a failure
    // means (see below).
    let protected = std::env::args_os()
        .skip(1)
        .any(|a| a == "create" || a == "run" || a == "exec")
        .then(runtime_core::protect_binary);
    let cli = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(cli::Parsed::Cli(c)) => *c,
        Ok(cli::Parsed::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line and status 1, as runc's usage errors.
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    // Only the commands that make container processes need (and pay for) the protection;
    // for them, not having it is an error.
    let protected = match (&cli.command, protected) {
        (Some(Command::Create(_) | Command::Run { .. } | Command::Exec(_)), p) if !cli.version => {
            p.unwrap_or_else(runtime_core::protect_binary).map(drop)
        }
        _ => Ok(()),
    };
    reserve_preserved_fds(&cli);
    let logger = match logging::Logger::open(cli.log.as_deref(), cli.log_format) {
        Ok(l) => l.install(cli.debug),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = protected {
        logger.error(&e.to_string());
        return ExitCode::from(1);
    }
    match commands::dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            logger.error(&f.message);
            ExitCode::from(f.code)
        }
    }
}

/// `--preserve-fds N` hands fds 3..3+N to the container. If the caller left some of them
/// closed, the runtime's own files (the log, the state directory) would land there and leak
/// into the container: fill the gaps with /dev/null before opening anything.
fn reserve_preserved_fds(cli: &Cli) {
    let n = match &cli.command {
        Some(Command::Create(a)) => a.preserve_fds + commands::listen_fds(),
        Some(Command::Run { create, .. }) => create.preserve_fds + commands::listen_fds(),
        Some(Command::Exec(a)) => a.preserve_fds,
        _ => 0,
    };
    for fd in 3..3 + n as i32 {
        // SAFETY: F_GETFD on any number is harmless; open/dup2/close act on fds we own.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 && null != fd {
                    libc::dup2(null, fd);
                    libc::close(null);
                }
            }
        }
    }
}
