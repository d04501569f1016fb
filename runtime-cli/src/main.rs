//! `baleia`: runc's command line over runtime-core.
//!
//! Every command is a thin call into the library. Failures print one line on stderr, add one
//! `level=error` line to the `--log` file (JSON with `--log-format json`, as containerd reads
//! it) and exit 1.

// The C entry point below replaces std's: see `main`.
#![no_main]

mod commands;
mod logging;
mod tty;
mod update_flags;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Log line format (`--log-format`).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Parser, Debug)]
#[command(
    name = "baleia",
    about = "baleia: an OCI container runtime with runc's command line",
    disable_version_flag = true
)]
pub struct Cli {
    /// Root directory for container state [default: /run/baleia, or $XDG_RUNTIME_DIR/baleia
    /// for a non-root user].
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Append errors (and debug messages with --debug) to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug messages too.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd's cgroup driver: the container goes into a transient scope made by systemd
    /// (cgroupsPath `slice:prefix:name`).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Ignore cgroup permission errors: true, false or auto (auto: when not root, or root in a
    /// user namespace).
    #[arg(long, global = true, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Path to criu (accepted for runc compatibility; checkpoint/restore are refused).
    #[arg(long, global = true, hide = true)]
    criu: Option<PathBuf>,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket to send the console's pty master to.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// File to write the init's host pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N additional fds (3..3+N) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Unix socket to send a pidfd of the container's init to.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// The container id.
    id: String,
}

/// runc's `exec` flags.
#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// Unix socket to send the terminal's pty master to.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Environment variables to set (KEY=VALUE), repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// Allocate a terminal.
    #[arg(short, long)]
    tty: bool,
    /// User to run as: `UID[:GID]`.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional group ids, repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// process.json describing the process (overrides the command line).
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's host pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// SELinux label (not implemented: refused).
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// AppArmor profile (not implemented: refused).
    #[arg(long)]
    apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Capabilities to add, repeatable.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Pass N additional fds (3..3+N) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Run in an existing sub-cgroup of the container's: [controller[,controller]:]path
    /// (repeatable on cgroup v1).
    #[arg(long)]
    cgroup: Vec<String>,
    /// Allow exec in a paused container (the process runs once resumed).
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Unix socket to send a pidfd of the process to.
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// The container id.
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// runc's `update` flags: a LinuxResources JSON (`-` for stdin) or one flag per field.
/// Values may be negative: -1 means "unlimited" for the memory, swap, quota and pids limits.
#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// Path to a LinuxResources JSON file, `-` for stdin.
    #[arg(short, long)]
    resources: Option<String>,
    #[arg(long = "blkio-weight", allow_negative_numbers = true)]
    blkio_weight: Option<String>,
    #[arg(long = "cpu-period", allow_negative_numbers = true)]
    cpu_period: Option<String>,
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    cpu_quota: Option<String>,
    #[arg(long = "cpu-burst", allow_negative_numbers = true)]
    cpu_burst: Option<String>,
    #[arg(long = "cpu-share", allow_negative_numbers = true)]
    cpu_share: Option<String>,
    #[arg(long = "cpu-rt-period", allow_negative_numbers = true)]
    cpu_rt_period: Option<String>,
    #[arg(long = "cpu-rt-runtime", allow_negative_numbers = true)]
    cpu_rt_runtime: Option<String>,
    #[arg(long = "cpuset-cpus", allow_negative_numbers = true)]
    cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems", allow_negative_numbers = true)]
    cpuset_mems: Option<String>,
    #[arg(long = "kernel-memory", allow_negative_numbers = true)]
    kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_negative_numbers = true)]
    kernel_memory_tcp: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    memory: Option<String>,
    #[arg(long = "memory-reservation", allow_negative_numbers = true)]
    memory_reservation: Option<String>,
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    memory_swap: Option<String>,
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pids_limit: Option<String>,
    /// Intel RDT L3 cache schema of the container's own resctrl group.
    #[arg(long = "l3-cache-schema")]
    l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema of the container's own resctrl group.
    #[arg(long = "mem-bw-schema", allow_negative_numbers = true)]
    mem_bw_schema: Option<String>,
    id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container; its process waits until `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's init, or with --all to every process.
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container; --force kills it first if it runs.
    Delete {
        /// Kill the container if it is running.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, wait for it and exit with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container is started.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// List containers.
    List {
        /// Output format: table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json into the bundle directory.
    Spec {
        /// Directory to write config.json into.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for a non-root user: a user namespace mapping the caller's uid and gid to
        /// root, /sys bound from the host, no network namespace and no resource limits.
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless: bool,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List a container's processes: host pids as JSON, or `ps` lines (extra args go to ps).
    Ps {
        /// Output format: table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Arguments for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change a container's resource limits (omitted fields stay as they are).
    Update(UpdateArgs),
    /// Report a container's resource usage (once with --stats, else every --interval).
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats events (Go duration: 5s, 500ms, 1m).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Print the features this runtime supports (runtime-spec Features JSON).
    Features,
    /// Checkpoint a running container (needs CRIU: refused).
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Restore a checkpointed container (needs CRIU: refused).
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

/// The C `main`, so that std's runtime set-up does not run: its stack-overflow handler (an
/// alternate signal stack, four sigactions, and glibc reading /proc/self/maps to find the main
/// thread's stack: about 20 syscalls), paid twice per container because the binary
/// protection executes the program again. What of it baleia relies on is done here: fds 0-2
/// are made valid and SIGPIPE is ignored (a write to a dead peer's socket must fail with
/// EPIPE, not kill us). `std::env::args` still works: glibc hands argv to std's constructor.
/// A stack overflow now ends in a plain SIGSEGV instead of std's message.
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    sanitize_stdio();
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = cli_main();
    // exit, not return: it flushes std's stdout buffer, which returning from main would not.
    std::process::exit(i32::from(code))
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
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors exit 1 like runc's (clap would use 2), help and --version 0.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
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
