//! A `redis-server` of the test's own, or a three-node Redis Cluster: 127.0.0.1,
//! ephemeral ports, temporary directories, no persistence; stopped when dropped. Never
//! the system service.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("nv-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer { port, dir, child: None };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops it (SIGKILL: as abrupt as a crash), keeping the port for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and waits until it answers PING.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (./scripts/test.sh installs Debian's)");
        self.child = Some(child);
        wait_for(|| ping(self.port), "redis-server never answered PING");
    }
}

impl RedisServer {
    /// Every key and every value it holds, as `redis-cli` prints them: what a reader of
    /// this Redis could learn.
    pub fn dump_all(&self) -> String {
        let cli = |args: &[&str]| -> String {
            let output = Command::new("redis-cli")
                .args(["-p", &self.port.to_string(), "--no-raw"])
                .args(args)
                .output()
                .expect("redis-cli must be installed with redis-server");
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        let mut dump = String::new();
        for key in cli(&["--scan"]).lines().map(|k| k.trim_matches('"').to_owned()) {
            let value = match cli(&["TYPE", &key]).trim() {
                "string" => cli(&["GET", &key]),
                "hash" => cli(&["HGETALL", &key]),
                "list" => cli(&["LRANGE", &key, "0", "-1"]),
                "set" => cli(&["SMEMBERS", &key]),
                "zset" => cli(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                "stream" => cli(&["XRANGE", &key, "-", "+"]),
                other => format!("({other})"),
            };
            dump.push_str(&format!("{key} = {value}\n"));
        }
        dump
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PING over a plain socket: no client library needed to wait for readiness.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut socket) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(500)));
    let mut answer = [0u8; 7];
    socket.write_all(b"PING\r\n").is_ok() && socket.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

/// A three-node Redis Cluster of the test's own (three primaries, no replicas): each node
/// a [`RedisServer`]-like process with `--cluster-enabled yes`, its client and bus ports
/// ephemeral, its files in a temporary directory; joined by `redis-cli --cluster create`.
/// Stopped when dropped.
pub struct RedisCluster {
    nodes: Vec<ClusterNode>,
}

struct ClusterNode {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let bus = free_port();
            let dir = std::env::temp_dir().join(format!("nv-redis-cluster-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--cluster-port", &bus.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (./scripts/test.sh installs Debian's)");
            nodes.push(ClusterNode { port, dir, child });
        }
        let cluster = RedisCluster { nodes };
        for node in &cluster.nodes {
            wait_for(|| ping(node.port), "a cluster node never answered PING");
        }
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(cluster.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("redis-cli must be installed with redis-server");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        // Every node must know every slot's owner before a client asks it.
        for node in &cluster.nodes {
            wait_for(
                || cluster_state_ok(node.port),
                "the cluster never reached cluster_state:ok",
            );
        }
        cluster
    }

    /// `redis://127.0.0.1:<port>` of each node: the seeds for `REDIS_CLUSTER_URLS`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
            let _ = std::fs::remove_dir_all(&node.dir);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `ready` every 25 ms for at most 10 s (a readiness probe, not a sleep standing in
/// for one).
fn wait_for(mut ready: impl FnMut() -> bool, failure: &str) {
    for _ in 0..400 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{failure}");
}

fn cluster_state_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
}
