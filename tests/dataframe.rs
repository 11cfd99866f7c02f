//! Dataframes on an in-process cluster: every operation against hand-computed expectations
//! or a plain single-batch computation, with nulls, empty partitions, CSV and Parquet files,
//! and files whose schemas disagree.

use anyhow::{anyhow, Result};
use rask::dataframe::arrow_array::cast::AsArray;
use rask::dataframe::arrow_array::types::{Float64Type, Int64Type};
use rask::dataframe::arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray,
};
use rask::dataframe::arrow_schema::{DataType, Field, Schema, SchemaRef};
use rask::dataframe::{
    col, from_partitions, lit, read_csv, read_parquet, AggFn, CsvOptions, ParquetOptions,
};
use rask::{Client, DataFrame};
use std::collections::{BTreeMap, BTreeSet};
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

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("g", DataType::Int64, true),
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Float64, true),
    ]))
}

type Row = (Option<&'static str>, Option<i64>, Option<i64>, Option<f64>);

fn batch(rows: &[Row]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()),
    ];
    RecordBatch::try_new(schema(), cols).unwrap()
}

const P0: &[Row] = &[
    (Some("a"), Some(1), Some(1), Some(0.5)),
    (Some("b"), Some(2), None, Some(1.5)),
    (None, Some(1), Some(3), Some(2.5)),
];
const P2: &[Row] = &[
    (Some("a"), Some(2), Some(4), None),
    (Some("c"), Some(1), Some(5), Some(4.0)),
    (Some("a"), Some(1), Some(6), Some(-1.0)),
    (Some("a"), None, Some(7), Some(3.0)),
];

/// Three partitions, the middle one empty.
fn frame() -> Result<DataFrame> {
    Ok(from_partitions(
        schema(),
        vec![
            vec![batch(P0)],
            vec![],
            vec![batch(&P2[..2]), batch(&P2[2..])],
        ],
    )?)
}

fn all_rows() -> Vec<Row> {
    P0.iter().chain(P2).copied().collect()
}

fn strs(a: &ArrayRef) -> Vec<Option<String>> {
    a.as_string::<i32>()
        .iter()
        .map(|s| s.map(String::from))
        .collect()
}
fn ints(a: &ArrayRef) -> Vec<Option<i64>> {
    a.as_primitive::<Int64Type>().iter().collect()
}
fn floats(a: &ArrayRef) -> Vec<Option<f64>> {
    a.as_primitive::<Float64Type>().iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_operations_match_hand_computed_rows() -> Result<()> {
    let client = local().await?;
    bounded(60, async {
        let df = frame()?;
        assert_eq!(df.npartitions(), 3);
        let all = df.compute(&client).await?;
        assert_eq!(all, batch(&all_rows()));
        assert_eq!(df.len(&client).await?, 7);

        // filter + with_column + select + rename
        let out = df
            .filter(col("x").gt(lit(2)).and(col("k").not_eq(lit("c"))))?
            .with_column("z", col("x") * lit(10) + col("g"))?
            .select(&["k", "z"])?
            .rename(&[("z", "score")])?;
        assert_eq!(out.columns(), ["k", "score"]);
        let got = out.compute(&client).await?;
        // rows with x > 2 and k != "c" (null k compares null → dropped): (a,2,4) (a,1,6) (a,None,7)
        assert_eq!(strs(got.column(0)), vec![Some("a".to_string()); 3]);
        assert_eq!(ints(got.column(1)), [Some(42), Some(61), None]);

        // is_null, fillna, dropna, cast
        let nulls = df
            .filter(col("x").is_null().or(col("k").is_null()))?
            .compute(&client)
            .await?;
        assert_eq!(nulls.num_rows(), 2);
        let filled = df.fillna(0)?.compute(&client).await?;
        assert_eq!(filled.column(0).null_count(), 1, "strings keep their nulls");
        assert_eq!(ints(filled.column(2))[1], Some(0));
        assert_eq!(floats(filled.column(3))[3], Some(0.0));
        let named = df.fillna_columns(&["k"], "?")?.compute(&client).await?;
        assert_eq!(strs(named.column(0))[2].as_deref(), Some("?"));
        assert_eq!(df.dropna()?.len(&client).await?, 3);
        assert_eq!(df.dropna_subset(&["k"])?.len(&client).await?, 6);
        let cast = df.cast(&[("x", DataType::Float64), ("g", DataType::Utf8)])?;
        assert_eq!(cast.schema().field(2).data_type(), &DataType::Float64);
        let c = cast.compute(&client).await?;
        assert_eq!(strs(c.column(1))[0].as_deref(), Some("1"));

        // head spans partitions, skipping the empty one
        let h = df.head(&client, 4).await?;
        assert_eq!(h, batch(&all_rows()[..4]));
        assert_eq!(df.head(&client, 100).await?.num_rows(), 7);

        // unknown columns are caught before anything runs
        let err = df.select(&["nope"]).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        assert!(df.filter(col("nope").gt(lit(1))).is_err());
        Ok(())
    })
    .await
}

/// The (x, y) values of each (k, g) group.
type Groups = BTreeMap<(String, i64), Vec<(Option<i64>, Option<f64>)>>;

/// Plain per-group reference over `all_rows()`, keyed by (k, g) with null keys dropped.
fn reference_groups() -> Groups {
    let mut m: BTreeMap<(String, i64), Vec<_>> = BTreeMap::new();
    for (k, g, x, y) in all_rows() {
        if let (Some(k), Some(g)) = (k, g) {
            m.entry((k.to_string(), g)).or_default().push((x, y));
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_aggregations_match_a_plain_computation() -> Result<()> {
    let client = local().await?;
    bounded(60, async {
        // split_every 2 makes a two-level tree over the three partitions.
        let df = frame()?.with_split_every(2);
        let out = df.groupby(&["k", "g"]).agg(&[
            ("x", AggFn::Sum),
            ("y", AggFn::Mean),
            ("x", AggFn::Count),
            ("y", AggFn::Min),
            ("x", AggFn::Max),
            ("y", AggFn::Std),
            ("x", AggFn::Nunique),
            ("x", AggFn::Mean),
        ])?;
        let cols = out.columns();
        assert_eq!(
            cols,
            [
                "k",
                "g",
                "x_sum",
                "y_mean",
                "x_count",
                "y_min",
                "x_max",
                "y_std",
                "x_nunique",
                "x_mean"
            ]
        );
        let got = out.compute(&client).await?;
        let want = reference_groups();
        assert_eq!(got.num_rows(), want.len());
        for (i, ((k, g), rows)) in want.iter().enumerate() {
            assert_eq!(strs(got.column(0))[i].as_deref(), Some(k.as_str()));
            assert_eq!(ints(got.column(1))[i], Some(*g));
            let xs: Vec<i64> = rows.iter().filter_map(|r| r.0).collect();
            let ys: Vec<f64> = rows.iter().filter_map(|r| r.1).collect();
            assert_eq!(ints(got.column(2))[i], Some(xs.iter().sum()));
            let mean = (!ys.is_empty()).then(|| ys.iter().sum::<f64>() / ys.len() as f64);
            assert_eq!(floats(got.column(3))[i], mean);
            assert_eq!(ints(got.column(4))[i], Some(xs.len() as i64));
            assert_eq!(
                floats(got.column(5))[i],
                ys.iter().copied().reduce(f64::min)
            );
            assert_eq!(ints(got.column(6))[i], xs.iter().copied().max());
            let std = (ys.len() > 1).then(|| {
                let m = mean.unwrap_or(0.0);
                (ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / (ys.len() - 1) as f64).sqrt()
            });
            match (floats(got.column(7))[i], std) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12),
                (a, b) => assert_eq!(a, b),
            }
            let distinct: BTreeSet<i64> = xs.iter().copied().collect();
            assert_eq!(ints(got.column(8))[i], Some(distinct.len() as i64));
            // The mean of an integer column (nulls skipped), in f64.
            let xmean = (!xs.is_empty())
                .then(|| xs.iter().map(|x| *x as f64).sum::<f64>() / xs.len() as f64);
            assert_eq!(floats(got.column(9))[i], xmean);
        }

        // One integer key; whole-frame reductions; value_counts.
        let by_g = df.groupby(&["g"]).size()?.compute(&client).await?;
        assert_eq!(ints(by_g.column(0)), [Some(1), Some(2)]);
        assert_eq!(ints(by_g.column(1)), [Some(4), Some(2)]);
        let whole = df
            .agg(&[
                ("x", AggFn::Sum),
                ("y", AggFn::Max),
                ("k", AggFn::Nunique),
                ("k", AggFn::Count),
            ])?
            .compute(&client)
            .await?;
        assert_eq!(whole.num_rows(), 1);
        assert_eq!(ints(whole.column(0)), [Some(26)]);
        assert_eq!(floats(whole.column(1)), [Some(4.0)]);
        assert_eq!(ints(whole.column(2)), [Some(3)]);
        assert_eq!(ints(whole.column(3)), [Some(6)]);
        let vc = df.value_counts("k")?.compute(&client).await?;
        assert_eq!(
            strs(vc.column(0)),
            [Some("a".into()), Some("b".into()), Some("c".into())]
        );
        assert_eq!(ints(vc.column(1)), [Some(4), Some(1), Some(1)]);

        // An empty frame: no groups, but whole-frame reductions still give one row.
        let empty = df.filter(col("x").gt(lit(100)))?;
        assert_eq!(
            empty
                .groupby(&["k"])
                .agg(&[("x", AggFn::Sum)])?
                .compute(&client)
                .await?
                .num_rows(),
            0
        );
        let e = empty
            .agg(&[("x", AggFn::Sum), ("x", AggFn::Mean)])?
            .compute(&client)
            .await?;
        assert_eq!(
            (ints(e.column(0)), floats(e.column(1))),
            (vec![Some(0)], vec![None])
        );
        assert!(
            df.groupby(&["k"]).agg(&[("k", AggFn::Sum)]).is_err(),
            "sum of strings"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_files_infer_split_project_and_round_trip() -> Result<()> {
    let client = local().await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    bounded(60, async {
        std::fs::write(format!("{d}/a.csv"), "k;n;v\nx;1;0.5\ny;NA;1.5\nz;3;\n")?;
        std::fs::write(format!("{d}/b.csv"), "k;n;v\nx;4;2.5\n\"w\";5;3.5\n")?;
        let opts = CsvOptions {
            delimiter: b';',
            nulls: vec!["NA".into()],
            blocksize: Some(8),
            ..CsvOptions::default()
        };
        let df = read_csv(&[&format!("{d}/*.csv")], opts.clone())?;
        assert!(df.npartitions() > 2, "small blocks split files");
        let s = df.schema();
        assert_eq!(s.field(1).data_type(), &DataType::Int64);
        assert_eq!(s.field(2).data_type(), &DataType::Float64);
        let b = df.compute(&client).await?;
        assert_eq!(
            strs(b.column(0))
                .iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>(),
            ["x", "y", "z", "x", "w"]
        );
        assert_eq!(
            ints(b.column(1)),
            [Some(1), None, Some(3), Some(4), Some(5)]
        );
        assert_eq!(
            floats(b.column(2)),
            [Some(0.5), Some(1.5), None, Some(2.5), Some(3.5)]
        );

        // dtype overrides and column projection
        let df2 = read_csv(
            &[&format!("{d}/*.csv")],
            CsvOptions {
                dtypes: vec![("n".into(), DataType::Float64)],
                columns: Some(vec!["v".into(), "n".into()]),
                ..opts.clone()
            },
        )?;
        assert_eq!(df2.columns(), ["v", "n"]);
        let b2 = df2.compute(&client).await?;
        assert_eq!(
            floats(b2.column(1)),
            [Some(1.0), None, Some(3.0), Some(4.0), Some(5.0)]
        );

        // to_csv then read back: the same rows
        let out = format!("{d}/out");
        let paths = df.to_csv(&client, &out, b',').await?;
        assert_eq!(paths.len(), df.npartitions());
        let back = read_csv(&[&format!("{out}/*.csv")], CsvOptions::default())?
            .compute(&client)
            .await?;
        assert_eq!(back, b);

        // a file whose header differs names the file and the column
        std::fs::write(format!("{d}/c.csv"), "k;m;v\nq;1;2\n")?;
        let err = read_csv(&[&format!("{d}/*.csv")], opts.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.csv") && err.contains("column n"), "{err}");
        std::fs::remove_file(format!("{d}/c.csv"))?;
        // a value that does not parse names the file
        std::fs::write(format!("{d}/c.csv"), "k;n;v\nq;oops;2\n")?;
        let err = read_csv(&[&format!("{d}/*.csv")], opts)
            .unwrap()
            .compute(&client)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.csv"), "{err}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_row_groups_projection_pushdown_and_mismatches() -> Result<()> {
    let client = local().await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    bounded(60, async {
        let df = frame()?;
        let paths = df.to_parquet(&client, &format!("{d}/pq")).await?;
        assert_eq!(paths.len(), 3);
        let back = read_parquet(&[&format!("{d}/pq/*.parquet")], ParquetOptions::default())?;
        // The empty partition wrote a file without row groups.
        assert_eq!(back.npartitions(), 2);
        assert_eq!(back.compute(&client).await?, batch(&all_rows()));

        // Projection, and a filter on x: the first file (x in 1..=3) is pruned by its stats.
        let opts = ParquetOptions {
            columns: Some(vec!["y".into(), "k".into()]),
            filter: Some(col("x").gt_eq(lit(4))),
            ..ParquetOptions::default()
        };
        let f = read_parquet(&[&format!("{d}/pq/*.parquet")], opts)?;
        assert_eq!(f.npartitions(), 1);
        assert_eq!(f.columns(), ["y", "k"]);
        let got = f.compute(&client).await?;
        assert_eq!(
            floats(got.column(0)),
            [None, Some(4.0), Some(-1.0), Some(3.0)]
        );
        let none = read_parquet(
            &[&format!("{d}/pq/*.parquet")],
            ParquetOptions {
                columns: None,
                filter: Some(col("k").eq(lit("zzz"))),
                ..ParquetOptions::default()
            },
        )?;
        assert_eq!(none.len(&client).await?, 0);

        // A file where x is a string: the error names the file and the column.
        let other = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("g", DataType::Int64, true),
            Field::new("x", DataType::Utf8, true),
            Field::new("y", DataType::Float64, true),
        ]));
        let b = RecordBatch::try_new(
            other.clone(),
            vec![
                Arc::new(StringArray::from(vec!["q"])),
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(StringArray::from(vec!["1"])),
                Arc::new(Float64Array::from(vec![1.0])),
            ],
        )?;
        from_partitions(other, vec![vec![b]])?
            .to_parquet(&client, &format!("{d}/bad"))
            .await?;
        std::fs::rename(
            format!("{d}/bad/part-00000.parquet"),
            format!("{d}/pq/zz.parquet"),
        )?;
        let err = read_parquet(&[&format!("{d}/pq/*.parquet")], ParquetOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("zz.parquet") && err.contains("column x"),
            "{err}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groupby_benchmark_verifies_on_small_data() -> Result<()> {
    let client = local().await?;
    bounded(120, async {
        for format in [
            rask::dataframe::bench::Format::Parquet,
            rask::dataframe::bench::Format::Csv,
        ] {
            let r = rask::dataframe::bench::run(&client, 20_000, format).await?;
            assert!(r.ok, "{r:?}");
            assert!(r.npartitions >= 8);
        }
        Ok(())
    })
    .await
}
