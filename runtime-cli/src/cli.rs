//! runc's command line, parsed from a table of flags (clap was about a fifth of the binary).
//!
//! What it accepts, as the clap parser before it did: global flags before or after the
//! command; `--flag value`, `--flag=value`, `-f value`, `-fvalue`, `-f=value` and bundled
//! switches (`-qd`); flags between and after positionals; `--` ending the flags; for `exec`,
//! `ps`, `checkpoint` and `restore`, a trailing command line taken as is once it starts (an
//! unknown flag after the container id starts it); `-h`/`--help` and `help [COMMAND]`;
//! `-v`/`--version`. A switch also takes `=true`/`=false`, as Go's flag package (runc's)
//! does. A usage error is one line on stderr and exit status 1.

use std::ffi::OsString;
use std::path::PathBuf;

/// Log line format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The parsed command line.
#[derive(Debug)]
pub struct Cli {
    pub root: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub log_format: LogFormat,
    pub debug: bool,
    pub systemd_cgroup: bool,
    pub rootless: Option<String>,
    /// Accepted for runc compatibility; checkpoint/restore are refused.
    #[allow(dead_code)]
    pub criu: Option<PathBuf>,
    pub version: bool,
    pub command: Option<Command>,
}

#[derive(Debug, Clone)]
pub struct CreateArgs {
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub pidfd_socket: Option<PathBuf>,
    pub id: String,
}

/// runc's `exec` flags.
#[derive(Debug, Clone)]
pub struct ExecArgs {
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub tty: bool,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub process: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub process_label: Option<String>,
    pub apparmor: Option<String>,
    pub no_new_privs: bool,
    pub cap: Vec<String>,
    pub preserve_fds: u32,
    pub cgroup: Vec<String>,
    pub ignore_paused: bool,
    pub pidfd_socket: Option<PathBuf>,
    pub id: String,
    pub command: Vec<String>,
}

/// runc's `update` flags: a LinuxResources JSON (`-` for stdin) or one flag per field.
#[derive(Debug, Clone)]
pub struct UpdateArgs {
    pub resources: Option<String>,
    /// The one-value-per-field flags, as update_flags turns them into resources.
    pub flags: crate::update_flags::UpdateFlags,
    pub l3_cache_schema: Option<String>,
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[derive(Debug)]
pub enum Command {
    Create(CreateArgs),
    Start {
        id: String,
    },
    State {
        id: String,
    },
    Kill {
        all: bool,
        id: String,
        signal: Option<String>,
    },
    Delete {
        force: bool,
        id: String,
    },
    Run {
        create: CreateArgs,
        detach: bool,
        keep: bool,
    },
    List {
        format: String,
        quiet: bool,
    },
    Spec {
        bundle: PathBuf,
        rootless: bool,
    },
    Exec(ExecArgs),
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Ps {
        format: String,
        id: String,
        ps_args: Vec<String>,
    },
    Update(UpdateArgs),
    Events {
        stats: bool,
        interval: String,
        id: String,
    },
    Features,
    Checkpoint,
    Restore,
}

/// What the command line asks for before anything runs.
#[derive(Debug)]
pub enum Parsed {
    Cli(Box<Cli>),
    /// Print this (help) on stdout, exit 0.
    Help(String),
}

/// How a flag takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Switch,
    /// Takes a value (named so in the help).
    Value(&'static str),
    /// `--rootless`: a value if one follows (`=v`, or a next word not starting with `-`),
    /// else "true".
    OptValue(&'static str),
}

struct Flag {
    long: &'static str,
    short: Option<u8>,
    kind: Kind,
    /// Empty: hidden from the help.
    help: &'static str,
}

const fn sw(long: &'static str, short: Option<u8>, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        kind: Kind::Switch,
        help,
    }
}

const fn val(
    long: &'static str,
    short: Option<u8>,
    name: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        short,
        kind: Kind::Value(name),
        help,
    }
}

const GLOBAL: &[Flag] = &[
    val(
        "root",
        None,
        "ROOT",
        "Root directory for container state [default: /run/baleia, or $XDG_RUNTIME_DIR/baleia for a non-root user]",
    ),
    val(
        "log",
        None,
        "LOG",
        "Append errors (and debug messages with --debug) to this file",
    ),
    val(
        "log-format",
        None,
        "LOG_FORMAT",
        "Log format: text or json [default: text]",
    ),
    sw("debug", None, "Log debug messages too"),
    sw(
        "systemd-cgroup",
        None,
        "Use systemd's cgroup driver: the container goes into a transient scope made by systemd (cgroupsPath `slice:prefix:name`)",
    ),
    Flag {
        long: "rootless",
        short: None,
        kind: Kind::OptValue("VALUE"),
        help: "Ignore cgroup permission errors: true, false or auto (auto: when not root, or root in a user namespace)",
    },
    val("criu", None, "CRIU", ""),
];

/// The top level's own flags (not after a command).
const TOP: &[Flag] = &[sw("version", Some(b'v'), "Print the version")];

const CREATE: &[Flag] = &[
    val(
        "bundle",
        Some(b'b'),
        "BUNDLE",
        "Path to the bundle directory [default: .]",
    ),
    val(
        "console-socket",
        None,
        "CONSOLE_SOCKET",
        "Unix socket to send the console's pty master to",
    ),
    val(
        "pid-file",
        None,
        "PID_FILE",
        "File to write the init's host pid to",
    ),
    sw(
        "no-pivot",
        None,
        "Use MS_MOVE and chroot instead of pivot_root",
    ),
    sw(
        "no-new-keyring",
        None,
        "Do not create a new session keyring",
    ),
    val(
        "preserve-fds",
        None,
        "N",
        "Pass N additional fds (3..3+N) to the container [default: 0]",
    ),
    val(
        "pidfd-socket",
        None,
        "PIDFD_SOCKET",
        "Unix socket to send a pidfd of the container's init to",
    ),
];

const RUN_EXTRA: &[Flag] = &[
    sw("detach", Some(b'd'), "Return once the container is started"),
    sw("keep", None, "Keep the container's state after it exits"),
];

const EXEC: &[Flag] = &[
    val(
        "console-socket",
        None,
        "CONSOLE_SOCKET",
        "Unix socket to send the terminal's pty master to",
    ),
    val("cwd", None, "CWD", "Working directory in the container"),
    val(
        "env",
        Some(b'e'),
        "ENV",
        "Environment variables to set (KEY=VALUE), repeatable",
    ),
    sw("tty", Some(b't'), "Allocate a terminal"),
    val("user", Some(b'u'), "USER", "User to run as: UID[:GID]"),
    val(
        "additional-gids",
        Some(b'g'),
        "GID",
        "Additional group ids, repeatable",
    ),
    val(
        "process",
        Some(b'p'),
        "PROCESS",
        "process.json describing the process (overrides the command line)",
    ),
    sw("detach", Some(b'd'), "Return once the process runs"),
    val(
        "pid-file",
        None,
        "PID_FILE",
        "File to write the process's host pid to",
    ),
    val(
        "process-label",
        None,
        "LABEL",
        "SELinux label (not implemented: refused)",
    ),
    val(
        "apparmor",
        None,
        "PROFILE",
        "AppArmor profile (not implemented: refused)",
    ),
    sw("no-new-privs", None, "Set no_new_privs for the process"),
    val("cap", Some(b'c'), "CAP", "Capabilities to add, repeatable"),
    val(
        "preserve-fds",
        None,
        "N",
        "Pass N additional fds (3..3+N) to the process [default: 0]",
    ),
    val(
        "cgroup",
        None,
        "CGROUP",
        "Run in an existing sub-cgroup of the container's: [controller[,controller]:]path (repeatable on cgroup v1)",
    ),
    sw(
        "ignore-paused",
        None,
        "Allow exec in a paused container (the process runs once resumed)",
    ),
    val(
        "pidfd-socket",
        None,
        "PIDFD_SOCKET",
        "Unix socket to send a pidfd of the process to",
    ),
];

/// `update`'s one-value-per-field flags: UpdateFlags' fields in order, then the Intel RDT two.
const UPDATE_FIELDS: [&str; 17] = [
    "blkio-weight",
    "cpu-period",
    "cpu-quota",
    "cpu-burst",
    "cpu-share",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpuset-cpus",
    "cpuset-mems",
    "kernel-memory",
    "kernel-memory-tcp",
    "memory",
    "memory-reservation",
    "memory-swap",
    "pids-limit",
    "l3-cache-schema",
    "mem-bw-schema",
];

const UPDATE: &[Flag] = &[
    val(
        "resources",
        Some(b'r'),
        "RESOURCES",
        "Path to a LinuxResources JSON file, `-` for stdin",
    ),
    val("blkio-weight", None, "WEIGHT", ""),
    val("cpu-period", None, "PERIOD", ""),
    val("cpu-quota", None, "QUOTA", ""),
    val("cpu-burst", None, "BURST", ""),
    val("cpu-share", None, "SHARES", ""),
    val("cpu-rt-period", None, "PERIOD", ""),
    val("cpu-rt-runtime", None, "RUNTIME", ""),
    val("cpuset-cpus", None, "CPUS", ""),
    val("cpuset-mems", None, "MEMS", ""),
    val("kernel-memory", None, "BYTES", ""),
    val("kernel-memory-tcp", None, "BYTES", ""),
    val("memory", None, "BYTES", ""),
    val("memory-reservation", None, "BYTES", ""),
    val("memory-swap", None, "BYTES", ""),
    val("pids-limit", None, "N", ""),
    val(
        "l3-cache-schema",
        None,
        "SCHEMA",
        "Intel RDT L3 cache schema of the container's own resctrl group",
    ),
    val(
        "mem-bw-schema",
        None,
        "SCHEMA",
        "Intel RDT memory bandwidth schema of the container's own resctrl group",
    ),
];

/// One command: its flags (besides the global ones), positionals and help.
struct Spec {
    name: &'static str,
    about: &'static str,
    flags: &'static [&'static [Flag]],
    /// Names of the positionals; the first `required` must be given.
    positionals: &'static [&'static str],
    required: usize,
    /// The name of a trailing command line, taken as is once it starts.
    trailing: Option<&'static str>,
}

const ID: &[&str] = &["ID"];

const fn simple(name: &'static str, about: &'static str) -> Spec {
    Spec {
        name,
        about,
        flags: &[],
        positionals: ID,
        required: 1,
        trailing: None,
    }
}

const COMMANDS: &[Spec] = &[
    Spec {
        name: "create",
        about: "Create a container; its process waits until `start`",
        flags: &[CREATE],
        ..simple("", "")
    },
    simple("start", "Start a created container's process"),
    simple("state", "Print a container's state as JSON"),
    Spec {
        name: "kill",
        about: "Send a signal (default SIGTERM) to a container's init, or with --all to every process",
        flags: &[&[sw("all", Some(b'a'), "Signal every process of the container")]],
        positionals: &["ID", "SIGNAL"],
        ..simple("", "")
    },
    Spec {
        name: "delete",
        about: "Delete a container; --force kills it first if it runs",
        flags: &[&[sw("force", Some(b'f'), "Kill the container if it is running")]],
        ..simple("", "")
    },
    Spec {
        name: "run",
        about: "Create and start a container, wait for it and exit with its status",
        flags: &[CREATE, RUN_EXTRA],
        ..simple("", "")
    },
    Spec {
        name: "list",
        about: "List containers",
        flags: &[&[
            val(
                "format",
                Some(b'f'),
                "FORMAT",
                "Output format: table or json [default: table]",
            ),
            sw("quiet", Some(b'q'), "Print only the ids"),
        ]],
        positionals: &[],
        required: 0,
        trailing: None,
    },
    Spec {
        name: "spec",
        about: "Write a default config.json into the bundle directory",
        flags: &[&[
            val(
                "bundle",
                Some(b'b'),
                "BUNDLE",
                "Directory to write config.json into [default: .]",
            ),
            sw(
                "rootless",
                None,
                "A spec for a non-root user: a user namespace mapping the caller's uid and gid to root, /sys bound from the host, no network namespace and no resource limits",
            ),
        ]],
        positionals: &[],
        required: 0,
        trailing: None,
    },
    Spec {
        name: "exec",
        about: "Run a new process in a running container",
        flags: &[EXEC],
        trailing: Some("COMMAND"),
        ..simple("", "")
    },
    simple("pause", "Freeze every process of a container"),
    simple("resume", "Thaw a paused container"),
    Spec {
        name: "ps",
        about: "List a container's processes: host pids as JSON, or `ps` lines (extra args go to ps)",
        flags: &[&[val(
            "format",
            Some(b'f'),
            "FORMAT",
            "Output format: table or json [default: table]",
        )]],
        trailing: Some("PS_ARGS"),
        ..simple("", "")
    },
    Spec {
        name: "update",
        about: "Change a container's resource limits (omitted fields stay as they are)",
        flags: &[UPDATE],
        ..simple("", "")
    },
    Spec {
        name: "events",
        about: "Report a container's resource usage (once with --stats, else every --interval)",
        flags: &[&[
            sw("stats", None, "Print one stats event and exit"),
            val(
                "interval",
                None,
                "INTERVAL",
                "Time between stats events (Go duration: 5s, 500ms, 1m) [default: 5s]",
            ),
        ]],
        ..simple("", "")
    },
    Spec {
        name: "features",
        about: "Print the features this runtime supports (runtime-spec Features JSON)",
        positionals: &[],
        required: 0,
        ..simple("", "")
    },
    Spec {
        name: "checkpoint",
        about: "Checkpoint a running container (needs CRIU: refused)",
        positionals: &[],
        required: 0,
        trailing: Some("ARGS"),
        ..simple("", "")
    },
    Spec {
        name: "restore",
        about: "Restore a checkpointed container (needs CRIU: refused)",
        positionals: &[],
        required: 0,
        trailing: Some("ARGS"),
        ..simple("", "")
    },
];

/// What one command's words gave.
#[derive(Default)]
struct Matches {
    /// Flags in command-line order: (long name, value); a switch's value is "true"/"false".
    flags: Vec<(&'static str, OsString)>,
    positionals: Vec<OsString>,
    trailing: Vec<OsString>,
    help: bool,
}

impl Matches {
    fn last(&self, long: &str) -> Option<&OsString> {
        self.flags
            .iter()
            .rev()
            .find(|(l, _)| *l == long)
            .map(|(_, v)| v)
    }

    fn switch(&self, long: &str) -> bool {
        self.last(long).is_some_and(|v| v == "true")
    }

    fn path(&self, long: &str) -> Option<PathBuf> {
        self.last(long).map(PathBuf::from)
    }

    fn string(&self, long: &str) -> Result<Option<String>, String> {
        self.last(long).map(|v| utf8(long, v)).transpose()
    }

    fn strings(&self, long: &str) -> Result<Vec<String>, String> {
        self.flags
            .iter()
            .filter(|(l, _)| *l == long)
            .map(|(l, v)| utf8(l, v))
            .collect()
    }

    fn number(&self, long: &str) -> Result<u32, String> {
        match self.string(long)? {
            Some(s) => number(long, &s),
            None => Ok(0),
        }
    }
}

fn utf8(what: &str, v: &OsString) -> Result<String, String> {
    v.clone()
        .into_string()
        .map_err(|v| format!("invalid value {v:?} for {what}: not UTF-8"))
}

fn number(long: &str, s: &str) -> Result<u32, String> {
    s.parse()
        .map_err(|_| format!("invalid value '{s}' for --{long}: want a non-negative number"))
}

/// Where a command's words are parsed against.
struct Scope<'a> {
    /// The command's name in messages ("" for the top level).
    name: &'a str,
    /// Searched in order: a command's own flag shadows a global one of the same name
    /// (`spec --rootless` is a switch).
    tables: Vec<&'static [Flag]>,
}

impl Scope<'_> {
    fn long(&self, name: &str) -> Option<&'static Flag> {
        self.tables
            .iter()
            .flat_map(|t| t.iter())
            .find(|f| f.long == name)
    }

    fn short(&self, c: u8) -> Option<&'static Flag> {
        self.tables
            .iter()
            .flat_map(|t| t.iter())
            .find(|f| f.short == Some(c))
    }

    fn try_help(&self) -> String {
        if self.name.is_empty() {
            "try 'baleia --help'".into()
        } else {
            format!("try 'baleia {} --help'", self.name)
        }
    }

    fn unknown(&self, tok: &str) -> String {
        match self.name {
            "" => format!("unknown flag '{tok}' ({})", self.try_help()),
            n => format!("{n}: unknown flag '{tok}' ({})", self.try_help()),
        }
    }
}

/// The outcome of reading one word that starts with `-`.
enum Word {
    Done,
    Help,
    /// Not a flag of this scope.
    Unknown,
}

/// Read the flag(s) in `tok` (taking a value from `rest` when the flag needs one).
fn flag_word(
    scope: &Scope,
    tok: &str,
    rest: &mut std::iter::Peekable<std::vec::IntoIter<OsString>>,
    out: &mut Vec<(&'static str, OsString)>,
) -> Result<Word, String> {
    if tok == "--help" || tok == "-h" {
        return Ok(Word::Help);
    }
    let needs = |f: &Flag| format!("flag '--{}' needs a value ({})", f.long, scope.try_help());
    if let Some(body) = tok.strip_prefix("--") {
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(f) = scope.long(name) else {
            return Ok(Word::Unknown);
        };
        let v: OsString = match (f.kind, inline) {
            (Kind::Switch, None) => "true".into(),
            (Kind::Switch, Some(v @ ("true" | "false"))) => v.into(),
            (Kind::Switch, Some(v)) => {
                return Err(format!(
                    "flag '--{name}' takes no value, or true/false; got '{v}'"
                ))
            }
            (_, Some(v)) => v.into(),
            (Kind::Value(_), None) => rest.next().ok_or_else(|| needs(f))?,
            (Kind::OptValue(_), None) => {
                match rest.next_if(|n| !n.to_string_lossy().starts_with('-')) {
                    Some(v) => v,
                    None => "true".into(),
                }
            }
        };
        out.push((f.long, v));
        return Ok(Word::Done);
    }
    // Short flags, bundled: switches then at most one flag taking the rest (or the next word)
    // as its value.
    let bytes = tok.as_bytes();
    let mut i = 1;
    let mut found = Vec::new();
    while i < bytes.len() {
        let Some(f) = scope.short(bytes[i]) else {
            return Ok(Word::Unknown);
        };
        i += 1;
        if f.kind == Kind::Switch {
            found.push((f.long, OsString::from("true")));
            continue;
        }
        let inline = &tok[i..];
        let inline = inline.strip_prefix('=').unwrap_or(inline);
        let v = if inline.is_empty() {
            rest.next().ok_or_else(|| needs(f))?
        } else {
            inline.into()
        };
        found.push((f.long, v));
        break;
    }
    out.extend(found);
    Ok(Word::Done)
}

/// Parse one command's words.
fn parse_command(
    spec: &Spec,
    words: &mut std::iter::Peekable<std::vec::IntoIter<OsString>>,
    globals: &mut Vec<(&'static str, OsString)>,
) -> Result<Matches, String> {
    let mut tables: Vec<&'static [Flag]> = spec.flags.to_vec();
    tables.push(GLOBAL);
    let scope = Scope {
        name: spec.name,
        tables,
    };
    let mut m = Matches::default();
    let mut only_positionals = false;
    let mut in_trailing = false;
    while let Some(w) = words.next() {
        if in_trailing {
            m.trailing.push(w);
            continue;
        }
        let text = w.to_str().unwrap_or_default();
        let positional = only_positionals || text == "-" || !text.starts_with('-');
        if !positional && text == "--" {
            only_positionals = true;
            continue;
        }
        if !positional {
            let mut found = Vec::new();
            match flag_word(&scope, text, words, &mut found)? {
                Word::Help => {
                    m.help = true;
                    return Ok(m);
                }
                Word::Done => {
                    for (long, v) in found {
                        if GLOBAL.iter().any(|g| g.long == long)
                            && !spec.flags.iter().any(|t| t.iter().any(|f| f.long == long))
                        {
                            globals.push((long, v));
                        } else {
                            m.flags.push((long, v));
                        }
                    }
                    continue;
                }
                Word::Unknown
                    if spec.trailing.is_some() && m.positionals.len() >= spec.required => {}
                Word::Unknown => return Err(scope.unknown(text)),
            }
        }
        if m.positionals.len() < spec.positionals.len() {
            m.positionals.push(w);
        } else if spec.trailing.is_some() {
            in_trailing = true;
            m.trailing.push(w);
        } else {
            return Err(format!(
                "{}: unexpected argument '{}' (usage: {})",
                spec.name,
                w.to_string_lossy(),
                usage(spec)
            ));
        }
    }
    if m.positionals.len() < spec.required {
        return Err(format!(
            "{}: missing argument <{}> (usage: {})",
            spec.name,
            spec.positionals[m.positionals.len()],
            usage(spec)
        ));
    }
    Ok(m)
}

/// Parse `args` (without the program name).
pub fn parse(args: Vec<OsString>) -> Result<Parsed, String> {
    let mut words = args.into_iter().peekable();
    let top = Scope {
        name: "",
        tables: vec![TOP, GLOBAL],
    };
    let mut globals = Vec::new();
    let mut command = None;
    while let Some(w) = words.next() {
        let text = w.to_str().unwrap_or_default().to_string();
        if text.starts_with('-') && text != "-" {
            match flag_word(&top, &text, &mut words, &mut globals)? {
                Word::Done => continue,
                Word::Help => return Ok(Parsed::Help(top_help())),
                Word::Unknown => return Err(top.unknown(&text)),
            }
        }
        if text == "help" {
            return match words.next() {
                None => Ok(Parsed::Help(top_help())),
                Some(c) => {
                    let c = c.to_string_lossy();
                    Ok(Parsed::Help(command_help(find(&c)?)))
                }
            };
        }
        let spec = find(&w.to_string_lossy())?;
        let m = parse_command(spec, &mut words, &mut globals)?;
        if m.help {
            return Ok(Parsed::Help(command_help(spec)));
        }
        command = Some(build(spec, m)?);
        break;
    }
    let g = Matches {
        flags: globals,
        ..Matches::default()
    };
    let log_format = match g.last("log-format").map(|v| v.to_string_lossy()) {
        None => LogFormat::Text,
        Some(v) if v == "text" => LogFormat::Text,
        Some(v) if v == "json" => LogFormat::Json,
        Some(v) => {
            return Err(format!(
                "invalid value '{v}' for --log-format: want text or json"
            ))
        }
    };
    Ok(Parsed::Cli(Box::new(Cli {
        root: g.path("root"),
        log: g.path("log"),
        log_format,
        debug: g.switch("debug"),
        systemd_cgroup: g.switch("systemd-cgroup"),
        rootless: g.string("rootless")?,
        criu: g.path("criu"),
        version: g.switch("version"),
        command,
    })))
}

fn find(name: &str) -> Result<&'static Spec, String> {
    COMMANDS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("unknown command '{name}' (try 'baleia --help')"))
}

fn create_args(m: &Matches, id: String) -> Result<CreateArgs, String> {
    Ok(CreateArgs {
        bundle: m.path("bundle").unwrap_or_else(|| ".".into()),
        console_socket: m.path("console-socket"),
        pid_file: m.path("pid-file"),
        no_pivot: m.switch("no-pivot"),
        no_new_keyring: m.switch("no-new-keyring"),
        preserve_fds: m.number("preserve-fds")?,
        pidfd_socket: m.path("pidfd-socket"),
        id,
    })
}

fn build(spec: &Spec, m: Matches) -> Result<Command, String> {
    let mut pos = m
        .positionals
        .iter()
        .map(|p| utf8(spec.positionals[0], p))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let id = pos.next().unwrap_or_default();
    let trailing = || -> Result<Vec<String>, String> {
        m.trailing
            .iter()
            .map(|t| utf8(spec.trailing.unwrap_or_default(), t))
            .collect()
    };
    Ok(match spec.name {
        "create" => Command::Create(create_args(&m, id)?),
        "start" => Command::Start { id },
        "state" => Command::State { id },
        "kill" => Command::Kill {
            all: m.switch("all"),
            id,
            signal: pos.next(),
        },
        "delete" => Command::Delete {
            force: m.switch("force"),
            id,
        },
        "run" => Command::Run {
            create: create_args(&m, id)?,
            detach: m.switch("detach"),
            keep: m.switch("keep"),
        },
        "list" => Command::List {
            format: m.string("format")?.unwrap_or_else(|| "table".into()),
            quiet: m.switch("quiet"),
        },
        "spec" => Command::Spec {
            bundle: m.path("bundle").unwrap_or_else(|| ".".into()),
            rootless: m.switch("rootless"),
        },
        "exec" => Command::Exec(ExecArgs {
            console_socket: m.path("console-socket"),
            cwd: m.path("cwd"),
            env: m.strings("env")?,
            tty: m.switch("tty"),
            user: m.string("user")?,
            additional_gids: m
                .strings("additional-gids")?
                .iter()
                .map(|g| number("additional-gids", g))
                .collect::<Result<_, _>>()?,
            process: m.path("process"),
            detach: m.switch("detach"),
            pid_file: m.path("pid-file"),
            process_label: m.string("process-label")?,
            apparmor: m.string("apparmor")?,
            no_new_privs: m.switch("no-new-privs"),
            cap: m.strings("cap")?,
            preserve_fds: m.number("preserve-fds")?,
            cgroup: m.strings("cgroup")?,
            ignore_paused: m.switch("ignore-paused"),
            pidfd_socket: m.path("pidfd-socket"),
            id,
            command: trailing()?,
        }),
        "pause" => Command::Pause { id },
        "resume" => Command::Resume { id },
        "ps" => Command::Ps {
            format: m.string("format")?.unwrap_or_else(|| "table".into()),
            id,
            ps_args: trailing()?,
        },
        "update" => {
            let mut f = UPDATE_FIELDS
                .iter()
                .map(|l| m.string(l))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter();
            let mut next = || f.next().flatten();
            Command::Update(UpdateArgs {
                resources: m.string("resources")?,
                flags: crate::update_flags::UpdateFlags {
                    blkio_weight: next(),
                    cpu_period: next(),
                    cpu_quota: next(),
                    cpu_burst: next(),
                    cpu_share: next(),
                    cpu_rt_period: next(),
                    cpu_rt_runtime: next(),
                    cpuset_cpus: next(),
                    cpuset_mems: next(),
                    kernel_memory: next(),
                    kernel_memory_tcp: next(),
                    memory: next(),
                    memory_reservation: next(),
                    memory_swap: next(),
                    pids_limit: next(),
                },
                l3_cache_schema: next(),
                mem_bw_schema: next(),
                id,
            })
        }
        "events" => Command::Events {
            stats: m.switch("stats"),
            interval: m.string("interval")?.unwrap_or_else(|| "5s".into()),
            id,
        },
        "features" => Command::Features,
        "checkpoint" => Command::Checkpoint,
        _ => Command::Restore,
    })
}

fn usage(spec: &Spec) -> String {
    let mut u = format!("baleia {} [OPTIONS]", spec.name);
    for (i, p) in spec.positionals.iter().enumerate() {
        if i < spec.required {
            u.push_str(&format!(" <{p}>"));
        } else {
            u.push_str(&format!(" [{p}]"));
        }
    }
    if let Some(t) = spec.trailing {
        u.push_str(&format!(" [{t}]..."));
    }
    u
}

/// Aligned `  -s, --long <V>  help` lines of the flags that have help.
fn flag_lines(out: &mut String, tables: &[&[Flag]]) {
    let shown: Vec<(String, &str)> = tables
        .iter()
        .flat_map(|t| t.iter())
        .filter(|f| !f.help.is_empty())
        .map(|f| {
            let short = match f.short {
                Some(c) => format!("-{}, ", c as char),
                None => "    ".into(),
            };
            let value = match f.kind {
                Kind::Switch => String::new(),
                Kind::Value(n) => format!(" <{n}>"),
                Kind::OptValue(n) => format!(" [<{n}>]"),
            };
            (format!("{short}--{}{value}", f.long), f.help)
        })
        .chain([("-h, --help".to_string(), "Print help")])
        .collect();
    let width = shown.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (l, h) in shown {
        out.push_str(&format!("  {l:<width$}  {h}\n"));
    }
}

fn top_help() -> String {
    let mut out = String::from(
        "baleia: an OCI container runtime with runc's command line\n\n\
         Usage: baleia [OPTIONS] [COMMAND]\n\nCommands:\n",
    );
    let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in COMMANDS {
        out.push_str(&format!("  {:<width$}  {}\n", c.name, c.about));
    }
    out.push_str(&format!(
        "  {:<width$}  Print this message or the help of the given command\n\nOptions:\n",
        "help"
    ));
    flag_lines(&mut out, &[GLOBAL, TOP]);
    out
}

fn command_help(spec: &Spec) -> String {
    let mut out = format!("{}\n\nUsage: {}\n\nOptions:\n", spec.about, usage(spec));
    flag_lines(&mut out, spec.flags);
    out.push_str("\nGlobal options:\n");
    flag_lines(&mut out, &[GLOBAL]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, String> {
        match parse(args.iter().map(OsString::from).collect())? {
            Parsed::Cli(c) => Ok(*c),
            Parsed::Help(h) => Err(format!("help: {h}")),
        }
    }

    #[test]
    fn globals_before_and_after_the_command() {
        let c = cli(&["--root", "/r", "state", "--log-format=json", "x"]).unwrap();
        assert_eq!(c.root, Some("/r".into()));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(matches!(c.command, Some(Command::State { id }) if id == "x"));
    }

    #[test]
    fn bundled_short_flags_and_inline_values() {
        let c = cli(&["run", "-db/b", "x"]).unwrap();
        let Some(Command::Run { create, detach, .. }) = c.command else {
            panic!("not run")
        };
        assert!(detach);
        assert_eq!(create.bundle, PathBuf::from("/b"));
        assert_eq!(create.id, "x");
    }

    #[test]
    fn exec_keeps_the_command_line_after_the_id() {
        let c = cli(&["exec", "-t", "x", "-p", "/p", "sh", "-c", "--tty"]).unwrap();
        let Some(Command::Exec(a)) = c.command else {
            panic!("not exec")
        };
        assert!(a.tty);
        assert_eq!(a.process, Some("/p".into()));
        assert_eq!(a.command, ["sh", "-c", "--tty"]);
        let c = cli(&["exec", "x", "--unknown", "-t"]).unwrap();
        let Some(Command::Exec(a)) = c.command else {
            panic!("not exec")
        };
        assert!(!a.tty);
        assert_eq!(a.command, ["--unknown", "-t"]);
    }

    #[test]
    fn negative_values_and_double_dash() {
        let c = cli(&["update", "--memory", "-1", "--pids-limit=-1", "x"]).unwrap();
        let Some(Command::Update(a)) = c.command else {
            panic!("not update")
        };
        assert_eq!(a.flags.memory.as_deref(), Some("-1"));
        assert_eq!(a.flags.pids_limit.as_deref(), Some("-1"));
        let c = cli(&["kill", "--", "x", "-9"]).unwrap();
        assert!(matches!(c.command, Some(Command::Kill { signal: Some(s), .. }) if s == "-9"));
    }

    #[test]
    fn spec_rootless_is_a_switch_and_the_global_one_takes_a_value() {
        let c = cli(&["--rootless", "false", "spec", "--rootless"]).unwrap();
        assert_eq!(c.rootless.as_deref(), Some("false"));
        assert!(matches!(
            c.command,
            Some(Command::Spec { rootless: true, .. })
        ));
        let c = cli(&["--rootless", "--debug", "list"]).unwrap();
        assert_eq!(c.rootless.as_deref(), Some("true"));
        assert!(c.debug);
    }

    #[test]
    fn usage_errors_are_one_line_and_name_the_word() {
        for (args, needle) in [
            (&["bogus"][..], "'bogus'"),
            (&["list", "--bogus"], "'--bogus'"),
            (&["--bogus", "list"], "'--bogus'"),
            (&["state"], "<ID>"),
            (&["state", "a", "b"], "'b'"),
            (&["create", "--preserve-fds", "x", "id"], "'x'"),
            (&["--log-format", "xml", "list"], "'xml'"),
            (&["delete", "--force=maybe", "x"], "'maybe'"),
            (&["run", "-b"], "--bundle"),
            (&["exec", "--bogus", "x"], "'--bogus'"),
        ] {
            let e = cli(args).err().unwrap_or_default();
            assert!(e.contains(needle) && !e.contains('\n'), "{args:?}: {e:?}");
        }
    }

    #[test]
    fn help_wherever_asked() {
        for args in [
            &["-h"][..],
            &["help"],
            &["create", "--help"],
            &["help", "exec"],
        ] {
            let p = parse(args.iter().map(OsString::from).collect());
            assert!(matches!(p, Ok(Parsed::Help(_))), "{args:?}");
        }
    }
}
