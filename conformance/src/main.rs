//! `baleia-conformance`: run the OCI conformance suite against a
//! runc-compatible binary, or merge several runs into one side-by-side table.
//!
//! ```text
//! baleia-conformance --runtime PATH [--name N] [--group G]... [--filter S]
//!                    [--format table|json|tap] [--probe PATH] [--busybox PATH]
//!                    [--work DIR] [--expect-pass FILE | --expect-no-pass] [--list]
//! baleia-conformance merge NAME=RESULTS.json... [--title T]
//! ```
//!
//! `--expect-pass FILE` exits 1 unless every test FILE lists ran and passed
//! (and 2 when FILE cannot be read, lists nothing, or names a test the suite
//! does not have). `--expect-no-pass` exits 1 if any test passes: it is how
//! `make test` runs the suite against `/bin/false`, which must pass none.

use conformance::harness::{self, Outcome, Suite};
use std::path::PathBuf;

struct Args {
    runtime: Option<PathBuf>,
    name: Option<String>,
    groups: Vec<String>,
    filters: Vec<String>,
    format: String,
    probe: Option<PathBuf>,
    busybox: PathBuf,
    work: Option<PathBuf>,
    expect_pass: Option<PathBuf>,
    expect_no_pass: bool,
    list: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: baleia-conformance --runtime PATH [--name N] [--group G]... [--filter S]...\n\
         \x20      [--format table|json|tap] [--probe PATH] [--busybox PATH] [--work DIR]\n\
         \x20      [--expect-pass FILE | --expect-no-pass] [--list]\n\
         \x20  or: baleia-conformance merge NAME=RESULTS.json..."
    );
    std::process::exit(2)
}

fn parse(argv: &[String]) -> Args {
    let mut a = Args {
        runtime: None,
        name: None,
        groups: Vec::new(),
        filters: Vec::new(),
        format: "table".into(),
        probe: None,
        busybox: conformance::bundle::BUSYBOX.into(),
        work: None,
        expect_pass: None,
        expect_no_pass: false,
        list: false,
    };
    let mut it = argv.iter();
    while let Some(x) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match x.as_str() {
            "--runtime" => a.runtime = Some(val().into()),
            "--name" => a.name = Some(val()),
            "--group" => a.groups.push(val()),
            "--filter" => a.filters.push(val()),
            "--format" => a.format = val(),
            "--probe" => a.probe = Some(val().into()),
            "--busybox" => a.busybox = val().into(),
            "--work" => a.work = Some(val().into()),
            "--expect-pass" => a.expect_pass = Some(val().into()),
            "--expect-no-pass" => a.expect_no_pass = true,
            "--list" => a.list = true,
            _ => usage(),
        }
    }
    if a.expect_no_pass && a.expect_pass.is_some() {
        usage()
    }
    a
}

/// The probe is built for an explicit target (static), so it lives in a
/// sibling target directory of this binary; BALEIA_PROBE overrides.
fn find_probe() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BALEIA_PROBE") {
        return Some(p.into());
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let profile = dir.file_name()?.to_owned();
    let cands = [
        dir.join("../x86_64-unknown-linux-gnu")
            .join(&profile)
            .join("baleia-probe"),
        dir.join("../x86_64-unknown-linux-gnu/release/baleia-probe"),
        dir.join("../../x86_64-unknown-linux-gnu")
            .join(&profile)
            .join("baleia-probe"),
        dir.join("baleia-probe"),
    ];
    cands.into_iter().find(|p| p.exists())
}

fn merge(argv: &[String]) -> i32 {
    let mut runs: Vec<(String, Vec<Outcome>)> = Vec::new();
    for a in argv {
        let Some((name, file)) = a.split_once('=') else {
            usage()
        };
        // A runtime that could not be run at all still gets its column.
        let outs = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| harness::parse_outcomes(&t));
        match outs {
            Ok(o) => runs.push((name.to_string(), o)),
            Err(e) => {
                eprintln!("baleia-conformance: {file}: {e} (empty column)");
                runs.push((name.to_string(), Vec::new()));
            }
        }
    }
    print!("{}", harness::render_side_by_side(&runs));
    0
}

/// Deletes whatever containers a test failed to clean up, so that a run never
/// leaves processes behind; says so, since it points at a harness bug.
fn sweep(suite: &Suite) {
    let rt = conformance::runtime::Runtime::new(
        suite.runtime.clone(),
        suite.work.join("state"),
        suite.work.join("sweep"),
    );
    let Ok(o) = rt.run(&["list", "--format", "json"], Default::default()) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    for c in v.as_array().cloned().unwrap_or_default() {
        if let Some(id) = c["id"].as_str() {
            eprintln!("baleia-conformance: sweeping leftover container {id}");
            let _ = rt.run(&["delete", "--force", id], Default::default());
        }
    }
    conformance::runtime::reap_zombies();
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("merge") {
        std::process::exit(merge(&argv[1..]));
    }
    let a = parse(&argv);
    let all = conformance::groups::all();
    let known: Vec<String> = all.iter().map(|t| t.id()).collect();
    let expected = match &a.expect_pass {
        Some(f) if !a.list => match harness::read_expected(f, &known) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("baleia-conformance: --expect-pass {e}");
                std::process::exit(2)
            }
        },
        _ => None,
    };
    let tests: Vec<_> = all
        .into_iter()
        .filter(|t| a.groups.is_empty() || a.groups.iter().any(|g| g == t.group))
        .filter(|t| a.filters.is_empty() || a.filters.iter().any(|f| t.id().contains(f.as_str())))
        .collect();
    if a.list {
        for t in &tests {
            println!("{:<50} {}", t.id(), t.cite);
        }
        println!("{} tests", tests.len());
        return;
    }
    let Some(runtime) = a.runtime.clone() else {
        usage()
    };
    let runtime = std::fs::canonicalize(&runtime).unwrap_or(runtime);
    let Some(probe) = a.probe.clone().or_else(find_probe) else {
        eprintln!("baleia-conformance: no baleia-probe found: build it (make -f mk/conformance.mk) or pass --probe");
        std::process::exit(2)
    };
    let name = a.name.clone().unwrap_or_else(|| {
        runtime
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    // Containers' inits are re-parented to us once the runtime exits, so we
    // can wait for them like a shim does.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if let Err(e) = conformance::runtime::install_reaper() {
        eprintln!("baleia-conformance: SIGCHLD reaper: {e}");
        std::process::exit(2)
    }
    let work = a.work.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("baleia-conformance-{}", std::process::id()))
    });
    let template = work.join("template");
    let _ = std::fs::remove_dir_all(&template);
    if let Err(e) = conformance::bundle::make_template(&template, &a.busybox, &probe) {
        eprintln!("baleia-conformance: rootfs template: {e}");
        std::process::exit(2)
    }
    let suite = Suite {
        runtime,
        name,
        work: work.clone(),
        template,
    };
    let mut outs = Vec::new();
    for (i, t) in tests.iter().enumerate() {
        let o = harness::run_test(&suite, t, i);
        if a.format == "table" {
            let d: String = o.detail.chars().take(400).collect();
            println!(
                "{:<5} {:<14} {:<40} {}",
                o.status.to_uppercase(),
                o.group,
                o.name,
                d
            );
        }
        outs.push(o);
    }
    sweep(&suite);
    harness::remove_parent_cgroups();
    let _ = std::fs::remove_dir_all(&work);
    match a.format.as_str() {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::Value::Array(
                outs.iter().map(Outcome::to_json).collect()
            ))
            .unwrap_or_default()
        ),
        "tap" => print!("{}", harness::render_tap(&outs)),
        _ => print!("{}", harness::summary(&outs)),
    }
    let mut code = 0;
    if let (Some(listed), Some(f)) = (&expected, &a.expect_pass) {
        let (regressions, new) = harness::check_expected(listed, &outs);
        for r in &regressions {
            eprintln!("REGRESSION: {r}");
        }
        for id in new {
            eprintln!("new pass (add it to {}): {id}", f.display());
        }
        if !regressions.is_empty() {
            code = 1;
        }
    }
    if a.expect_no_pass {
        for o in outs.iter().filter(|o| o.status == "pass") {
            eprintln!(
                "PASSED WITHOUT A RUNTIME: {}/{} passes against {}: it cannot tell a runtime from a binary that runs nothing",
                o.group,
                o.name,
                suite.runtime.display()
            );
            code = 1;
        }
    }
    std::process::exit(code);
}
