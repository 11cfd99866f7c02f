//! Unit tests of the worker-side pieces: group ids, the three aggregation phases against a
//! single-pass computation, operations across batches, row-group pruning, CSV headers.

use super::agg::{combine, finish, partial, Agg, AggFn, AggSpec};
use super::expr::{col, lit, Lit};
use super::groupids::group_ids;
use super::ipc::Frame;
use super::ops::{apply, Op};
use super::parquet::may_match;
use super::partition::{decode_partial, encode_partial};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

fn batch(k: Vec<Option<&str>>, g: Vec<Option<i64>>, v: Vec<Option<f64>>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("g", DataType::Int64, true),
        Field::new("v", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(k)),
        Arc::new(Int64Array::from(g)),
        Arc::new(Float64Array::from(v)),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

/// Aggregates `funcs` of `column` by `keys`, each output named after its function.
pub(super) fn agg_spec(keys: &[&str], column: &str, funcs: &[AggFn]) -> AggSpec {
    AggSpec {
        keys: keys.iter().map(|k| k.to_string()).collect(),
        aggs: funcs
            .iter()
            .map(|f| Agg {
                column: column.into(),
                func: *f,
                name: format!("{f:?}"),
            })
            .collect(),
    }
}

#[test]
fn group_ids_number_groups_in_first_seen_order_and_skip_null_keys() {
    let k: ArrayRef = Arc::new(StringArray::from(vec![
        Some("b"),
        Some("a"),
        None,
        Some("b"),
    ]));
    let (ids, firsts) = group_ids(std::slice::from_ref(&k), 4).unwrap();
    assert_eq!(ids, [0, 1, u32::MAX, 0]);
    assert_eq!(firsts, [0, 1]);
    let g: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1, 2]));
    let (ids, firsts) = group_ids(&[k, g], 4).unwrap();
    assert_eq!(ids, [0, 1, u32::MAX, 2]);
    assert_eq!(firsts, [0, 1, 3]);
    let (ids, firsts) = group_ids(&[], 3).unwrap();
    assert_eq!((ids, firsts), (vec![0, 0, 0], vec![0]));
}

#[test]
fn partials_combined_in_any_split_equal_one_pass() {
    let a = batch(
        vec![Some("x"), Some("y"), Some("x"), None],
        vec![Some(1), Some(1), Some(2), Some(1)],
        vec![Some(1.0), None, Some(3.0), Some(9.0)],
    );
    let b = batch(
        vec![Some("y"), Some("x")],
        vec![Some(1), Some(1)],
        vec![Some(4.0), Some(1.0)],
    );
    let aggs = [
        AggFn::Sum,
        AggFn::Mean,
        AggFn::Count,
        AggFn::Size,
        AggFn::Min,
        AggFn::Std,
        AggFn::Nunique,
    ];
    let spec = AggSpec {
        keys: vec!["k".into()],
        aggs: aggs
            .iter()
            .enumerate()
            .map(|(i, f)| Agg {
                column: "v".into(),
                func: *f,
                name: format!("c{i}"),
            })
            .collect(),
    };
    let types = vec![DataType::Float64; aggs.len()];
    let schema = a.schema();
    let frame = |bs: Vec<RecordBatch>| Frame::new(schema.clone(), bs);
    let one = partial(&spec, &frame(vec![a.clone(), b.clone()])).unwrap();
    let whole = finish(&spec, &types, &combine(&spec, &types, &[one]).unwrap()).unwrap();
    let parts = [
        partial(&spec, &frame(vec![a])).unwrap(),
        partial(&spec, &frame(vec![])).unwrap(),
        partial(&spec, &frame(vec![b])).unwrap(),
    ];
    let merged = combine(&spec, &types, &parts).unwrap();
    let split = finish(&spec, &types, &combine(&spec, &types, &[merged]).unwrap()).unwrap();
    assert_eq!(whole, split);
    // x: v = 1, 3, 1 → sum 5, mean 5/3, count 3, size 3, min 1, std √(4/3), nunique 2
    // y: v = null, 4 → sum 4, mean 4, count 1, size 2, min 4, std null, nunique 1
    let f = |c: usize| {
        split
            .column(c)
            .as_primitive::<Float64Type>()
            .iter()
            .collect::<Vec<_>>()
    };
    let i = |c: usize| {
        split
            .column(c)
            .as_primitive::<Int64Type>()
            .iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(split.column(0).as_string::<i32>().value(0), "x");
    assert_eq!(f(1), [Some(5.0), Some(4.0)]);
    assert_eq!(f(2), [Some(5.0 / 3.0), Some(4.0)]);
    assert_eq!(
        (i(3), i(4)),
        (vec![Some(3), Some(1)], vec![Some(3), Some(2)])
    );
    assert_eq!(f(5), [Some(1.0), Some(4.0)]);
    assert!((f(6)[0].unwrap() - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(f(6)[1], None);
    assert_eq!(i(7), [Some(2), Some(1)]);
}

#[test]
fn head_counts_rows_across_batches_and_ops_keep_the_schema_of_empty_frames() {
    let a = batch(vec![Some("x"); 3], vec![Some(1); 3], vec![Some(1.0); 3]);
    let f = Frame::new(a.schema(), vec![a.clone(), a.clone()]);
    assert_eq!(apply(&[Op::Head(4)], f.clone()).unwrap().num_rows(), 4);
    assert_eq!(apply(&[Op::Head(0)], f.clone()).unwrap().num_rows(), 0);
    let ops = [
        Op::Filter(col("g").gt(lit(5))),
        Op::WithColumn("w".into(), col("v") * lit(2)),
        Op::Select(vec!["w".into()]),
    ];
    let out = apply(&ops, f).unwrap();
    assert_eq!(out.num_rows(), 0);
    assert_eq!(out.schema.field(0).name(), "w");
    assert_eq!(out.schema.field(0).data_type(), &DataType::Float64);
}

#[test]
fn row_groups_are_skipped_only_when_statistics_rule_the_filter_out() {
    let stats = |c: &str| match c {
        "x" => Some((Lit::Int(10), Lit::Int(20))),
        "s" => Some((Lit::Str("b".into()), Lit::Str("d".into()))),
        _ => None,
    };
    let m = |e| may_match(&e, &stats);
    assert!(m(col("x").gt(lit(15))));
    assert!(!m(col("x").gt(lit(20))));
    assert!(m(col("x").gt_eq(lit(20))));
    assert!(!m(col("x").lt(lit(10))));
    assert!(!m(lit(5).gt(col("x"))), "5 > x with x ≥ 10");
    assert!(m(col("x").eq(lit(10.5))));
    assert!(!m(col("x").eq(lit(21)).or(col("s").eq(lit("a")))));
    assert!(!m(col("x").gt(lit(1)).and(col("s").gt(lit("e")))));
    assert!(m(col("unknown").eq(lit(1))), "no statistics: keep");
    assert!(m(col("x").is_null()), "other shapes: keep");
}

/// `k` as a dictionary array whose dictionary repeats a value and holds one never used.
fn as_dictionary(k: &[Option<&str>]) -> ArrayRef {
    let dict: ArrayRef = Arc::new(StringArray::from(vec!["b", "unused", "a", "b", "c"]));
    let keys: arrow_array::Int32Array = k
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some("b") => Some(if i % 2 == 0 { 0 } else { 3 }),
            Some("a") => Some(2),
            Some("c") => Some(4),
            _ => None,
        })
        .collect();
    Arc::new(arrow_array::DictionaryArray::try_new(keys, dict).unwrap())
}

#[test]
fn dictionary_keys_group_and_hash_as_their_values() {
    let values = [Some("b"), Some("a"), None, Some("b"), Some("c"), Some("a")];
    let plain: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
    let coded = as_dictionary(&values);
    let g: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1, 2, 1, 1]));
    for keys in [vec![0], vec![0, 1], vec![1, 0]] {
        let pick = |k: &ArrayRef| -> Vec<ArrayRef> {
            keys.iter()
                .map(|i| if *i == 0 { k.clone() } else { g.clone() })
                .collect()
        };
        assert_eq!(
            group_ids(&pick(&coded), 6).unwrap(),
            group_ids(&pick(&plain), 6).unwrap()
        );
        assert_eq!(
            super::shuffle::hash_buckets(&pick(&coded), 6, 7).unwrap(),
            super::shuffle::hash_buckets(&pick(&plain), 6, 7).unwrap()
        );
    }
}

#[test]
fn partials_with_dictionary_and_plain_keys_combine_to_plain_results() {
    let a = batch(
        vec![Some("b"), Some("a"), None, Some("b")],
        vec![Some(1), Some(1), Some(1), Some(2)],
        vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)],
    );
    let b = batch(
        vec![Some("c"), Some("a")],
        vec![Some(1), Some(1)],
        vec![Some(5.0), Some(6.0)],
    );
    let code = |batch: &RecordBatch| {
        let k: Vec<Option<&str>> = batch.column(0).as_string::<i32>().iter().collect();
        let coded = as_dictionary(&k);
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[0] = fields[0].clone().with_data_type(coded.data_type().clone());
        let mut cols = batch.columns().to_vec();
        cols[0] = coded;
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    };
    let spec = agg_spec(
        &["k", "g"],
        "v",
        &[AggFn::Mean, AggFn::Size, AggFn::Nunique],
    );
    let types = vec![DataType::Float64; 3];
    // Through the task values' encoding, as partials travel.
    let part = |b: &RecordBatch| {
        let p = partial(&spec, &Frame::new(b.schema(), vec![b.clone()])).unwrap();
        decode_partial(&encode_partial(&p).unwrap()).unwrap()
    };
    let result = |parts: &[super::agg::Partial]| {
        finish(&spec, &types, &combine(&spec, &types, parts).unwrap()).unwrap()
    };
    let plain = result(&[part(&a), part(&b)]);
    assert_eq!(plain.schema().field(0).data_type(), &DataType::Utf8);
    for parts in [
        [part(&code(&a)), part(&code(&b))],
        [part(&code(&a)), part(&b)],
        [part(&a), part(&code(&b))],
    ] {
        assert_eq!(result(&parts), plain);
    }
    // Groups (a,1) (b,1) (b,2) (c,1), sorted by the keys.
    assert_eq!(plain.num_rows(), 4);
    let means: Vec<Option<f64>> = plain
        .column(2)
        .as_primitive::<Float64Type>()
        .iter()
        .collect();
    assert_eq!(means, [Some(4.0), Some(1.0), Some(4.0), Some(5.0)]);
}
