//! The data-store actor under a memory limit: values spill to disk in LRU order, come back
//! intact to its worker and to peers (in chunks when big), and their files go when freed.

use super::*;
use crate::transport::store_client::StorePool;

const MB: usize = 1 << 20;

fn value(i: usize, n: usize) -> Bytes {
    Bytes::from(
        (0..n)
            .map(|j| ((i * 7 + j) % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn scratch(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("rask-store-test-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Only the target rule: the process's own memory (the test binary) plays no part.
fn target_only(limit: u64, dir: &std::path::Path) -> MemoryConfig {
    MemoryConfig {
        limit: MemoryLimit::Bytes(limit),
        thresholds: Thresholds {
            target: Some(0.5),
            spill: None,
            pause: None,
            terminate: None,
        },
        local_directory: Some(dir.to_path_buf()),
        ..MemoryConfig::default()
    }
}

async fn stats_when(
    store: &Addr<DataStore>,
    what: &str,
    ok: impl Fn(&StoreStats) -> bool,
) -> StoreStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = store.send(Stats).await.unwrap();
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: not within 10 s ({s:?})");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum()
}

#[actix_rt::test]
async fn values_spill_in_lru_order_come_back_intact_and_free_removes_their_files() {
    let dir = scratch("spill");
    // 10 values of 1.5 MiB under a 10 MiB limit with target 0.5: at most 5 MiB stay.
    let config = target_only(10 * MB as u64, &dir);
    let (store, addr) = DataStore::start("t".into(), "tcp://127.0.0.1:0", config)
        .await
        .unwrap();
    let n = 3 * MB / 2;
    let keys: Vec<Key> = (0..10).map(|i| Key::new(format!("v{i}"))).collect();
    for (i, k) in keys.iter().enumerate() {
        store
            .send(Put {
                key: k.clone(),
                value: value(i, n),
            })
            .await
            .unwrap();
    }
    // Settled: under the target and no write in flight.
    let s = stats_when(&store, "spilled", |s| {
        s.memory_bytes <= 5 * MB as u64 && s.disk_bytes == s.spilled_keys * n as u64
    })
    .await;
    assert_eq!(s.keys, 10);
    assert_eq!(s.nbytes(), 10 * n as u64);
    // At least the excess went; values being written count against the target too, so on a
    // slow disk more (up to all) may have gone.
    assert!(s.spilled_keys >= 7, "{s:?}");
    assert_eq!(files_in(&dir), s.spilled_keys as usize);
    let held: Vec<(Key, u64)> = store.send(Held).await.unwrap();
    assert_eq!(held.len(), 10, "spilled keys are still held");
    assert!(held.iter().all(|(_, size)| *size == n as u64));
    // The worker's own reads, from disk and from memory.
    let got = store.send(GetLocal(keys.clone())).await.unwrap();
    for (i, v) in got.into_iter().enumerate() {
        assert_eq!(v.as_deref(), Some(&value(i, n)[..]), "value {i}");
    }
    // A peer's read: spilled values above the chunk size arrive in chunks.
    let peers = StorePool::new("peer");
    let got = peers
        .get(
            &addr,
            vec![keys[0].clone(), keys[9].clone(), Key::new("nope")],
        )
        .await
        .unwrap();
    let mut got: Vec<(String, Option<Bytes>)> =
        got.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got[0], ("nope".to_string(), None));
    assert_eq!(got[1].1.as_deref(), Some(&value(0, n)[..]));
    assert_eq!(got[2].1.as_deref(), Some(&value(9, n)[..]));
    // Freeing removes the files.
    store.send(Free(keys.clone())).await.unwrap();
    let s = store.send(Stats).await.unwrap();
    assert_eq!(s, StoreStats::default());
    assert_eq!(files_in(&dir), 0, "spill files left behind");
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

#[actix_rt::test]
async fn process_memory_above_pause_pauses_the_pool_and_says_so() {
    let dir = scratch("pause");
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let config = MemoryConfig {
        // Any process is above a pause threshold of one millionth of 1 GiB.
        limit: MemoryLimit::Bytes(1 << 30),
        thresholds: Thresholds {
            target: None,
            spill: None,
            pause: Some(1e-6),
            terminate: None,
        },
        local_directory: Some(dir.clone()),
        ..MemoryConfig::default()
    };
    let (store, _) = DataStore::start("p".into(), "tcp://127.0.0.1:0", config)
        .await
        .unwrap();
    let seen = calls.clone();
    store
        .send(SetPoolHook(Arc::new(move |p| seen.lock().unwrap().push(p))))
        .await
        .unwrap();
    stats_when(&store, "paused", |s| s.paused).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while calls.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the pause hook was not called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(calls.lock().unwrap()[0].paused);
    std::fs::remove_dir_all(dir).unwrap();
}
