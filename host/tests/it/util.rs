use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const GATEWAY: &str = "gw-token-0123456789abcdef";
pub const OPERATOR: &str = "op-token-0123456789abcdef";
pub const VIEWER: &str = "vw-token-0123456789abcdef";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_agency")
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let n = std::sync::atomic::AtomicU32::new(0);
        let _ = &n;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p =
            std::env::temp_dir().join(format!("agency-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A local server on a free port. With tokens it runs in this process (the composition
/// root, `agency::app::App`, served on port 0 and stopped on drop); without, it is the
/// `agency serve` binary (what prints generated tokens is the CLI), killed by PID on drop.
pub struct Server {
    pub base: String,
    pub stdout_head: Vec<String>,
    running: Running,
}

enum Running {
    Child(Child),
    InProcess {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

impl Server {
    pub fn start(data: &Path, extra: &[&str], with_tokens: bool) -> Server {
        Self::start_with_env(data, extra, with_tokens, &[])
    }

    pub fn start_with_env(
        data: &Path,
        extra: &[&str],
        with_tokens: bool,
        env: &[(&str, &str)],
    ) -> Server {
        if with_tokens {
            Self::in_process(data, extra, env)
        } else {
            Self::spawn(data, extra, env)
        }
    }

    /// The config `agency serve ARGS` would build, with these environment variables.
    fn in_process(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut vars: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.push(("AGENCY_GATEWAY_TOKEN".into(), GATEWAY.into()));
        vars.push(("AGENCY_OPERATOR_TOKEN".into(), OPERATOR.into()));
        vars.push(("AGENCY_VIEWER_TOKEN".into(), VIEWER.into()));
        let flag = |name: &str| {
            args.iter()
                .position(|a| *a == name)
                .map(|i| args[i + 1].to_owned())
        };
        let config_file = flag("--config").map(PathBuf::from);
        let mut config =
            agency::config::Config::load(config_file.as_deref(), vars).expect("config");
        config.data_dir = data.to_path_buf();
        if let Some(p) = flag("--policy") {
            config.policy = Some(PathBuf::from(p));
        }
        if let Some(g) = flag("--graph") {
            config.graph = Some(PathBuf::from(g));
        }
        if let Some(e) = flag("--engine") {
            config.engine = e.parse().expect("engine");
        }
        let example = args.contains(&"--example");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, base) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = agency::app::App::build(config, example)
                    .await
                    .expect("build");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready
                    .send(format!("http://{}", listener.local_addr().unwrap()))
                    .unwrap();
                let shutdown = async {
                    let _ = stopped.await;
                };
                app.run(listener, shutdown, std::time::Duration::from_secs(5))
                    .await
                    .unwrap();
            });
        });
        let base = base.recv().expect("the server started");
        Server {
            base,
            stdout_head: Vec::new(),
            running: Running::InProcess {
                stop: Some(stop),
                thread: Some(thread),
            },
        }
    }

    fn spawn(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra);
        cmd.env_remove("AGENCY_GATEWAY_TOKEN")
            .env_remove("AGENCY_OPERATOR_TOKEN")
            .env_remove("AGENCY_VIEWER_TOKEN")
            .env("AGENCY_LOG", "warn");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn agency serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut head = Vec::new();
        let base = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("agency serve exited before listening; output: {head:?}");
            };
            if let Some(rest) = line.strip_prefix("agency: listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            head.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Server {
            base,
            stdout_head: head,
            running: Running::Child(child),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token `agency serve` printed when it generated them (`AGENCY_OPERATOR_TOKEN`...).
    pub fn printed_token(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.stdout_head
            .iter()
            .find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {name} printed: {:?}", self.stdout_head))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Child(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::InProcess { stop, thread } => {
                if let Some(s) = stop.take() {
                    let _ = s.send(());
                }
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// (status, JSON body)
pub fn post(url: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
    let mut r = agent()
        .post(url)
        .header("authorization", &format!("Bearer {token}"))
        .content_type("application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

pub fn get(url: &str, token: &str) -> (u16, serde_json::Value) {
    let mut r = agent()
        .get(url)
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Runs the `agency` binary from the repository's root with `env` set: (exit code,
/// stdout, stderr).
pub fn agency_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
