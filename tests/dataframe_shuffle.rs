//! Shuffle-based dataframe operations on an in-process cluster — hash `repartition`,
//! `sort_values`/`set_index`, `merge` (broadcast and shuffle), the hash-partitioned groupby
//! combine and `describe` — each against a plain computation over all rows in one batch,
//! with nulls, empty and uneven partitions, string and integer keys.

use anyhow::{anyhow, Result};
use rask::dataframe::arrow_array::cast::AsArray;
use rask::dataframe::arrow_array::types::{Float64Type, Int64Type};
use rask::dataframe::arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray,
};
use rask::dataframe::arrow_schema::{DataType, Field, Schema, SchemaRef};
use rask::dataframe::{col, from_partitions, lit, AggFn, JoinHow, MergeOptions};
use rask::{Client, DataFrame};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

async fn bounded<T>(secs: u64, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .map_err(|_| anyhow!("not finished within {secs} s"))?
}

async fn local() -> Result<Client> {
    bounded(30, async { Ok(Client::local(2).await?) }).await
}

type Row = (Option<String>, Option<i64>, Option<i64>, Option<f64>);

fn schema(names: [&str; 4]) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(names[0], DataType::Utf8, true),
        Field::new(names[1], DataType::Int64, true),
        Field::new(names[2], DataType::Int64, true),
        Field::new(names[3], DataType::Float64, true),
    ]))
}

fn batch(s: &SchemaRef, rows: &[Row]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.0.clone()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()),
    ];
    RecordBatch::try_new(s.clone(), cols).unwrap()
}

/// Deterministic rows: keys from small alphabets with some nulls.
fn rows(n: usize, seed: u64) -> Vec<Row> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    (0..n)
        .map(|_| {
            let k = next() % 6;
            let g = next() % 5;
            let v = next() % 100;
            (
                (k != 0).then(|| format!("k{k}")),
                (g != 0).then_some(g as i64),
                (v % 7 != 0).then_some(v as i64),
                (v % 5 != 0).then_some(v as f64 / 4.0),
            )
        })
        .collect()
}

/// A frame of `rows` cut into partitions of the given sizes (zeros make empty partitions).
fn frame(s: &SchemaRef, rows: &[Row], sizes: &[usize]) -> Result<DataFrame> {
    let mut parts = Vec::new();
    let mut at = 0;
    for n in sizes {
        parts.push(vec![batch(s, &rows[at..at + n])]);
        at += n;
    }
    assert_eq!(at, rows.len());
    Ok(from_partitions(s.clone(), parts)?)
}

fn cell(a: &ArrayRef, i: usize) -> String {
    if a.is_null(i) {
        return "∅".into();
    }
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_string(),
        t => format!("<{t}>"),
    }
}

/// Every row as text, in order.
fn lines(b: &RecordBatch) -> Vec<String> {
    (0..b.num_rows())
        .map(|i| {
            b.columns()
                .iter()
                .map(|c| cell(c, i))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

const LEFT: [&str; 4] = ["k", "g", "x", "y"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repartition_by_hash_keeps_every_row_and_puts_equal_keys_together() -> Result<()> {
    let client = local().await?;
    bounded(60, async {
        let s = schema(LEFT);
        let all = rows(40, 1);
        let df = frame(&s, &all, &[13, 0, 2, 25])?;
        let want = sorted(lines(&batch(&s, &all)));
        for keys in [vec!["k"], vec!["g"], vec!["k", "g"], vec![]] {
            let out = df.repartition(3, &keys)?;
            assert_eq!(out.npartitions(), 3);
            let parts = out.compute_partitions(&client).await?;
            let got: Vec<String> = parts.iter().flat_map(lines).collect();
            assert_eq!(sorted(got), want, "keys {keys:?}");
            // Each key value lives in exactly one partition.
            let mut home: BTreeMap<String, usize> = BTreeMap::new();
            for (p, b) in parts.iter().enumerate() {
                for i in 0..b.num_rows() {
                    let key: Vec<String> = keys
                        .iter()
                        .map(|k| cell(b.column_by_name(k).unwrap(), i))
                        .collect();
                    if keys.is_empty() {
                        continue;
                    }
                    let was = *home.entry(key.join("|")).or_insert(p);
                    assert_eq!(was, p, "key {key:?} in two partitions");
                }
            }
        }
        assert!(df.repartition(0, &["k"]).is_err());
        assert!(df.repartition(2, &["nope"]).is_err());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_values_matches_a_single_batch_sort_and_knows_its_divisions() -> Result<()> {
    let client = local().await?;
    bounded(60, async {
        let s = schema(LEFT);
        let all = rows(300, 2);
        let df = frame(&s, &all, &[100, 0, 7, 193])?;
        let whole = batch(&s, &all);
        for by in [
            vec![("x", false)],
            vec![("k", true), ("g", false)],
            vec![("y", true)],
        ] {
            let out = df.sort_values(&client, &by).await?;
            let got = out.compute(&client).await?;
            let want = reference_sort(&whole, &by);
            assert_eq!(sort_keys(&got, &by), want, "order by {by:?}");
            assert_eq!(sorted(lines(&got)), sorted(lines(&whole)));
            let d = out.divisions().expect("sorted frames know their divisions");
            assert_eq!(d.bounds.num_rows(), out.npartitions() + 1);
            assert!(out.npartitions() > 1, "{by:?}: {}", out.npartitions());
            // Partition i starts with division i: each bound is a sampled row, and the rows
            // from it up to the next bound are that partition's.
            let parts = out.compute_partitions(&client).await?;
            let bounds = sort_keys(&d.bounds, &by);
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(
                    sort_keys(p, &by).first(),
                    Some(&bounds[i]),
                    "{by:?} partition {i}"
                );
            }
        }
        // set_index: sorted by one column; row filters keep the divisions, new columns drop them.
        let idx = df.set_index(&client, "g").await?;
        assert!(idx.divisions().is_some());
        assert!(idx.filter(col("x").gt(lit(3)))?.divisions().is_some());
        assert!(idx.with_column("g", col("x"))?.divisions().is_none());
        let g = idx.compute(&client).await?;
        let gs: Vec<Option<i64>> = g.column(1).as_primitive::<Int64Type>().iter().collect();
        let mut want = gs.clone();
        want.sort_by_key(|v| (v.is_none(), *v));
        assert_eq!(gs, want);
        // An empty frame sorts into one empty partition.
        let empty = df
            .filter(col("x").gt(lit(1000)))?
            .sort_values(&client, &[("x", false)])
            .await?;
        assert_eq!(empty.compute(&client).await?.num_rows(), 0);
        Ok(())
    })
    .await
}

fn order(a: &ArrayRef, i: usize, j: usize, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    let o = match (a.is_null(i), a.is_null(j)) {
        (true, true) => return Equal,
        (true, false) => return Greater,
        (false, true) => return Less,
        _ => match a.data_type() {
            DataType::Utf8 => a
                .as_string::<i32>()
                .value(i)
                .cmp(a.as_string::<i32>().value(j)),
            DataType::Int64 => {
                let p = a.as_primitive::<Int64Type>();
                p.value(i).cmp(&p.value(j))
            }
            _ => {
                let p = a.as_primitive::<Float64Type>();
                p.value(i).total_cmp(&p.value(j))
            }
        },
    };
    if desc {
        o.reverse()
    } else {
        o
    }
}

/// The sort columns of `b`, rendered row by row.
fn sort_keys(b: &RecordBatch, by: &[(&str, bool)]) -> Vec<String> {
    let p = b.schema();
    let ix: Vec<usize> = by.iter().map(|(c, _)| p.index_of(c).unwrap()).collect();
    lines(&b.project(&ix).unwrap())
}

/// Reference: every row's sort key, sorted by a plain comparison sort (nulls last).
fn reference_sort(b: &RecordBatch, by: &[(&str, bool)]) -> Vec<String> {
    let mut idx: Vec<usize> = (0..b.num_rows()).collect();
    idx.sort_by(|&i, &j| {
        by.iter()
            .map(|(c, d)| order(b.column_by_name(c).unwrap(), i, j, *d))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let keys = sort_keys(b, by);
    idx.iter().map(|i| keys[*i].clone()).collect()
}

/// A nested-loop join of two single batches, rendered like [`lines`]: the left columns (for
/// `outer`, keys from the right where the left row is missing), then the right non-keys.
fn reference_join(l: &RecordBatch, r: &RecordBatch, on: &[&str], how: JoinHow) -> Vec<String> {
    let key = |b: &RecordBatch, i: usize| -> Option<Vec<String>> {
        let cs: Vec<&ArrayRef> = on.iter().map(|k| b.column_by_name(k).unwrap()).collect();
        cs.iter()
            .all(|c| c.is_valid(i))
            .then(|| cs.iter().map(|c| cell(c, i)).collect())
    };
    let render = |i: Option<usize>, j: Option<usize>| -> String {
        let mut out = Vec::new();
        for (f, c) in l.schema().fields().iter().zip(l.columns()) {
            let is_key = on.contains(&f.name().as_str());
            out.push(match (i, j) {
                (Some(i), _) => cell(c, i),
                (None, Some(j)) if is_key => cell(r.column_by_name(f.name()).unwrap(), j),
                _ => "∅".into(),
            });
        }
        for (f, c) in r.schema().fields().iter().zip(r.columns()) {
            if !on.contains(&f.name().as_str()) {
                out.push(j.map_or("∅".into(), |j| cell(c, j)));
            }
        }
        out.join("|")
    };
    let mut rows = Vec::new();
    let mut right_used = vec![false; r.num_rows()];
    for i in 0..l.num_rows() {
        let mut any = false;
        for (j, used) in right_used.iter_mut().enumerate() {
            if key(l, i).is_some() && key(l, i) == key(r, j) {
                rows.push(render(Some(i), Some(j)));
                *used = true;
                any = true;
            }
        }
        if !any && how != JoinHow::Inner {
            rows.push(render(Some(i), None));
        }
    }
    if how == JoinHow::Outer {
        for (j, used) in right_used.iter().enumerate() {
            if !used {
                rows.push(render(None, Some(j)));
            }
        }
    }
    sorted(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_match_a_nested_loop_join_broadcast_or_shuffled() -> Result<()> {
    let client = local().await?;
    bounded(120, async {
        let (ls, rs) = (schema(LEFT), schema(["k", "g", "x", "w"]));
        let (lrows, rrows) = (rows(30, 4), rows(25, 3));
        let left = frame(&ls, &lrows, &[12, 18, 0])?;
        let right = frame(&rs, &rrows, &[10, 0, 15])?;
        let (lb, rb) = (batch(&ls, &lrows), batch(&rs, &rrows));
        let one_part = frame(&rs, &rrows, &[25])?;
        for on in [vec!["k"], vec!["g"], vec!["k", "g"]] {
            for how in [JoinHow::Inner, JoinHow::Left, JoinHow::Outer] {
                let want = reference_join(&lb, &rb, &on, how);
                for broadcast in [None, Some(false), Some(true)] {
                    let opts = MergeOptions {
                        broadcast,
                        ..MergeOptions::new(&on, how)
                    };
                    let out = left.merge_with(&right, &opts)?;
                    let got = out.compute(&client).await?;
                    let what = format!("{on:?} {how:?} broadcast {broadcast:?}");
                    assert_eq!(sorted(lines(&got)), want, "{what}");
                    if broadcast == Some(false) {
                        assert_eq!(out.npartitions(), 3, "{what}: shuffled into 3 buckets");
                    }
                }
                // A one-partition right side is broadcast by default.
                let got = left.merge(&one_part, &on, how)?.compute(&client).await?;
                assert_eq!(sorted(lines(&got)), want, "{on:?} {how:?} one partition");
            }
        }
        let cols = left.merge(&right, &["k"], JoinHow::Inner)?.columns();
        assert_eq!(cols, ["k", "g_x", "x_x", "y", "g_y", "x_y", "w"]);
        // Keys of different types are refused before anything runs.
        let other = right.cast(&[("g", DataType::Float64)])?;
        let err = left
            .merge(&other, &["g"], JoinHow::Inner)
            .unwrap_err()
            .to_string();
        assert!(err.contains("g") && err.contains("cast"), "{err}");
        assert!(left.merge(&right, &["nope"], JoinHow::Left).is_err());
        // join: a merge on the index both sides were sorted by.
        let (li, ri) = (
            left.set_index(&client, "g").await?,
            right.set_index(&client, "g").await?,
        );
        let got = li.join(&ri, JoinHow::Outer)?.compute(&client).await?;
        assert_eq!(
            sorted(lines(&got)),
            reference_join(&lb, &rb, &["g"], JoinHow::Outer)
        );
        assert!(
            left.join(&ri, JoinHow::Inner).is_err(),
            "the left side has no index"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_partitioned_groupby_combine_equals_the_tree_and_a_plain_sum() -> Result<()> {
    let client = local().await?;
    bounded(60, async {
        let s = schema(LEFT);
        let all = rows(200, 5);
        let df = frame(&s, &all, &[50, 0, 30, 120])?;
        let aggs = [
            ("x", AggFn::Sum),
            ("y", AggFn::Mean),
            ("x", AggFn::Count),
            ("y", AggFn::Min),
            ("x", AggFn::Max),
            ("y", AggFn::Std),
            ("x", AggFn::Nunique),
        ];
        for keys in [vec!["k", "g"], vec!["k"], vec!["g"]] {
            let tree = df
                .groupby(&keys)
                .split_out(1)
                .agg(&aggs)?
                .compute(&client)
                .await?;
            for p in [2, 3, 7] {
                let hashed = df.groupby(&keys).split_out(p).agg(&aggs)?;
                assert_eq!(hashed.npartitions(), 1);
                assert_eq!(
                    hashed.compute(&client).await?,
                    tree,
                    "{keys:?} split_out {p}"
                );
            }
            // Plain per-group sums of x over all rows (null keys dropped).
            let mut sums: BTreeMap<Vec<String>, i64> = BTreeMap::new();
            let whole = batch(&s, &all);
            for i in 0..whole.num_rows() {
                let k: Vec<&ArrayRef> = keys
                    .iter()
                    .map(|c| whole.column_by_name(c).unwrap())
                    .collect();
                if k.iter().all(|c| c.is_valid(i)) {
                    let e = sums
                        .entry(k.iter().map(|c| cell(c, i)).collect())
                        .or_default();
                    *e += whole
                        .column(2)
                        .as_primitive::<Int64Type>()
                        .iter()
                        .nth(i)
                        .flatten()
                        .unwrap_or(0);
                }
            }
            assert_eq!(tree.num_rows(), sums.len());
            let nk = keys.len();
            let x_sum = tree.column(nk).as_primitive::<Int64Type>();
            for i in 0..tree.num_rows() {
                let k: Vec<String> = (0..nk).map(|c| cell(tree.column(c), i)).collect();
                assert_eq!(
                    Some(x_sum.value(i)),
                    sums.get(&k).copied(),
                    "{keys:?} {k:?}"
                );
            }
        }
        Ok(())
    })
    .await
}

/// count, mean, std, min, quartiles (linear interpolation), max of the non-null values.
fn reference_describe(v: &mut [f64]) -> [Option<f64>; 8] {
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    if v.is_empty() {
        return [Some(0.0), None, None, None, None, None, None, None];
    }
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    let q = |q: f64| {
        let pos = q * (n - 1.0);
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    [
        Some(n),
        Some(mean),
        std,
        Some(v[0]),
        Some(q(0.25)),
        Some(q(0.5)),
        Some(q(0.75)),
        Some(v[v.len() - 1]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_matches_a_plain_computation_and_approximates_big_quartiles() -> Result<()> {
    let client = local().await?;
    bounded(60, async {
        let s = schema(LEFT);
        let all = rows(300, 6);
        let df = frame(&s, &all, &[100, 0, 7, 193])?;
        let d = df.describe()?;
        assert_eq!(d.columns(), ["statistic", "g", "x", "y"]);
        let got = d.compute(&client).await?;
        let stats: Vec<String> = (0..8).map(|i| cell(got.column(0), i)).collect();
        assert_eq!(
            stats,
            ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]
        );
        let whole = batch(&s, &all);
        for (c, name) in ["g", "x", "y"].iter().enumerate() {
            let a = whole.column_by_name(name).unwrap();
            let mut v: Vec<f64> = (0..a.len())
                .filter(|i| a.is_valid(*i))
                .map(|i| cell(a, i).parse().unwrap())
                .collect();
            let want = reference_describe(&mut v);
            let have: Vec<Option<f64>> = got
                .column(c + 1)
                .as_primitive::<Float64Type>()
                .iter()
                .collect();
            for (i, (h, w)) in have.iter().zip(want).enumerate() {
                match (h, w) {
                    (Some(h), Some(w)) => {
                        assert!((h - w).abs() < 1e-9, "{name} {}: {h} vs {w}", stats[i])
                    }
                    _ => assert_eq!(*h, w, "{name} {}", stats[i]),
                }
            }
        }
        // Past 1024 values per partition the quartiles are approximate: 0..5000 in two
        // partitions, within a few ranks.
        let big = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Float64, true)])),
            vec![Arc::new(Float64Array::from_iter_values(
                (0..5000).map(|i| i as f64),
            ))],
        )?;
        let b = from_partitions(
            big.schema(),
            vec![vec![big.slice(0, 3000)], vec![big.slice(3000, 2000)]],
        )?
        .describe()?
        .compute(&client)
        .await?;
        let v: Vec<f64> = b.column(1).as_primitive::<Float64Type>().values().to_vec();
        assert_eq!((v[0], v[3], v[7]), (5000.0, 0.0, 4999.0));
        for (i, q) in [(4, 1249.75), (5, 2499.5), (6, 3749.25)] {
            assert!((v[i] - q).abs() <= 6.0, "{}: {} vs {q}", stats[i], v[i]);
        }
        // A column of nulls: count 0, the rest null.
        let nulls = df
            .filter(col("x").is_null())?
            .select(&["x"])?
            .describe()?
            .compute(&client)
            .await?;
        let n: Vec<Option<f64>> = nulls
            .column(1)
            .as_primitive::<Float64Type>()
            .iter()
            .collect();
        assert_eq!(n[0], Some(0.0));
        assert!(n[1..].iter().all(|x| x.is_none()), "{n:?}");
        assert!(df.select(&["k"])?.describe().is_err(), "no numeric column");
        Ok(())
    })
    .await
}
