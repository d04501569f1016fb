//! One function per command, each a thin call into runtime-core.

use std::io::Write;
use std::path::Path;

use runtime_core::{CreateOptions, Error, Runtime};

use crate::{Cli, Command, CreateArgs};

type Result<T> = std::result::Result<T, Error>;

/// Run the parsed command; `Ok(code)` is the exit status.
pub fn dispatch(cli: &Cli) -> Result<u8> {
    if cli.version {
        print_version();
        return Ok(0);
    }
    let Some(cmd) = &cli.command else {
        return Err(Error::Other(
            "no command given: try `baleia --help`".into(),
        ));
    };
    if cli.systemd_cgroup {
        return Err(Error::Unsupported("--systemd-cgroup (the systemd cgroup driver)".into()));
    }
    if cli.rootless.as_deref() == Some("true") {
        return Err(Error::Unsupported("--rootless=true".into()));
    }
    let rt = Runtime::new(&cli.root);
    match cmd {
        Command::Create(a) => {
            rt.create(&a.id, &create_options(a)?)?;
            Ok(0)
        }
        Command::Start { id } => rt.start(id).map(|()| 0),
        Command::State { id } => {
            let s = rt.state(id)?;
            print_json_pretty(&s)?;
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = runtime_core::signal::parse(signal.as_deref().unwrap_or("SIGTERM"))?;
            rt.kill(id, sig, *all).map(|()| 0)
        }
        Command::Delete { force, id } => rt.delete(id, *force).map(|()| 0),
        Command::Run {
            create,
            detach,
            keep,
        } => {
            if *keep {
                return Err(Error::Unsupported("run --keep".into()));
            }
            let opts = create_options(create)?;
            if *detach {
                rt.run_detached(&create.id, &opts)?;
                Ok(0)
            } else {
                let code = rt.run(&create.id, &opts)?;
                Ok(code.clamp(0, 255) as u8)
            }
        }
        Command::List { format, quiet } => list(&rt, format, *quiet).map(|()| 0),
        Command::Spec { bundle } => spec(bundle).map(|()| 0),
        Command::Exec { .. } => Err(Error::Unsupported("exec".into())),
        Command::Pause { .. } => Err(Error::Unsupported("pause".into())),
        Command::Resume { .. } => Err(Error::Unsupported("resume".into())),
        Command::Ps { .. } => Err(Error::Unsupported("ps".into())),
        Command::Update { .. } => Err(Error::Unsupported("update".into())),
        Command::Events { .. } => Err(Error::Unsupported("events".into())),
        Command::Features => Err(Error::Unsupported("features".into())),
        Command::Checkpoint { .. } | Command::Restore { .. } => {
            Err(Error::Unsupported("checkpoint/restore".into()))
        }
    }
}

fn create_options(a: &CreateArgs) -> Result<CreateOptions> {
    if a.console_socket.is_some() {
        return Err(Error::Unsupported("--console-socket (terminals)".into()));
    }
    Ok(CreateOptions {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
    })
}

fn print_version() {
    println!("baleia version {}", env!("CARGO_PKG_VERSION"));
    println!("commit: {}", env!("BALEIA_COMMIT"));
    println!("spec: {}", runtime_core::spec::OCI_VERSION);
}

fn print_json_pretty<T: serde::Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Error::Other(format!("encode JSON: {e}")))?;
    writeln!(std::io::stdout(), "{text}").map_err(|e| Error::Other(format!("write stdout: {e}")))
}

fn list(rt: &Runtime, format: &str, quiet: bool) -> Result<()> {
    let all = rt.list()?;
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
                .map(|i| rows.iter().map(|r| r[i].len() + 3).max().unwrap_or(0).max(12))
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

fn spec(bundle: &Path) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::Other("File config.json exists. Remove it first".into()));
    }
    std::fs::write(&path, runtime_core::spec::DEFAULT_SPEC)
        .map_err(|e| Error::Other(format!("write {}: {e}", path.display())))
}
