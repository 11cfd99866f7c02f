//! The groupby benchmark, shaped like the Dask anchor (`dataframe_groupby.py`): `rows` rows in
//! 8 files, written as CSV and as Parquet (snappy), with columns `id1` (string, 100 distinct
//! `id001`..`id100`), `id2` (int64, 1..=1000), `v1` (int64, 1..=5) and `v2` (float64 in
//! [0, 100), six decimals), drawn from a fixed-seed SplitMix64 stream. Queries, each timed
//! including reading only the columns it needs: q1 sum v1 by id1, q2 mean v1, v2 by id1, id2,
//! q3 count by id2. Results are checked against sums kept while regenerating the data.

use super::{read_csv, read_parquet, AggFn, CsvOptions, DataFrame, ParquetOptions};
use crate::rng::Rng;
use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rask_actors::client::Client;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Number of files, as in the anchor.
pub const FILES: usize = 8;
const SEED: u64 = 42;

/// Which files to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `csv/part-XX.csv`
    Csv,
    /// `parquet/part-XX.parquet`
    Parquet,
}

/// What [`run`] measured (the fields of `rask bench groupby`'s JSON).
#[derive(Debug, Clone, Serialize)]
pub struct GroupbyBenchReport {
    /// Always `"groupby"`.
    pub bench: &'static str,
    /// Whether all three results matched the reference.
    pub ok: bool,
    /// The format read.
    pub format: Format,
    /// Rows in all files.
    pub rows: u64,
    /// Seconds to read every column of every file into cluster memory (persist).
    pub read_s: f64,
    /// Seconds for q1 (sum v1 by id1), reading included.
    pub q1_s: f64,
    /// Seconds for q2 (mean v1, v2 by id1, id2), reading included.
    pub q2_s: f64,
    /// Seconds for q3 (count by id2), reading included.
    pub q3_s: f64,
    /// Partitions read.
    pub npartitions: usize,
    /// Seconds spent generating the files (0 when they were already there).
    pub generate_s: f64,
    /// Where the files are.
    pub dir: String,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id1", DataType::Utf8, true),
        Field::new("id2", DataType::Int64, true),
        Field::new("v1", DataType::Int64, true),
        Field::new("v2", DataType::Float64, true),
    ]))
}

/// The rows of file `k` of `rows` in batches of at most 65 536 rows.
pub fn file_batches(rows: u64, k: usize) -> impl Iterator<Item = RecordBatch> {
    let per = rows / FILES as u64;
    let n = if k + 1 < FILES {
        per
    } else {
        rows - per * (FILES as u64 - 1)
    };
    let mut rng = Rng(SEED ^ ((k as u64 + 1) << 32));
    let names: Vec<String> = (1..=100).map(|i| format!("id{i:03}")).collect();
    let schema = schema();
    let mut left = n;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let m = left.min(65_536) as usize;
        left -= m as u64;
        let (mut id1, mut id2, mut v1, mut v2) = (
            Vec::with_capacity(m),
            Vec::with_capacity(m),
            Vec::with_capacity(m),
            Vec::with_capacity(m),
        );
        for _ in 0..m {
            id1.push(names[rng.below(100) as usize].as_str());
            id2.push(1 + rng.below(1000) as i64);
            v1.push(1 + rng.below(5) as i64);
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            v2.push((u * 100.0 * 1e6).round() / 1e6);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(id1)),
            Arc::new(Int64Array::from(id2)),
            Arc::new(Int64Array::from(v1)),
            Arc::new(Float64Array::from(v2)),
        ];
        RecordBatch::try_new(schema.clone(), cols).ok()
    })
}

/// The reference answers, from the generator alone.
#[derive(Default)]
struct Reference {
    q1: HashMap<String, i64>,
    q2: HashMap<(String, i64), (i64, f64, i64)>,
    q3: HashMap<i64, i64>,
}

fn reference(rows: u64) -> Reference {
    let mut r = Reference::default();
    for k in 0..FILES {
        for b in file_batches(rows, k) {
            let id1 = b.column(0).as_string::<i32>();
            let id2 = b.column(1).as_primitive::<Int64Type>();
            let v1 = b.column(2).as_primitive::<Int64Type>();
            let v2 = b.column(3).as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                *r.q1.entry(id1.value(i).to_string()).or_default() += v1.value(i);
                let e =
                    r.q2.entry((id1.value(i).to_string(), id2.value(i)))
                        .or_default();
                e.0 += v1.value(i);
                e.1 += v2.value(i);
                e.2 += 1;
                *r.q3.entry(id2.value(i)).or_default() += 1;
            }
        }
    }
    r
}

/// Writes the CSV and Parquet files under `dir` unless they are already there.
pub fn ensure_data(dir: &Path, rows: u64) -> Result<f64> {
    let done = dir.join("done");
    if done.exists() {
        return Ok(0.0);
    }
    let t = Instant::now();
    for sub in ["csv", "parquet"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| Error::io(dir.join(sub), e))?;
    }
    for k in 0..FILES {
        let cpath = dir.join(format!("csv/part-{k:02}.csv"));
        let ppath = dir.join(format!("parquet/part-{k:02}.parquet"));
        let cfile = std::fs::File::create(&cpath).map_err(|e| Error::io(&cpath, e))?;
        let pfile = std::fs::File::create(&ppath).map_err(|e| Error::io(&ppath, e))?;
        let mut cw = arrow_csv::WriterBuilder::new()
            .with_header(true)
            .build(std::io::BufWriter::new(cfile));
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let mut pw = parquet::arrow::ArrowWriter::try_new(pfile, schema(), Some(props))?;
        for b in file_batches(rows, k) {
            cw.write(&b)?;
            pw.write(&b)?;
        }
        pw.close()?;
    }
    std::fs::write(&done, b"ok").map_err(|e| Error::io(&done, e))?;
    Ok(t.elapsed().as_secs_f64())
}

/// The default data folder for `rows` rows.
pub fn data_dir(rows: u64) -> PathBuf {
    std::env::temp_dir().join(format!("rask-groupby/{rows}r_{FILES}f_s{SEED}"))
}

fn open(dir: &Path, format: Format, columns: &[&str]) -> Result<DataFrame> {
    let cols = Some(columns.iter().map(|c| c.to_string()).collect());
    match format {
        Format::Csv => {
            let pat = format!("{}/csv/*.csv", dir.display());
            read_csv(
                &[&pat],
                CsvOptions {
                    columns: cols,
                    ..CsvOptions::default()
                },
            )
        }
        Format::Parquet => {
            let pat = format!("{}/parquet/*.parquet", dir.display());
            read_parquet(
                &[&pat],
                ParquetOptions {
                    columns: cols,
                    ..ParquetOptions::default()
                },
            )
        }
    }
}

fn check_q1(b: &RecordBatch, r: &Reference) -> bool {
    let id1 = b.column(0).as_string::<i32>();
    let v1 = b.column(1).as_primitive::<Int64Type>();
    b.num_rows() == r.q1.len()
        && (0..b.num_rows()).all(|i| r.q1.get(id1.value(i)) == Some(&v1.value(i)))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn check_q2(b: &RecordBatch, r: &Reference) -> bool {
    let id1 = b.column(0).as_string::<i32>();
    let id2 = b.column(1).as_primitive::<Int64Type>();
    let m1 = b.column(2).as_primitive::<Float64Type>();
    let m2 = b.column(3).as_primitive::<Float64Type>();
    b.num_rows() == r.q2.len()
        && (0..b.num_rows()).all(|i| {
            r.q2.get(&(id1.value(i).to_string(), id2.value(i)))
                .is_some_and(|(s1, s2, n)| {
                    close(m1.value(i), *s1 as f64 / *n as f64) && close(m2.value(i), s2 / *n as f64)
                })
        })
}

fn check_q3(b: &RecordBatch, r: &Reference) -> bool {
    let id2 = b.column(0).as_primitive::<Int64Type>();
    let n = b.column(1).as_primitive::<Int64Type>();
    b.num_rows() == r.q3.len()
        && (0..b.num_rows()).all(|i| r.q3.get(&id2.value(i)) == Some(&n.value(i)))
}

/// Runs the benchmark on `client` over `rows` rows read from `format` files (generated once
/// under [`data_dir`]).
pub async fn run(client: &Client, rows: u64, format: Format) -> Result<GroupbyBenchReport> {
    let dir = data_dir(rows);
    let generate_s = ensure_data(&dir, rows)?;
    let reference = reference(rows);

    let t = Instant::now();
    let all = open(&dir, format, &["id1", "id2", "v1", "v2"])?;
    let npartitions = all.npartitions();
    let held = all.persist(client).await?;
    let read_s = t.elapsed().as_secs_f64();
    drop(held);

    let t = Instant::now();
    let q1 = open(&dir, format, &["id1", "v1"])?
        .groupby(&["id1"])
        .agg(&[("v1", AggFn::Sum)])?
        .compute(client)
        .await?;
    let q1_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let q2 = open(&dir, format, &["id1", "id2", "v1", "v2"])?
        .groupby(&["id1", "id2"])
        .agg(&[("v1", AggFn::Mean), ("v2", AggFn::Mean)])?
        .compute(client)
        .await?;
    let q2_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let q3 = open(&dir, format, &["id2"])?
        .groupby(&["id2"])
        .size()?
        .compute(client)
        .await?;
    let q3_s = t.elapsed().as_secs_f64();

    let ok = check_q1(&q1, &reference) && check_q2(&q2, &reference) && check_q3(&q3, &reference);
    Ok(GroupbyBenchReport {
        bench: "groupby",
        ok,
        format,
        rows,
        read_s,
        q1_s,
        q2_s,
        q3_s,
        npartitions,
        generate_s,
        dir: dir.display().to_string(),
    })
}
