//! The scheduler core's cost per task, without sockets or actors: a pairwise tree reduction
//! of N leaves (2N-1 tasks, the shape of `rask bench tree`) fed to [`Core`] as a client and
//! two single-thread workers would feed it: the whole graph is submitted first (as the
//! client's pipelined submissions outrun execution), then every compute order is answered.
//! Reports the scheduler thread's CPU time (less sensitive to a busy machine than wall time)
//! and the process's peak RSS.
//!
//! `cargo bench -p rask-actors --bench scheduler_core -- [LEAVES]` (default 1,000,000).

use rask_actors::scheduler::core::{Core, CoreConfig, Outbox};
use rask_protocol::{
    Arg, Attempt, ClientId, FromClient, FromWorker, Key, TaskSpec, ToClient, ToWorker, WorkerHello,
    WorkerId,
};
use std::collections::VecDeque;
use std::time::Instant;

/// Collects what the core sends; workers' compute orders are answered in arrival order.
#[derive(Default)]
struct Sink {
    compute: VecDeque<(WorkerId, Key, Attempt)>,
    to_client: usize,
}

impl Outbox for Sink {
    fn to_worker(&mut self, worker: WorkerId, msg: ToWorker) {
        if let ToWorker::Compute(c) = msg {
            self.compute.push_back((worker, c.key, c.attempt));
        }
    }
    fn to_client(&mut self, _client: ClientId, _msg: ToClient) {
        self.to_client += 1;
    }
}

fn spec(key: &Key, function: &str, args: Vec<Arg>) -> TaskSpec {
    TaskSpec {
        key: key.clone(),
        function: function.into(),
        args,
        priority: 0,
        retries: 0,
        wanted: true,
        workers: vec![],
    }
}

fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Answers every pending compute order, a batch at a time per worker as a worker would.
fn run_workers(core: &mut Core, out: &mut Sink, now: Instant) -> usize {
    let mut done = 0;
    while !out.compute.is_empty() {
        let batch: Vec<_> = out.compute.drain(..out.compute.len().min(512)).collect();
        for (worker, key, attempt) in batch {
            let msg = FromWorker::FinishedInline {
                key,
                attempt,
                value: bytes::Bytes::from_static(&[2]),
                duration_us: 1,
            };
            core.on_worker_msg(worker, msg, now, out);
            done += 1;
        }
    }
    done
}

fn main() {
    let leaves: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let now = Instant::now();
    let mut core = Core::new(CoreConfig::default());
    let mut out = Sink::default();
    for i in 0..2 {
        let hello = WorkerHello {
            store_addr: format!("tcp://127.0.0.1:{}", 9000 + i),
            nthreads: 1,
            functions: vec!["inc".into(), "add".into()],
            held: vec![],
        };
        core.add_worker(format!("w{i}"), &hello, now, &mut out);
    }
    let client = core.add_client("bench".into(), now);

    let cpu0 = thread_cpu_seconds();
    let wall = Instant::now();
    let mut ran = 0;
    // Leaves, submitted in batches of 10k as the client's batching sends them.
    let mut level: Vec<Key> = (0..leaves)
        .map(|i| Key::new(format!("inc-{i:016x}{:016x}", i * 7919)))
        .collect();
    for (n, chunk) in level.chunks(10_000).enumerate() {
        let specs = chunk
            .iter()
            .enumerate()
            .map(|(j, k)| {
                let v = postcard::to_allocvec(&((n * 10_000 + j) as i64)).expect("encode");
                spec(k, "inc", vec![Arg::Value(v.into())])
            })
            .collect();
        core.on_client_msg(client, FromClient::Submit(specs), now, &mut out);
    }
    // Each level of adds; the previous level's futures are dropped once the next exists.
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let next: Vec<Key> = (0..level.len() / 2)
            .map(|i| Key::new(format!("add-{depth:04x}{i:028x}")))
            .collect();
        for (c, pairs) in next.chunks(10_000).zip(level.chunks(20_000)) {
            let specs = c
                .iter()
                .zip(pairs.chunks(2))
                .map(|(k, p)| spec(k, "add", p.iter().cloned().map(Arg::Key).collect()))
                .collect();
            core.on_client_msg(client, FromClient::Submit(specs), now, &mut out);
        }
        let mut carried = next;
        if level.len() % 2 == 1 {
            carried.push(level.pop().expect("odd one out"));
        }
        // What is left of `level` (the odd one out moved on) is dropped by the client.
        for chunk in level.chunks(10_000) {
            core.on_client_msg(client, FromClient::Release(chunk.to_vec()), now, &mut out);
        }
        level = carried;
    }
    ran += run_workers(&mut core, &mut out, now);
    core.on_client_msg(client, FromClient::Release(level), now, &mut out);
    ran += run_workers(&mut core, &mut out, now);
    let cpu = thread_cpu_seconds() - cpu0;
    let tasks = 2 * leaves - 1;
    assert_eq!(ran, tasks, "every task ran exactly once");
    assert_eq!(core.task_count(), 0, "everything released at the end");
    println!(
        "{{\"bench\":\"scheduler_core_tree\",\"leaves\":{leaves},\"tasks\":{tasks},\"cpu_s\":{cpu:.3},\"wall_s\":{:.3},\"us_per_task\":{:.3},\"peak_rss_mb\":{:.1},\"client_msgs\":{}}}",
        wall.elapsed().as_secs_f64(),
        cpu / tasks as f64 * 1e6,
        peak_rss_mb(),
        out.to_client
    );
}
