//! One function per command, each a thin call into runtime-core.

use std::io::Write;
use std::path::{Path, PathBuf};

use runtime_core::{CreateOptions, DeleteOptions, Error, Runtime};

use crate::{Cli, Command, CreateArgs, ExecArgs, UpdateArgs};

type Result<T> = std::result::Result<T, Error>;

/// A failed command: what to report, and the exit status (1, as runc's `fatal`, unless the
/// command says otherwise).
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure {
            message: e.to_string(),
            code: 1,
        }
    }
}

/// Run the parsed command; `Ok(code)` is the exit status.
pub fn dispatch(cli: &Cli) -> std::result::Result<u8, Failure> {
    if let Some(Command::Exec(a)) = &cli.command {
        if !cli.version {
            // runc's exec reports every failure past its argument checks as "exec failed: ..."
            // with status 255, which engines tell apart from the process's own exit status.
            return exec(&Runtime::new(state_root(cli)), a).map_err(|e| Failure {
                message: format!("exec failed: {e}"),
                code: 255,
            });
        }
    }
    Ok(run_command(cli)?)
}

fn run_command(cli: &Cli) -> Result<u8> {
    if cli.version {
        print_version();
        return Ok(0);
    }
    let Some(cmd) = &cli.command else {
        return Err(Error::Other("no command given: try `baleia --help`".into()));
    };
    let rt = Runtime::new(state_root(cli));
    match cmd {
        Command::Create(a) => {
            let mut opts = create_options(a, rootless(cli)?)?;
            opts.systemd_cgroup = cli.systemd_cgroup;
            log::debug!("create {}: bundle {}", a.id, opts.bundle.display());
            let pid = rt.create(&a.id, &opts)?;
            log::debug!("create {}: created, init pid {pid}", a.id);
            Ok(0)
        }
        Command::Start { id } => {
            log::debug!("start {id}");
            rt.start(id)?;
            log::debug!("start {id}: started");
            Ok(0)
        }
        Command::State { id } => {
            let s = rt.state(id)?;
            print_json_pretty(&s)?;
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = runtime_core::signal::parse(signal.as_deref().unwrap_or("SIGTERM"))?;
            log::debug!("kill {id}: signal {sig}{}", if *all { ", all" } else { "" });
            rt.kill(id, sig, *all).map(|()| 0)
        }
        Command::Delete { force, id } => {
            log::debug!("delete {id}{}", if *force { ", forced" } else { "" });
            rt.delete(id, &DeleteOptions::new().force(*force))?;
            log::debug!("delete {id}: deleted");
            Ok(0)
        }
        Command::Run {
            create,
            detach,
            keep,
        } => {
            let mut opts = create_options(create, rootless(cli)?)?;
            opts.systemd_cgroup = cli.systemd_cgroup;
            if *detach && *keep {
                return Err(Error::Other(
                    "run: --keep and --detach cannot be used together".into(),
                ));
            }
            let id = &create.id;
            log::debug!(
                "run {id}: bundle {}{}",
                opts.bundle.display(),
                if *detach { ", detached" } else { "" }
            );
            if *detach {
                let pid = rt.run_detached(id, &opts)?;
                log::debug!("run {id}: started, init pid {pid}");
                Ok(0)
            } else {
                let code = if opts.console_socket.is_none() && wants_terminal(&opts.bundle) {
                    run_with_terminal(&rt, id, opts, *keep)?
                } else {
                    shell_status(rt.run_with(id, &opts, *keep)?)
                };
                log::debug!(
                    "run {id}: the container exited with status {code}{}",
                    if *keep { "; kept" } else { "; deleted" }
                );
                Ok(code.clamp(0, 255) as u8)
            }
        }
        Command::List { format, quiet } => list(&rt, format, *quiet).map(|()| 0),
        Command::Spec { bundle, rootless } => spec(bundle, *rootless).map(|()| 0),
        Command::Exec(a) => exec(&rt, a),
        Command::Pause { id } => {
            log::debug!("pause {id}");
            rt.pause(id).map(|()| 0)
        }
        Command::Resume { id } => {
            log::debug!("resume {id}");
            rt.resume(id).map(|()| 0)
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(&rt, id, format, ps_args).map(|()| 0),
        Command::Update(a) => update(&rt, a).map(|()| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => events(&rt, id, *stats, interval).map(|()| 0),
        Command::Features => features().map(|()| 0),
        Command::Checkpoint | Command::Restore => Err(Error::Unsupported(
            "checkpoint/restore (they need CRIU, which baleia does not drive; see `criu check`)"
                .into(),
        )),
    }
}

/// Whether the bundle's process asks for a terminal. Only `process.terminal` is decoded (the
/// rest of the text is skipped, not built): create reads and checks the whole config.json
/// right after, and reports an unreadable or invalid one.
fn wants_terminal(bundle: &Path) -> bool {
    #[derive(serde::Deserialize)]
    struct Config {
        process: Option<Process>,
    }
    #[derive(serde::Deserialize)]
    struct Process {
        terminal: Option<bool>,
    }
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_slice::<Config>(&text).ok())
        .and_then(|c| c.process?.terminal)
        == Some(true)
}

/// A foreground `run` of a process with a terminal and no console socket: create with a
/// console socket of our own, start, and proxy the terminal to our stdio until the init exits
/// (then delete, as `run` does).
/// runc's (and a shell's) exit status for a process: its code, or 128+n when signal n killed it.
fn shell_status(s: runtime_core::ExitStatus) -> i32 {
    match (s.code(), s.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig.as_raw(),
        (None, None) => 1,
    }
}

fn run_with_terminal(rt: &Runtime, id: &str, mut opts: CreateOptions, keep: bool) -> Result<i32> {
    let console = crate::tty::OwnConsole::new()?;
    opts.console_socket = Some(console.path().to_path_buf());
    let blocked = crate::tty::Blocked::new()?;
    let pid = rt.create(id, &opts)?;
    log::debug!("run {id}: created, init pid {pid}; proxying its terminal");
    let attached = console
        .receive_master()
        .and_then(|master| rt.start(id).map(|()| master));
    drop(console);
    let status = attached.and_then(|master| crate::tty::proxy(master, pid, &blocked));
    if !keep || status.is_err() {
        let _ = rt.delete(id, &DeleteOptions::new().force(true));
    }
    drop(blocked);
    status
}

/// runc's default roots: /run/baleia for root, $XDG_RUNTIME_DIR/baleia for a user (or root in a
/// rootless engine's user namespace, unless $USER says root: conmon, which runs the runtime
/// for rootless podman, passes no $USER at all).
fn state_root(cli: &Cli) -> PathBuf {
    if let Some(r) = &cli.root {
        return r.clone();
    }
    let user = !nix::unistd::geteuid().is_root()
        || (runtime_core::rootless_by_default()
            && std::env::var_os("USER").is_none_or(|u| u != "root"));
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) if user => PathBuf::from(dir).join("baleia"),
        _ => PathBuf::from("/run/baleia"),
    }
}

/// `--rootless`: asked only by the commands that make a container (auto reads /proc).
fn rootless(cli: &Cli) -> Result<bool> {
    match cli.rootless.as_deref() {
        None | Some("auto") => Ok(runtime_core::rootless_by_default()),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(Error::Other(format!(
            "invalid --rootless value {other:?}: want true, false or auto"
        ))),
    }
}

fn create_options(a: &CreateArgs, rootless: bool) -> Result<CreateOptions> {
    let mut o = CreateOptions::new(&a.bundle);
    o.listen_fds = listen_fds();
    o.console_socket = a.console_socket.clone();
    o.pid_file = a.pid_file.clone();
    o.no_pivot = a.no_pivot;
    o.no_new_keyring = a.no_new_keyring;
    o.preserve_fds = a.preserve_fds;
    o.rootless = rootless;
    o.pidfd_socket = a.pidfd_socket.clone();
    Ok(o)
}

/// runc's `features` JSON: the spec's Features with the fields we do not know left out (runc
/// omits them too), keys in sorted order.
fn features() -> Result<()> {
    fn drop_nulls(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|_, v| !v.is_null());
                m.values_mut().for_each(drop_nulls);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(runtime_core::features::features())
        .map_err(|e| Error::Other(format!("encode JSON: {e}")))?;
    drop_nulls(&mut v);
    print_json_pretty(&v)
}

fn print_version() {
    println!("baleia version {}", env!("CARGO_PKG_VERSION"));
    println!("commit: {}", env!("BALEIA_COMMIT"));
    println!("spec: {}", runtime_core::spec::OCI_VERSION);
}

fn print_json_pretty<T: serde::Serialize>(v: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(v).map_err(|e| Error::Other(format!("encode JSON: {e}")))?;
    writeln!(std::io::stdout(), "{text}").map_err(|e| Error::Other(format!("write stdout: {e}")))
}

/// The user name of `uid` for `list`'s owner column, `#uid` when /etc/passwd has none (as
/// runc prints it).
fn owner_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<()> {
    let mut all = rt.list()?;
    for c in &mut all {
        c.owner = c.owner_uid.map(owner_name).unwrap_or_default();
    }
    let mut out = std::io::stdout().lock();
    let w = |r: std::io::Result<()>| r.map_err(|e| Error::Other(format!("write stdout: {e}")));
    if quiet {
        for c in &all {
            w(writeln!(out, "{}", c.id))?;
        }
        return Ok(());
    }
    match format {
        "json" => {
            let text = serde_json::to_string(&all)
                .map_err(|e| Error::Other(format!("encode JSON: {e}")))?;
            w(writeln!(out, "{text}"))
        }
        "table" => {
            let mut rows = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for c in &all {
                rows.push([
                    c.id.clone(),
                    c.pid.to_string(),
                    c.status.to_string(),
                    c.bundle.display().to_string(),
                    c.created.clone(),
                    c.owner.clone(),
                ]);
            }
            // The layout of Go's tabwriter as runc configures it: cells at least 12 wide,
            // 3 spaces of padding.
            let widths: Vec<usize> = (0..6)
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].len() + 3)
                        .max()
                        .unwrap_or(0)
                        .max(12)
                })
                .collect();
            for r in &rows {
                let mut line = String::new();
                for (i, cell) in r.iter().enumerate() {
                    if i == 5 {
                        line.push_str(cell);
                    } else {
                        line.push_str(&format!("{cell:<width$}", width = widths[i]));
                    }
                }
                w(writeln!(out, "{line}"))?;
            }
            Ok(())
        }
        other => Err(Error::Other(format!("invalid format option {other:?}"))),
    }
}

fn spec(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::Other(
            "File config.json exists. Remove it first".into(),
        ));
    }
    let text = if rootless {
        runtime_core::spec::rootless_spec(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )?
    } else {
        runtime_core::spec::DEFAULT_SPEC.to_string()
    };
    std::fs::write(&path, text).map_err(|e| Error::Other(format!("write {}: {e}", path.display())))
}

fn ps(rt: &Runtime, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let pids = rt.pids(id)?;
    let mut out = std::io::stdout().lock();
    let w = |r: std::io::Result<()>| r.map_err(|e| Error::Other(format!("write stdout: {e}")));
    match format {
        "json" => {
            let text = serde_json::to_string(&pids)
                .map_err(|e| Error::Other(format!("encode JSON: {e}")))?;
            w(writeln!(out, "{text}"))
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let output = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error::Other(format!("run ps: {e}")))?;
            if !output.status.success() {
                return Err(Error::Other(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::Other("couldn't find PID field in ps output".into()))?;
            w(writeln!(out, "{header}"))?;
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(pid_col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    w(writeln!(out, "{line}"))?;
                }
            }
            Ok(())
        }
        other => Err(Error::Other(format!("invalid format option {other:?}"))),
    }
}

fn update(rt: &Runtime, a: &UpdateArgs) -> Result<()> {
    let rdt: Vec<String> = [&a.l3_cache_schema, &a.mem_bw_schema]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if !rdt.is_empty() {
        rt.update_intel_rdt(&a.id, &rdt)?;
        let no_resources = a.resources.is_none() && a.flags.is_empty();
        if no_resources {
            return Ok(());
        }
    }
    let resources = match a.resources.as_deref() {
        Some(src) => {
            let text = if src == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| Error::Other(format!("read resources from stdin: {e}")))?;
                s
            } else {
                std::fs::read_to_string(src)
                    .map_err(|e| Error::Other(format!("read resources {src}: {e}")))?
            };
            // Through a Value, as the library reads config.json: one copy of the resources'
            // deserializers in the binary, not a second one for the text reader.
            serde_json::from_str(&text)
                .and_then(serde_json::from_value)
                .map_err(|e| Error::Other(format!("decode resources JSON: {e}")))?
        }
        None => a.flags.to_resources()?,
    };
    rt.update(&a.id, &resources)
}

/// Parse a Go duration as runc's `--interval` takes it: `5s`, `500ms`, `1m30s`.
fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let bad = || Error::Other(format!("invalid duration {s:?}"));
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..end].parse().map_err(|_| bad())?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    if total <= 0.0 {
        return Err(Error::Other(
            "duration interval must be greater than 0".into(),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

fn print_event(ev: &serde_json::Value) -> Result<()> {
    writeln!(std::io::stdout(), "{ev}").map_err(|e| Error::Other(format!("write stdout: {e}")))
}

/// runc's `events`: with `--stats` one stats event; otherwise a stats event every interval
/// and an `{"type":"oom","id":...}` event whenever the cgroup records an OOM kill, until the
/// container is deleted.
fn events(rt: &Runtime, id: &str, once: bool, interval: &str) -> Result<()> {
    let every = parse_duration(interval)?;
    if once {
        let data = rt.stats(id)?;
        return print_event(&serde_json::json!({ "type": "stats", "id": id, "data": data }));
    }
    // Armed before the first stats event, so that a caller who saw one misses no OOM.
    let mut oom = rt.watch_oom(id)?;
    loop {
        match rt.stats(id) {
            Ok(data) => {
                print_event(&serde_json::json!({ "type": "stats", "id": id, "data": data }))?
            }
            Err(_) if !rt.exists(id) => return Ok(()),
            // A container that has stopped but is not deleted yet has no stats; runc logs
            // the error and keeps watching too.
            Err(e) => log::error!("{e}"),
        }
        let next = std::time::Instant::now() + every;
        loop {
            let left = next.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let Some(w) = oom.as_mut() else {
                std::thread::sleep(left);
                break;
            };
            match w.wait(left)? {
                runtime_core::cgroups::OomEvent::Oom(_) => {
                    print_event(&serde_json::json!({ "type": "oom", "id": id }))?
                }
                runtime_core::cgroups::OomEvent::Gone => return Ok(()),
                runtime_core::cgroups::OomEvent::Nothing => {}
            }
        }
        if !rt.exists(id) {
            return Ok(());
        }
    }
}

fn exec(rt: &Runtime, a: &ExecArgs) -> Result<u8> {
    if a.process_label.is_some() {
        return Err(Error::Unsupported("exec --process-label (SELinux)".into()));
    }
    if a.apparmor.is_some() {
        return Err(Error::Unsupported("exec --apparmor".into()));
    }
    let process = match &a.process {
        Some(path) => read_process_file(path)?,
        None => exec_process_from_args(rt, a)?,
    };
    let mut opts = runtime_core::ExecOptions::new(process);
    opts.detach = a.detach;
    opts.pid_file = a.pid_file.clone();
    opts.console_socket = a.console_socket.clone();
    opts.preserve_fds = a.preserve_fds;
    opts.ignore_paused = a.ignore_paused;
    opts.cgroup = a.cgroup.clone();
    opts.pidfd_socket = a.pidfd_socket.clone();
    let id = &a.id;
    log::debug!(
        "exec {id}: {:?}{}{}",
        opts.process.args().as_deref().unwrap_or_default(),
        if opts.process.terminal() == Some(true) {
            ", with a terminal"
        } else {
            ""
        },
        if a.detach { ", detached" } else { "" }
    );
    if opts.process.terminal() == Some(true) && opts.console_socket.is_none() && !a.detach {
        // As runc: take the terminal ourselves. The library starts the process detached (it
        // is still our child) and we proxy until it exits.
        let console = crate::tty::OwnConsole::new()?;
        opts.console_socket = Some(console.path().to_path_buf());
        opts.detach = true;
        let blocked = crate::tty::Blocked::new()?;
        let pid = rt.exec(id, &opts)?;
        log::debug!("exec {id}: process pid {pid}; proxying its terminal");
        let status = match console.receive_master() {
            Ok(master) => {
                drop(console);
                crate::tty::proxy(master, pid, &blocked)
            }
            Err(e) => {
                // SAFETY: kill(2) has no memory effects; pid is our child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                Err(e)
            }
        }?;
        log::debug!("exec {id}: process exited with status {status}");
        return Ok(status.clamp(0, 255) as u8);
    }
    let code = rt.exec(id, &opts)?;
    if a.detach {
        log::debug!("exec {id}: process pid {code} started");
        Ok(0)
    } else {
        log::debug!("exec {id}: process exited with status {code}");
        Ok(code.clamp(0, 255) as u8)
    }
}

/// An `exec --process` file. Go decodes a missing field as its zero value, so runc takes a
/// process without `user` as uid 0, gid 0 (and one without `cwd` as "", which validation then
/// refuses): fill in the same before the strict decoder sees it.
fn read_process_file(path: &Path) -> Result<oci_spec::runtime::Process> {
    let text = std::fs::read(path)
        .map_err(|e| Error::Other(format!("read process {}: {e}", path.display())))?;
    let mut v: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Error::Other(format!("parse process {}: {e}", path.display())))?;
    if let Some(obj) = v.as_object_mut() {
        let user = obj.entry("user").or_insert_with(|| serde_json::json!({}));
        if user.is_null() {
            *user = serde_json::json!({});
        }
        obj.entry("cwd").or_insert_with(|| serde_json::json!(""));
    }
    let text = serde_json::to_vec(&v)
        .map_err(|e| Error::Other(format!("parse process {}: {e}", path.display())))?;
    // The library's parser: it checks the runtime-spec 1.3 fields the decoder does not know.
    runtime_core::spec::parse_process(&text).map_err(|e| match e {
        Error::Spec(m) => Error::Spec(format!("{} ({})", m, path.display())),
        e => e,
    })
}

/// runc builds the process of `exec CMD...` from the container's own process section,
/// with the command line's overrides.
fn exec_process_from_args(rt: &Runtime, a: &ExecArgs) -> Result<oci_spec::runtime::Process> {
    if a.command.is_empty() {
        return Err(Error::Other(
            "exec: no command given (and no --process)".into(),
        ));
    }
    let mut p = rt.spec_process(&a.id)?;
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let parse = |s: &str| {
            s.parse::<u32>().map_err(|_| {
                Error::Other(format!(
                    "exec --user {u:?}: only numeric UID[:GID] is supported"
                ))
            })
        };
        let mut user = p.user().clone();
        user.set_uid(parse(uid)?);
        if let Some(g) = gid {
            user.set_gid(parse(g)?);
        }
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let extra: Vec<oci_spec::runtime::Capability> = a
            .cap
            .iter()
            .map(|c| {
                serde_json::from_value(serde_json::Value::String(c.clone()))
                    .map_err(|_| Error::Other(format!("unknown capability {c:?}")))
            })
            .collect::<Result<_>>()?;
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = set.clone().unwrap_or_default();
            s.extend(extra.iter().cloned());
            Some(s)
        };
        let (b, e, pe, am) = (
            add(caps.bounding()),
            add(caps.effective()),
            add(caps.permitted()),
            add(caps.ambient()),
        );
        caps.set_bounding(b);
        caps.set_effective(e);
        caps.set_permitted(pe);
        caps.set_ambient(am);
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// systemd socket activation, as runc honours it: LISTEN_FDS counts our fds from 3 when
/// LISTEN_PID names this process.
pub fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
