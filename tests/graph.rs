//! The graph model through the facade on `Client::local`: culling skips what is not asked
//! for, keys are shared between equal collections, merged graphs share work, DOT export, and
//! user-registered functions inside bag pipelines and delayed calls.

use anyhow::{anyhow, ensure, Result};
use rask::bag::{from_sequence, Items};
use rask::builtins::{fail, inc};
use rask::graph::{optimize, Collection};
use rask::{delayed, Client};
use std::time::Duration;

rask::task! {
    /// Test-only: the digits of a number.
    pub fn digits(x: i64) -> Items<i64> {
        x.abs().to_string().bytes().map(|b| i64::from(b - b'0')).collect()
    }
}

rask::task! {
    /// Test-only: whether a number is a multiple of three.
    pub fn triple(x: i64) -> bool { x % 3 == 0 }
}

async fn local() -> Result<Client> {
    Ok(tokio::time::timeout(Duration::from_secs(30), Client::local(2)).await??)
}

async fn bounded<T>(
    secs: u64,
    f: impl std::future::Future<Output = rask::collections::Result<T>>,
) -> Result<T> {
    Ok(tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .map_err(|_| anyhow!("not done within {secs} s"))??)
}

//   bad = fail("never run")      good = inc(1)
//            \                  /
//             (not requested)  requested
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn culling_never_runs_what_the_outputs_do_not_need() -> Result<()> {
    let client = local().await?;
    let bad = delayed(fail, ("never run".to_string(),))?;
    let good = delayed(inc, (1i64,))?;
    let mut both = good.graph().clone();
    both.merge(bad.graph());
    let specs = optimize(&both, &[good.key().clone()], Default::default())?;
    ensure!(specs.len() == 1 && specs[0].key == *good.key());
    ensure!(bounded(30, good.compute(&client)).await? == 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_collections_have_equal_keys_and_merged_graphs_share_tasks() -> Result<()> {
    let a = from_sequence(0..100i64, 10)?.map(inc);
    let b = from_sequence(0..100i64, 10)?.map(inc);
    let (ga, ka) = a.count()?.build()?;
    ensure!(
        a.count()?.key() == b.count()?.key(),
        "same bag, same count key"
    );
    // Count and sum of a partition-wise result computed together: the 10 map-partitions
    // tasks run once, feeding both (alone, each aggregation would fuse them into its own
    // partition tasks and run them again).
    let base = a.map_partitions(rask::bag::funcs::sum_and_len)?;
    let (base_g, base_keys) = base.build()?;
    let (gc, kc) = base.count()?.build()?;
    let (gs, ks) = base.sum()?.build()?;
    let mut merged = gc.clone();
    merged.merge(&gs);
    let together = optimize(&merged, &[kc[0].clone(), ks[0].clone()], Default::default())?;
    ensure!(base_g.len() == 10 && base_keys.len() == 10);
    for k in &base_keys {
        ensure!(
            together.iter().filter(|s| s.key == *k).count() == 1,
            "{k} once"
        );
    }
    // 10 shared + per aggregation 10 partition partials, 2 combines and a root.
    ensure!(
        together.len() == 10 + 2 * (10 + 3),
        "{} specs",
        together.len()
    );
    let alone = optimize(&gc, &kc, Default::default())?;
    ensure!(alone.len() == 10 + 3 && !alone.iter().any(|s| base_keys.contains(&s.key)));
    let (g2, k2) = b.count()?.build()?;
    let mut twice = ga.clone();
    twice.merge(&g2);
    ensure!(ka == k2 && twice.len() == ga.len());
    let dot = a.count()?.to_dot();
    ensure!(
        dot.starts_with("digraph") && dot.matches(" -> ").count() >= 10,
        "{dot}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_functions_run_inside_bag_pipelines() -> Result<()> {
    let client = local().await?;
    let xs: Vec<i64> = (0..500).map(|i| i * 37 - 4000).collect();
    let bag = from_sequence(xs.clone(), 64)?;
    let want: Vec<i64> = xs
        .iter()
        .filter(|x| *x % 3 == 0)
        .flat_map(|x| {
            x.abs()
                .to_string()
                .bytes()
                .map(|b| i64::from(b - b'0'))
                .collect::<Vec<_>>()
        })
        .collect();
    let got = bounded(60, bag.filter(triple).flat_map(digits).compute(&client)).await?;
    ensure!(got == want);
    let total = bounded(
        60,
        bag.filter(triple).flat_map(digits).sum()?.compute(&client),
    )
    .await?;
    ensure!(total == want.iter().sum::<i64>());
    Ok(())
}
