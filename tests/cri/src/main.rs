//! The CRI client of `make test-cri`: it talks to containerd's CRI plugin over its unix socket
//! the way the kubelet does (CRI v1 gRPC) and asserts what the runtime under test did, from
//! the CRI's answers and from the host (/proc, cgroup files, mounts, the runtime's root).
//!
//! tests/cri/cri.sh starts containerd and hands over, in the environment: CRI_SOCKET,
//! CRI_POD_LOGS (the pods' log directories go there), CRI_CGROUP_PARENT (every cgroup of the
//! pod is below it), CRI_CONTAINERD_LOG (containerd's stderr), CRI_RUNTIME_ROOT (the shim's
//! `Root`: the runtime's --root is <it>/k8s.io), CRI_RUNTIME_NAME, CRI_WORK (the scratch dir:
//! no mount may be left under it but CRI_MOUNTS_OURS, the script's own).
//!
//! Every check prints `ok NAME` or `FAIL NAME: what was wrong`; the exit status is 1 if any
//! failed. The pod and its containers are removed at the end whatever failed.

// mk/cri.mk builds this crate with clippy-driver: its lints fail the build like rustc's.
#![deny(warnings)]

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    AttachRequest, ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState,
    ContainerStatsRequest, ContainerStatusRequest, CreateContainerRequest, ExecRequest,
    ExecSyncRequest, ImageSpec, ImageStatusRequest, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListContainersRequest, ListPodSandboxRequest, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, PodSandboxState, PodSandboxStatusRequest, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StopPodSandboxRequest,
    UpdateContainerResourcesRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

mod websocket;

/// Bound for one CRI call: a hung runtime must fail a check, not hang the suite.
const RPC_TIMEOUT: Duration = Duration::from_secs(60);
const PAUSE_IMAGE: &str = "localhost/pause:baleia";
const BUSYBOX_IMAGE: &str = "localhost/busybox:latest";
const POD_HOSTNAME: &str = "baleia-cri-pod";
const MIB: i64 = 1024 * 1024;

type Res<T = ()> = Result<T, String>;

/// Fails the check with a message when the condition does not hold.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

struct Env {
    socket: String,
    pod_logs: PathBuf,
    cgroup_parent: String,
    containerd_log: PathBuf,
    runtime_root: PathBuf,
    runtime_name: String,
    work: PathBuf,
    mounts_ours: PathBuf,
}

fn env_var(name: &str) -> Res<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (tests/cri/cri.sh sets it)"))
}

impl Env {
    fn from_env() -> Res<Env> {
        Ok(Env {
            socket: env_var("CRI_SOCKET")?,
            pod_logs: env_var("CRI_POD_LOGS")?.into(),
            cgroup_parent: env_var("CRI_CGROUP_PARENT")?,
            containerd_log: env_var("CRI_CONTAINERD_LOG")?.into(),
            runtime_root: env_var("CRI_RUNTIME_ROOT")?.into(),
            runtime_name: env_var("CRI_RUNTIME_NAME")?,
            work: env_var("CRI_WORK")?.into(),
            mounts_ours: env_var("CRI_MOUNTS_OURS")?.into(),
        })
    }
}

/// What the scenarios learn and later ones need.
#[derive(Default)]
struct Pod {
    id: String,
    config: PodSandboxConfig,
    pause_pid: u32,
    netns_path: String,
    log_dir: PathBuf,
    /// Every host pid seen in the pod: none may be left at the end.
    pids: Vec<u32>,
    /// The long-running container of the namespace, log, exec, update and stats checks.
    main: Option<(String, u32)>,
}

struct Cx {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
    env: Env,
    pod: Option<Pod>,
}

struct Suite {
    passed: u32,
    failed: Vec<String>,
}

impl Suite {
    fn record(&mut self, name: &str, result: Res) {
        match result {
            Ok(()) => {
                self.passed += 1;
                eprintln!("ok   {name}");
            }
            Err(why) => {
                self.failed.push(name.to_string());
                eprintln!("FAIL {name}: {why}");
            }
        }
    }
}

async fn rpc<T>(
    what: &str,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Res<T> {
    match tokio::time::timeout(RPC_TIMEOUT, call).await {
        Err(_) => Err(format!("{what}: no answer in {} s", RPC_TIMEOUT.as_secs())),
        Ok(Err(status)) => Err(format!(
            "{what} failed: {} ({:?})",
            status.message(),
            status.code()
        )),
        Ok(Ok(response)) => Ok(response.into_inner()),
    }
}

fn ctx<T, E: Display>(what: impl Display, r: Result<T, E>) -> Res<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

async fn connect(socket: &str) -> Res<Channel> {
    let path = socket.to_string();
    // tonic wants a URI; the connector ignores it and dials the unix socket.
    let endpoint = ctx("endpoint", Endpoint::try_from("http://[::1]:50051"))?;
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await;
    ctx(
        format!("connecting to containerd's socket {socket}"),
        channel,
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = match Env::from_env() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("baleia-cri-test: {e}");
            std::process::exit(2);
        }
    };
    let channel = match connect(&env.socket).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baleia-cri-test: {e}");
            std::process::exit(2);
        }
    };
    let mut cx = Cx {
        rt: RuntimeServiceClient::new(channel.clone()),
        img: ImageServiceClient::new(channel),
        env,
        pod: None,
    };
    let mut suite = Suite {
        passed: 0,
        failed: Vec::new(),
    };

    suite.record("cri-version", version(&mut cx).await);
    suite.record("local-images", images(&mut cx).await);
    suite.record("run-pod-sandbox", run_pod_sandbox(&mut cx).await);
    suite.record(
        "container-shares-pod-namespaces",
        shared_namespaces(&mut cx).await,
    );
    suite.record("container-logs", logs(&mut cx).await);
    suite.record("exec-sync", exec_sync(&mut cx).await);
    suite.record("exec-sync-non-zero", exec_sync_non_zero(&mut cx).await);
    suite.record("exec-sync-timeout", exec_sync_timeout(&mut cx).await);
    suite.record("exec-streaming", exec_streaming(&mut cx).await);
    suite.record("attach-streaming", attach_streaming(&mut cx).await);
    suite.record(
        "update-container-resources",
        update_resources(&mut cx).await,
    );
    suite.record("container-stats", stats(&mut cx).await);
    suite.record(
        "exit-leaving-children",
        exit_leaving_children(&mut cx).await,
    );
    suite.record("stop-pod-sandbox", stop_pod(&mut cx).await);
    suite.record("remove-pod-sandbox", remove_pod(&mut cx).await);
    suite.record("nothing-left", nothing_left(&mut cx).await);
    // Whatever failed above, the pod goes (the script's teardown then kills what is left).
    cleanup(&mut cx).await;

    eprintln!(
        "cri client ({}): {} passed, {} failed{}",
        cx.env.runtime_name,
        suite.passed,
        suite.failed.len(),
        if suite.failed.is_empty() {
            String::new()
        } else {
            format!(": {}", suite.failed.join(" "))
        }
    );
    std::process::exit(if suite.failed.is_empty() { 0 } else { 1 });
}

fn pod(cx: &Cx) -> Res<&Pod> {
    cx.pod
        .as_ref()
        .ok_or_else(|| "no pod sandbox (run-pod-sandbox failed)".to_string())
}

fn main_container(cx: &Cx) -> Res<(String, u32)> {
    pod(cx)?
        .main
        .clone()
        .ok_or_else(|| "no running container (container-shares-pod-namespaces failed)".to_string())
}

// --- the scenarios ------------------------------------------------------------------------

async fn version(cx: &mut Cx) -> Res {
    let v = rpc("Version", cx.rt.version(VersionRequest::default())).await?;
    ensure!(
        v.runtime_name == "containerd" && v.runtime_api_version == "v1",
        "Version says runtime {:?} api {:?}, want containerd v1",
        v.runtime_name,
        v.runtime_api_version
    );
    Ok(())
}

async fn images(cx: &mut Cx) -> Res {
    for image in [PAUSE_IMAGE, BUSYBOX_IMAGE] {
        let req = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.to_string(),
                ..Default::default()
            }),
            verbose: false,
        };
        let st = rpc("ImageStatus", cx.img.image_status(req)).await?;
        ensure!(
            st.image.is_some(),
            "the CRI does not know the imported image {image}"
        );
    }
    Ok(())
}

fn namespaces_pod() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Pod as i32,
        pid: NamespaceMode::Pod as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

async fn run_pod_sandbox(cx: &mut Cx) -> Res {
    let uid = format!("baleia-cri-{}", std::process::id());
    let log_dir = cx.env.pod_logs.join(&uid);
    ctx(
        format!("mkdir {}", log_dir.display()),
        std::fs::create_dir_all(&log_dir),
    )?;
    let config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "pod".into(),
            uid: uid.clone(),
            namespace: "baleia-test".into(),
            attempt: 0,
        }),
        hostname: POD_HOSTNAME.into(),
        log_directory: log_dir.display().to_string(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cx.env.cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces_pod()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = RunPodSandboxRequest {
        config: Some(config.clone()),
        runtime_handler: String::new(),
    };
    let id = rpc("RunPodSandbox", cx.rt.run_pod_sandbox(req))
        .await?
        .pod_sandbox_id;
    // From here on the pod exists: keep it for the later checks and the cleanup.
    cx.pod = Some(Pod {
        id: id.clone(),
        config,
        log_dir,
        ..Default::default()
    });
    let req = PodSandboxStatusRequest {
        pod_sandbox_id: id.clone(),
        verbose: true,
    };
    let st = rpc("PodSandboxStatus", cx.rt.pod_sandbox_status(req)).await?;
    let status = st.status.ok_or("PodSandboxStatus has no status")?;
    ensure!(
        status.state == PodSandboxState::SandboxReady as i32,
        "the sandbox is {:?}, want SANDBOX_READY",
        PodSandboxState::try_from(status.state)
    );
    let info = verbose_info(&st.info)?;
    let pid = info_pid(&info)?;
    let netns = info["runtimeSpec"]["linux"]["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["type"] == "network"))
        .and_then(|n| n["path"].as_str())
        .unwrap_or_default()
        .to_string();
    let pod = cx.pod.as_mut().ok_or("the pod vanished")?;
    pod.pause_pid = pid;
    pod.netns_path = netns;
    pod.pids.push(pid);
    // `start` returns once the init is released, maybe just before its execve (runc's too):
    // until then the process still shows the runtime's command line.
    let execd = poll(Duration::from_secs(5), || cmdline(pid) == "/pause").await;
    ensure!(
        execd,
        "the sandbox's pid {pid} runs {:?}, want the pause image's /pause",
        cmdline(pid)
    );
    let cg = controller_dir(pid, "pids")?;
    ensure!(
        cg.to_string_lossy().contains(&cx.env.cgroup_parent),
        "the pause process's cgroup {} is not under the pod's parent {}",
        cg.display(),
        cx.env.cgroup_parent
    );
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    ensure!(
        ip.starts_with("10.88.77."),
        "the pod has IP {ip:?}, want one of the CNI bridge's 10.88.77.0/24"
    );
    Ok(())
}

fn container_config(
    name: &str,
    script: &str,
    resources: Option<LinuxContainerResources>,
) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: BUSYBOX_IMAGE.into(),
            ..Default::default()
        }),
        command: vec!["sh".into()],
        args: vec!["-c".into(), script.into()],
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            resources,
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(namespaces_pod()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// Creates and starts a container in the pod; returns its id and host pid.
async fn start_container(cx: &mut Cx, config: ContainerConfig) -> Res<(String, u32)> {
    let pod = pod(cx)?;
    let req = CreateContainerRequest {
        pod_sandbox_id: pod.id.clone(),
        config: Some(config),
        sandbox_config: Some(pod.config.clone()),
    };
    let id = rpc("CreateContainer", cx.rt.create_container(req))
        .await?
        .container_id;
    let req = StartContainerRequest {
        container_id: id.clone(),
    };
    rpc("StartContainer", cx.rt.start_container(req)).await?;
    let (state, info) = container_status(cx, &id).await?;
    ensure!(
        state.state == ContainerState::ContainerRunning as i32,
        "container {id} is {:?} after StartContainer, want CONTAINER_RUNNING",
        ContainerState::try_from(state.state)
    );
    let pid = info_pid(&info)?;
    if let Some(p) = cx.pod.as_mut() {
        p.pids.push(pid);
    }
    Ok((id, pid))
}

async fn container_status(
    cx: &mut Cx,
    id: &str,
) -> Res<(k8s_cri::v1::ContainerStatus, serde_json::Value)> {
    let req = ContainerStatusRequest {
        container_id: id.to_string(),
        verbose: true,
    };
    let st = rpc("ContainerStatus", cx.rt.container_status(req)).await?;
    let info = verbose_info(&st.info)?;
    Ok((st.status.ok_or("ContainerStatus has no status")?, info))
}

const MAIN_SCRIPT: &str = "echo to-stdout; echo to-stderr >&2; \
    trap 'exit 0' TERM; while :; do sleep 1; done";

async fn shared_namespaces(cx: &mut Cx) -> Res {
    let resources = LinuxContainerResources {
        memory_limit_in_bytes: 256 * MIB,
        cpu_period: 100_000,
        cpu_quota: 20_000,
        cpu_shares: 256,
        ..Default::default()
    };
    let (id, pid) =
        start_container(cx, container_config("main", MAIN_SCRIPT, Some(resources))).await?;
    pod_mut(cx)?.main = Some((id.clone(), pid));
    let pause = pod(cx)?.pause_pid;
    for ns in ["net", "ipc", "pid", "uts"] {
        let want = ns_inode(pause, ns)?;
        let host = ns_inode(pid, ns)?;
        ensure!(
            host == want,
            "the container's {ns} namespace is {host}, the sandbox's (pause pid {pause}) is {want}"
        );
        let link = format!("/proc/self/ns/{ns}");
        let inside = exec_ok(cx, &id, &["readlink", &link]).await?;
        ensure!(
            inside.trim() == want,
            "inside the container readlink {link} says {:?}, the sandbox's is {want}",
            inside.trim()
        );
    }
    let own = ns_inode(std::process::id(), "net")?;
    ensure!(
        own != ns_inode(pause, "net")?,
        "the pod has the host's network namespace {own}, not its own"
    );
    // One pid namespace for the pod: the pause process is its pid 1.
    let init = exec_ok(cx, &id, &["cat", "/proc/1/cmdline"]).await?;
    ensure!(
        init.trim_end_matches('\0') == "/pause",
        "the container's pid 1 runs {init:?}, want the sandbox's /pause"
    );
    let host = exec_ok(cx, &id, &["hostname"]).await?;
    ensure!(
        host.trim() == POD_HOSTNAME,
        "the container's hostname is {:?}, want the pod's {POD_HOSTNAME}",
        host.trim()
    );
    Ok(())
}

fn pod_mut(cx: &mut Cx) -> Res<&mut Pod> {
    cx.pod
        .as_mut()
        .ok_or_else(|| "no pod sandbox (run-pod-sandbox failed)".to_string())
}

/// One CRI log line: `<RFC 3339 time> <stdout|stderr> <F|P> <text>`.
fn parse_log_line(line: &str) -> Res<(&str, &str, &str)> {
    let mut parts = line.splitn(4, ' ');
    let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("log line {line:?} has not the CRI's four fields"));
    };
    let text = parts.next().unwrap_or("");
    let b = time.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let time_ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (time.ends_with('Z') || time[19..].contains(['+', '-']));
    ensure!(
        time_ok,
        "log line {line:?}: {time:?} is not an RFC 3339 time"
    );
    ensure!(
        stream == "stdout" || stream == "stderr",
        "log line {line:?}: stream {stream:?} is neither stdout nor stderr"
    );
    ensure!(
        tag == "F" || tag == "P",
        "log line {line:?}: tag {tag:?} is neither F nor P"
    );
    Ok((stream, tag, text))
}

async fn logs(cx: &mut Cx) -> Res {
    let (id, _) = main_container(cx)?;
    let (status, _) = container_status(cx, &id).await?;
    let path = pod(cx)?.log_dir.join("main.log");
    ensure!(
        Path::new(&status.log_path) == path,
        "ContainerStatus's log path is {:?}, want {}",
        status.log_path,
        path.display()
    );
    let mut text = String::new();
    let found = poll(Duration::from_secs(10), || {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines().count() >= 2
    })
    .await;
    ensure!(
        found,
        "the log {} has {:?}, want the container's two lines",
        path.display(),
        text
    );
    let mut seen = Vec::new();
    for line in text.lines() {
        let (stream, tag, msg) = parse_log_line(line)?;
        seen.push(format!("{stream} {tag} {msg}"));
    }
    for want in ["stdout F to-stdout", "stderr F to-stderr"] {
        ensure!(
            seen.iter().any(|s| s == want),
            "the log {} has {seen:?}, no {want:?}",
            path.display()
        );
    }
    Ok(())
}

async fn exec(cx: &mut Cx, id: &str, cmd: &[&str], timeout: i64) -> Res<(String, String, i32)> {
    let req = ExecSyncRequest {
        container_id: id.to_string(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        timeout,
    };
    let r = rpc(&format!("ExecSync {cmd:?}"), cx.rt.exec_sync(req)).await?;
    Ok((
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
        r.exit_code,
    ))
}

async fn exec_ok(cx: &mut Cx, id: &str, cmd: &[&str]) -> Res<String> {
    let (out, err, code) = exec(cx, id, cmd, 30).await?;
    ensure!(
        code == 0,
        "ExecSync {cmd:?} exited {code}, stderr {err:?}, want 0"
    );
    Ok(out)
}

async fn exec_sync(cx: &mut Cx) -> Res {
    let (id, _) = main_container(cx)?;
    let cmd = ["sh", "-c", "echo exec-out; echo exec-err >&2"];
    let (out, err, code) = exec(cx, &id, &cmd, 30).await?;
    ensure!(
        (out.as_str(), err.as_str(), code) == ("exec-out\n", "exec-err\n", 0),
        "ExecSync {cmd:?} gave stdout {out:?} stderr {err:?} exit {code}, want \"exec-out\\n\" \"exec-err\\n\" 0"
    );
    Ok(())
}

async fn exec_sync_non_zero(cx: &mut Cx) -> Res {
    let (id, _) = main_container(cx)?;
    let cmd = ["sh", "-c", "echo failing >&2; exit 7"];
    let (_, err, code) = exec(cx, &id, &cmd, 30).await?;
    ensure!(
        code == 7 && err == "failing\n",
        "ExecSync {cmd:?} gave exit {code} stderr {err:?}, want 7 \"failing\\n\""
    );
    Ok(())
}

/// ExecSync's timeout: containerd kills the exec'd process and says so.
async fn exec_sync_timeout(cx: &mut Cx) -> Res {
    let (id, pid) = main_container(cx)?;
    let cg = controller_dir(pid, "pids")?;
    let started = Instant::now();
    let r = exec(cx, &id, &["sleep", "31"], 1).await;
    match r {
        Err(e) => ensure!(
            e.contains("timeout"),
            "ExecSync with a 1 s timeout failed, but not for the timeout: {e}"
        ),
        Ok(r) => {
            return Err(format!(
                "ExecSync of sleep 31 with a 1 s timeout returned {r:?}"
            ))
        }
    }
    ensure!(
        started.elapsed() < Duration::from_secs(20),
        "ExecSync with a 1 s timeout took {:?}",
        started.elapsed()
    );
    let gone = poll(Duration::from_secs(10), || {
        !procs_of(&cg).iter().any(|p| cmdline(*p) == "sleep 31")
    })
    .await;
    ensure!(
        gone,
        "the timed-out exec's sleep 31 is still in {}",
        cg.display()
    );
    Ok(())
}

/// Exec through the streaming server (the URL the CRI hands out; kubectl exec's path), over
/// its websocket protocol v4.channel.k8s.io: stdout, stderr and the exit status.
async fn exec_streaming(cx: &mut Cx) -> Res {
    let (id, _) = main_container(cx)?;
    let req = ExecRequest {
        container_id: id,
        cmd: [
            "sh",
            "-c",
            "echo streamed-out; echo streamed-err >&2; exit 3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        tty: false,
        stdin: false,
        stdout: true,
        stderr: true,
    };
    let url = rpc("Exec", cx.rt.exec(req)).await?.url;
    // The server closes the stream once the process exited and its status was sent.
    let channels = websocket::session(&url, None, |_| false, RPC_TIMEOUT).await?;
    let get = |c: u8| String::from_utf8_lossy(channels.get(&c).map_or(&[][..], |v| v)).into_owned();
    let (out, err, status) = (get(1), get(2), get(3));
    ensure!(
        out == "streamed-out\n" && err == "streamed-err\n",
        "the exec stream gave stdout {out:?} stderr {err:?}, want \"streamed-out\\n\" \"streamed-err\\n\""
    );
    ensure!(
        status.contains("NonZeroExitCode") && status.contains("\"3\""),
        "the exec stream's status is {status:?}, want a NonZeroExitCode with exit code 3"
    );
    Ok(())
}

/// Attach through the streaming server (kubectl attach's path) to a container created with
/// stdin: what is sent on the stream reaches the container's stdin (the shim's pipe the
/// runtime gave it), and its answer comes back on stdout.
async fn attach_streaming(cx: &mut Cx) -> Res {
    let mut config = container_config(
        "attach",
        "read line; echo \"got $line\"; exec sleep 100000",
        None,
    );
    config.stdin = true;
    let (id, _) = start_container(cx, config).await?;
    let req = AttachRequest {
        container_id: id.clone(),
        stdin: true,
        tty: false,
        stdout: true,
        stderr: true,
    };
    let url = rpc("Attach", cx.rt.attach(req)).await?.url;
    let want = "got attached-input\n";
    let done = |ch: &HashMap<u8, Vec<u8>>| ch.get(&1).is_some_and(|o| o.ends_with(want.as_bytes()));
    let within = Duration::from_secs(20);
    let channels = websocket::session(&url, Some(b"attached-input\n"), done, within).await?;
    let out = String::from_utf8_lossy(channels.get(&1).map_or(&[][..], |v| v)).into_owned();
    ensure!(
        out == want,
        "the attach stream gave stdout {out:?} (in {within:?}), want {want:?}"
    );
    let req = RemoveContainerRequest { container_id: id };
    // A running container: the kubelet stops it first.
    let stop = k8s_cri::v1::StopContainerRequest {
        container_id: req.container_id.clone(),
        timeout: 0,
    };
    rpc("StopContainer", cx.rt.stop_container(stop)).await?;
    rpc("RemoveContainer", cx.rt.remove_container(req)).await?;
    Ok(())
}

struct Limits {
    memory: i64,
    quota: i64,
    period: i64,
    shares: i64,
}

/// The container's limits as its cgroup files say (cgroup v1 or v2).
fn read_limits(pid: u32) -> Res<Limits> {
    let mem = controller_dir(pid, "memory")?;
    let cpu = controller_dir(pid, "cpu")?;
    let num = |s: &str| -> Res<i64> {
        if s == "max" {
            return Ok(-1);
        }
        s.parse::<i64>()
            .map_err(|e| format!("cgroup value {s:?}: {e}"))
    };
    if mem.join("memory.limit_in_bytes").exists() {
        Ok(Limits {
            memory: num(&read_trim(&mem.join("memory.limit_in_bytes"))?)?,
            quota: num(&read_trim(&cpu.join("cpu.cfs_quota_us"))?)?,
            period: num(&read_trim(&cpu.join("cpu.cfs_period_us"))?)?,
            shares: num(&read_trim(&cpu.join("cpu.shares"))?)?,
        })
    } else {
        let max = read_trim(&cpu.join("cpu.max"))?;
        let (q, p) = max.split_once(' ').ok_or(format!("cpu.max is {max:?}"))?;
        let weight = num(&read_trim(&cpu.join("cpu.weight"))?)?;
        Ok(Limits {
            memory: num(&read_trim(&mem.join("memory.max"))?)?,
            quota: num(q)?,
            period: num(p)?,
            shares: weight,
        })
    }
}

/// Whether the cgroup's cpu.shares (v1) or cpu.weight (v2) is what SHARES asks for. The v2
/// weight is only range-checked: runtimes convert shares to weights differently (runc 1.1's
/// linear map, later runc's quadratic one), and update_resources checks that it grew.
fn shares_match(shares: i64, got: i64, pid: u32) -> Res<bool> {
    let cpu = controller_dir(pid, "cpu")?;
    Ok(if cpu.join("cpu.shares").exists() {
        got == shares
    } else {
        (1..=10_000).contains(&got)
    })
}

async fn update_resources(cx: &mut Cx) -> Res {
    let (id, pid) = main_container(cx)?;
    let before = read_limits(pid)?;
    ensure!(
        (before.memory, before.quota, before.period) == (256 * MIB, 20_000, 100_000)
            && shares_match(256, before.shares, pid)?,
        "at creation the cgroup has memory {} quota {} period {} shares/weight {}, want the \
         requested 256 MiB, 20000/100000, 256 shares",
        before.memory,
        before.quota,
        before.period,
        before.shares
    );
    let req = UpdateContainerResourcesRequest {
        container_id: id,
        linux: Some(LinuxContainerResources {
            memory_limit_in_bytes: 128 * MIB,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 512,
            ..Default::default()
        }),
        ..Default::default()
    };
    rpc(
        "UpdateContainerResources",
        cx.rt.update_container_resources(req),
    )
    .await?;
    let after = read_limits(pid)?;
    ensure!(
        (after.memory, after.quota, after.period) == (128 * MIB, 50_000, 100_000)
            && shares_match(512, after.shares, pid)?
            && after.shares > before.shares,
        "after UpdateContainerResources the cgroup has memory {} quota {} period {} \
         shares/weight {}, want 128 MiB, 50000/100000, 512 shares",
        after.memory,
        after.quota,
        after.period,
        after.shares
    );
    Ok(())
}

async fn stats(cx: &mut Cx) -> Res {
    let (id, _) = main_container(cx)?;
    let req = ContainerStatsRequest {
        container_id: id.clone(),
    };
    let st = rpc("ContainerStats", cx.rt.container_stats(req))
        .await?
        .stats
        .ok_or("ContainerStats has no stats")?;
    let cpu = st
        .cpu
        .and_then(|c| c.usage_core_nano_seconds)
        .map_or(0, |v| v.value);
    let mem = st
        .memory
        .and_then(|m| m.working_set_bytes)
        .map_or(0, |v| v.value);
    ensure!(
        cpu > 0 && mem > 0,
        "ContainerStats of {id}: cpu {cpu} ns, memory working set {mem} bytes, want both non-zero"
    );
    Ok(())
}

/// A container whose shell exits while its children live on in the pod's pid namespace
/// (reparented to the pause process): the shim kills what is left in the container's cgroup
/// (the runtime's `kill --all` of a stopped container), the pause reaps it, and containerd
/// logs no error from the runtime.
async fn exit_leaving_children(cx: &mut Cx) -> Res {
    let log_start = std::fs::metadata(&cx.env.containerd_log).map_or(0, |m| m.len());
    // The shell blocks on a fifo until the test writes it (made before the sleeps start,
    // so it exists once they are seen).
    let script = "mkfifo /tmp/go; sleep 1001 & sleep 1002 & read go < /tmp/go; exit 3";
    let (id, pid) = start_container(cx, container_config("orphans", script, None)).await?;
    let cg = controller_dir(pid, "pids")?;
    let mut children = Vec::new();
    let found = poll(Duration::from_secs(10), || {
        children = procs_of(&cg)
            .into_iter()
            .filter(|p| cmdline(*p).starts_with("sleep 100"))
            .collect();
        children.len() == 2
    })
    .await;
    ensure!(
        found,
        "the container's two sleeps are not in its cgroup {}: {children:?}",
        cg.display()
    );
    pod_mut(cx)?.pids.extend(children.iter().copied());
    exec_ok(cx, &id, &["sh", "-c", "echo go > /tmp/go"]).await?;
    let mut state;
    let end = Instant::now() + Duration::from_secs(20);
    let exited = loop {
        let req = ContainerStatusRequest {
            container_id: id.clone(),
            verbose: false,
        };
        state = rpc("ContainerStatus", cx.rt.container_status(req))
            .await?
            .status
            .map(|s| (ContainerState::try_from(s.state), s.exit_code));
        if state == Some((Ok(ContainerState::ContainerExited), 3)) {
            break true;
        }
        if Instant::now() >= end {
            break false;
        }
        // containerd has no CRI event for a container's exit: poll its status.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        exited,
        "the container is {state:?} (state, exit code), want CONTAINER_EXITED with 3"
    );
    let gone = poll(Duration::from_secs(10), || {
        children
            .iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
    })
    .await;
    let left: Vec<String> = children
        .iter()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .map(|p| format!("{p} ({}, state {})", cmdline(*p), proc_state(*p)))
        .collect();
    ensure!(
        gone,
        "the exited container's children are still there: {}",
        left.join(", ")
    );
    let log = ctx(
        format!("reading {}", cx.env.containerd_log.display()),
        std::fs::read(&cx.env.containerd_log),
    )?;
    let tail = String::from_utf8_lossy(&log[(log_start as usize).min(log.len())..]).into_owned();
    let name = &cx.env.runtime_name;
    let errors: Vec<&str> = tail
        .lines()
        .filter(|l| l.contains("level=error"))
        // The runtime's own failures name it (its path, "OCI runtime"), the shim's carry
        // runtime=io.containerd.runc.v2. Not the container id alone: containerd 1.6's own log
        // copier may log "Failed to pipe stdout of container <id>: file already closed" when a
        // container exits (a containerd race, seen with runc as well).
        .filter(|l| l.contains(name.as_str()) || l.contains("runc.v2") || l.contains("OCI runtime"))
        .collect();
    ensure!(
        errors.is_empty(),
        "containerd logged errors about the container or the runtime: {}",
        errors.join(" | ")
    );
    let req = RemoveContainerRequest { container_id: id };
    rpc("RemoveContainer", cx.rt.remove_container(req)).await?;
    Ok(())
}

async fn stop_pod(cx: &mut Cx) -> Res {
    let id = pod(cx)?.id.clone();
    let req = StopPodSandboxRequest {
        pod_sandbox_id: id.clone(),
    };
    rpc("StopPodSandbox", cx.rt.stop_pod_sandbox(req)).await?;
    let req = PodSandboxStatusRequest {
        pod_sandbox_id: id.clone(),
        verbose: false,
    };
    let st = rpc("PodSandboxStatus", cx.rt.pod_sandbox_status(req))
        .await?
        .status
        .ok_or("PodSandboxStatus has no status")?;
    ensure!(
        st.state == PodSandboxState::SandboxNotready as i32,
        "after StopPodSandbox the sandbox is {:?}, want SANDBOX_NOTREADY",
        PodSandboxState::try_from(st.state)
    );
    for c in list_containers(cx, &id).await? {
        ensure!(
            c.state == ContainerState::ContainerExited as i32,
            "after StopPodSandbox container {} is {:?}, want CONTAINER_EXITED",
            c.id,
            ContainerState::try_from(c.state)
        );
    }
    let pids = pod(cx)?.pids.clone();
    let alive: Vec<u32> = pids
        .into_iter()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    ensure!(
        alive.is_empty(),
        "after StopPodSandbox processes of the pod are still there: {alive:?}"
    );
    Ok(())
}

async fn list_containers(cx: &mut Cx, pod_id: &str) -> Res<Vec<k8s_cri::v1::Container>> {
    let req = ListContainersRequest {
        filter: Some(ContainerFilter {
            pod_sandbox_id: pod_id.to_string(),
            ..Default::default()
        }),
    };
    Ok(rpc("ListContainers", cx.rt.list_containers(req))
        .await?
        .containers)
}

async fn remove_pod(cx: &mut Cx) -> Res {
    let id = pod(cx)?.id.clone();
    let req = RemovePodSandboxRequest {
        pod_sandbox_id: id.clone(),
    };
    rpc("RemovePodSandbox", cx.rt.remove_pod_sandbox(req)).await?;
    let pods = rpc(
        "ListPodSandbox",
        cx.rt.list_pod_sandbox(ListPodSandboxRequest::default()),
    )
    .await?
    .items;
    ensure!(
        pods.iter().all(|p| p.id != id),
        "after RemovePodSandbox ListPodSandbox still has {id}"
    );
    let left = list_containers(cx, &id).await?;
    ensure!(
        left.is_empty(),
        "after RemovePodSandbox the pod's containers are still listed: {:?}",
        left.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    Ok(())
}

async fn nothing_left(cx: &mut Cx) -> Res {
    let pod = pod(cx)?;
    let mut problems = Vec::new();
    let alive: Vec<u32> = pod
        .pids
        .iter()
        .copied()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    if !alive.is_empty() {
        problems.push(format!("processes of the pod: {alive:?}"));
    }
    let in_parent = processes_in_cgroup(&cx.env.cgroup_parent);
    if !in_parent.is_empty() {
        problems.push(format!(
            "processes in cgroups under {}: {in_parent:?}",
            cx.env.cgroup_parent
        ));
    }
    let cgroups = cgroups_under(&cx.env.cgroup_parent);
    if !cgroups.is_empty() {
        problems.push(format!("cgroups: {cgroups:?}"));
    }
    let mounts = mounts_under(&cx.env.work, &cx.env.mounts_ours)?;
    if !mounts.is_empty() {
        problems.push(format!("mounts under the scratch dir: {mounts:?}"));
    }
    if !pod.netns_path.is_empty() {
        let netns = mounts_under(Path::new(&pod.netns_path), Path::new("/nonexistent"))?;
        if !netns.is_empty() || Path::new(&pod.netns_path).exists() {
            problems.push(format!("the pod's network namespace {}", pod.netns_path));
        }
    }
    let state = cx.env.runtime_root.join("k8s.io");
    let entries: Vec<String> = std::fs::read_dir(&state)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if !entries.is_empty() {
        problems.push(format!(
            "the runtime's state dir {} holds {entries:?}",
            state.display()
        ));
    }
    ensure!(problems.is_empty(), "left behind: {}", problems.join("; "));
    Ok(())
}

async fn cleanup(cx: &mut Cx) {
    let Some(pod) = cx.pod.take() else { return };
    let stop = StopPodSandboxRequest {
        pod_sandbox_id: pod.id.clone(),
    };
    let _ = tokio::time::timeout(RPC_TIMEOUT, cx.rt.stop_pod_sandbox(stop)).await;
    let remove = RemovePodSandboxRequest {
        pod_sandbox_id: pod.id,
    };
    let _ = tokio::time::timeout(RPC_TIMEOUT, cx.rt.remove_pod_sandbox(remove)).await;
}

// --- the host's side ----------------------------------------------------------------------

/// The JSON of a verbose status's "info" key.
fn verbose_info(info: &HashMap<String, String>) -> Res<serde_json::Value> {
    let raw = info
        .get("info")
        .ok_or("the verbose status has no \"info\"")?;
    ctx("the verbose status's info", serde_json::from_str(raw))
}

fn info_pid(info: &serde_json::Value) -> Res<u32> {
    let pid = info["pid"].as_u64().unwrap_or(0);
    ensure!(pid > 0, "the verbose status has no pid: {}", info["pid"]);
    ctx("pid", u32::try_from(pid))
}

fn read_trim(path: &Path) -> Res<String> {
    ctx(
        format!("reading {}", path.display()),
        std::fs::read_to_string(path),
    )
    .map(|s| s.trim().to_string())
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}

fn proc_state(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .map(|(_, r)| r.chars().take(1).collect())
        })
        .unwrap_or_default()
}

fn ns_inode(pid: u32, ns: &str) -> Res<String> {
    let link = format!("/proc/{pid}/ns/{ns}");
    ctx(format!("readlink {link}"), std::fs::read_link(&link)).map(|p| p.display().to_string())
}

/// The directory of PID's cgroup that holds CONTROLLER's files: the v1 hierarchy that has it,
/// or the unified one.
fn controller_dir(pid: u32, controller: &str) -> Res<PathBuf> {
    let text = read_trim(Path::new(&format!("/proc/{pid}/cgroup")))?;
    let pure_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if pure_v2 && ctrls.is_empty() {
            return Ok(PathBuf::from(format!("/sys/fs/cgroup{path}")));
        }
        if ctrls.split(',').any(|c| c == controller) {
            return Ok(PathBuf::from(format!("/sys/fs/cgroup/{ctrls}{path}")));
        }
    }
    Err(format!("pid {pid} has no {controller} cgroup in {text:?}"))
}

fn procs_of(cgroup: &Path) -> Vec<u32> {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Every cgroup directory below PARENT, in every hierarchy.
fn cgroups_under(parent: &str) -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(d) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(d.filter_map(Result::ok).map(|e| e.path()));
    }
    let mut found = Vec::new();
    for root in roots {
        let top = root.join(parent.trim_start_matches('/'));
        if !root.join("cgroup.procs").exists() || !top.is_dir() {
            continue;
        }
        let mut stack = vec![top];
        while let Some(dir) = stack.pop() {
            if let Ok(d) = std::fs::read_dir(&dir) {
                for e in d.filter_map(Result::ok) {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        found.push(e.path());
                        stack.push(e.path());
                    }
                }
            }
        }
    }
    found
}

fn processes_in_cgroup(parent: &str) -> Vec<u32> {
    let Ok(d) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = format!(":{parent}/");
    d.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.contains(&needle)))
        })
        .collect()
}

/// Mount points at or below DIR, those at or below OURS excepted.
fn mounts_under(dir: &Path, ours: &Path) -> Res<Vec<String>> {
    let text = read_trim(Path::new("/proc/self/mountinfo"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir) && !Path::new(m).starts_with(ours))
        .map(str::to_string)
        .collect())
}

/// Polls COND every 100 ms until it holds or TIMEOUT passes (state the kernel or containerd
/// changes without an event we can wait on).
async fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
