//! `baleia`: runc's command line over runtime-core.
//!
//! Every command is a thin call into the library. Failures print one line on stderr, add one
//! `level=error` line to the `--log` file (JSON with `--log-format json`, as containerd reads
//! it) and exit 1.

// The C entry point below replaces std's: see `main`. Not in the unit tests, whose harness
// brings its own.
#![cfg_attr(not(test), no_main)]

mod cli;
mod commands;
mod logging;
mod tty;
mod update_flags;

pub use cli::{Cli, Command, CreateArgs, ExecArgs, LogFormat, UpdateArgs};

/// The C `main`, so that std's runtime set-up does not run: its stack-overflow handler (an
/// alternate signal stack, four sigactions, and glibc reading /proc/self/maps to find the main
/// thread's stack: about 20 syscalls), paid twice per container because the binary
/// protection executes the program again. What of it baleia relies on is done here: fds 0-2
/// are made valid and SIGPIPE is ignored (a write to a dead peer's socket must fail with
/// EPIPE, not kill us). `std::env::args` still works: glibc hands argv to std's constructor.
/// A stack overflow now ends in a plain SIGSEGV instead of std's message.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    sanitize_stdio();
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // One malloc arena: the only other thread we start (create's, making the network
    // namespace) allocates a few bytes, for which glibc would map and trim a 64 MiB arena of
    // its own (four syscalls per container).
    // SAFETY: mallopt only sets a malloc parameter; no other thread exists yet.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let code = cli_main();
    // exit, not return: it flushes std's stdout buffer, which returning from main would not.
    std::process::exit(i32::from(code))
}

/// The test harness replaces this `main`; it keeps the command code reachable for the compiler.
#[cfg(test)]
fn main() {
    sanitize_stdio();
    std::process::exit(i32::from(cli_main()))
}

/// fds 0, 1 and 2 open: a closed one would be taken by the first file baleia opens (a state
/// file, the log), and whatever is printed would land there. What std's start-up does.
fn sanitize_stdio() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll on a local array of three pollfds.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: opening /dev/null and moving it onto a closed standard fd.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 && null != p.fd {
                libc::dup2(null, p.fd);
                libc::close(null);
            }
        }
    }
}

fn cli_main() -> u8 {
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
            return 0;
        }
        Err(e) => {
            // One line and status 1, as runc's usage errors.
            eprintln!("{e}");
            return 1;
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
            return 1;
        }
    };
    if let Err(e) = protected {
        logger.error(&e.to_string());
        return 1;
    }
    match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(f) => {
            logger.error(&f.message);
            f.code
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
