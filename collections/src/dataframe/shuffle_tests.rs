//! Unit tests of the shuffle kernels: bucket assignment by hash and by range, quantile
//! bounds, the join of two batches, split partials, and describe's merged summaries — each
//! against hand-computed expectations or the same computation done in one piece.

use super::agg::{combine, finish, partial, AggFn};
use super::describe::{merge, summarize};
use super::ipc::Frame;
use super::merge::{join_batches, JoinHow, JoinSpec};
use super::shuffle::{hash_buckets, range_buckets, split_partial};
use super::sort::bounds;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

fn ints(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}

fn strs(v: Vec<Option<&str>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

#[test]
fn equal_keys_hash_to_the_same_bucket_whatever_array_they_sit_in() {
    let a = strs(vec![Some("x"), Some("y"), None, Some("z")]);
    let b = strs(vec![Some("z"), Some("x")]);
    let ha = hash_buckets(std::slice::from_ref(&a), 4, 7).unwrap();
    let hb = hash_buckets(std::slice::from_ref(&b), 2, 7).unwrap();
    assert_eq!((ha[0], ha[3]), (hb[1], hb[0]));
    assert_eq!(ha[2], 0, "null keys go to bucket 0");
    assert!(ha.iter().all(|h| *h < 7));
    // Composite keys: the same pairs agree too, and one bucket means bucket 0.
    let (k1, k2) = (
        ints(vec![Some(1), Some(2)]),
        strs(vec![Some("x"), Some("x")]),
    );
    let (k3, k4) = (ints(vec![Some(2)]), strs(vec![Some("x")]));
    let h12 = hash_buckets(&[k1.clone(), k2.clone()], 2, 5).unwrap();
    assert_eq!(h12[1], hash_buckets(&[k3, k4], 1, 5).unwrap()[0]);
    assert_eq!(hash_buckets(&[k1, k2], 2, 1).unwrap(), [0, 0]);
    // Many distinct keys spread over every bucket.
    let many = ints((0..1000).map(Some).collect());
    let h = hash_buckets(&[many], 1000, 4).unwrap();
    assert!((0..4).all(|b| h.iter().filter(|x| **x == b).count() > 150));
    // Composite keys spread too, and a null in any key column means bucket 0.
    let n = ints((0..1000).map(Some).collect());
    let s = strs((0..1000).map(|i| (i != 7).then_some("k")).collect());
    let h = hash_buckets(&[s, n], 1000, 4).unwrap();
    assert_eq!(h[7], 0);
    assert!((0..4).all(|b| h.iter().filter(|x| **x == b).count() > 150));
}

#[test]
fn range_buckets_put_bounds_in_the_upper_range_and_nulls_last() {
    let data = batch(vec![(
        "v",
        ints(vec![Some(1), Some(5), Some(9), None, Some(10)]),
    )]);
    let bounds_ = batch(vec![("v", ints(vec![Some(5), Some(10)]))]);
    let by = vec![("v".to_string(), false)];
    assert_eq!(
        range_buckets(&data, &by, &bounds_).unwrap(),
        [0, 1, 1, 2, 2]
    );
    // Descending: bounds in descending order, larger values first.
    let desc = vec![("v".to_string(), true)];
    let bounds_ = batch(vec![("v", ints(vec![Some(9), Some(5)]))]);
    assert_eq!(
        range_buckets(&data, &desc, &bounds_).unwrap(),
        [2, 2, 1, 2, 0]
    );
}

#[test]
fn quantile_bounds_follow_the_weights_and_skip_repeats() {
    let w = |v: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
    // 0..=99 with weight 1, in scrambled order: 4 ranges cut at 25, 50, 75.
    let vals: Vec<Option<i64>> = (0..100).map(|i| Some((i * 37) % 100)).collect();
    let s = batch(vec![("v", ints(vals)), ("__weight", w(vec![1.0; 100]))]);
    let by = vec![("v".to_string(), false)];
    let (cuts, ends) = bounds(&s, &by, 4).unwrap();
    let c: Vec<i64> = cuts.column(0).as_primitive::<Int64Type>().values().to_vec();
    assert_eq!(c, [24, 49, 74]);
    let e: Vec<i64> = ends.column(0).as_primitive::<Int64Type>().values().to_vec();
    assert_eq!(e, [0, 99]);
    // All equal: no bound at all (one range); a heavy row pulls every cut onto itself.
    let s = batch(vec![
        ("v", ints(vec![Some(3); 10])),
        ("__weight", w(vec![1.0; 10])),
    ]);
    assert_eq!(bounds(&s, &by, 4).unwrap().0.num_rows(), 0);
    let s = batch(vec![
        ("v", ints(vec![Some(1), Some(2), Some(3)])),
        ("__weight", w(vec![1.0, 100.0, 1.0])),
    ]);
    let c = bounds(&s, &by, 4).unwrap().0;
    assert_eq!(
        c.column(0).as_primitive::<Int64Type>().values().to_vec(),
        [2]
    );
}

#[test]
fn outer_join_keeps_unmatched_and_null_keyed_rows_in_a_fixed_order() {
    let l = batch(vec![
        ("k", strs(vec![Some("a"), None, Some("b"), Some("a")])),
        ("x", ints(vec![Some(1), Some(2), Some(3), Some(4)])),
    ]);
    let r = batch(vec![
        ("k", strs(vec![Some("a"), Some("c"), None, Some("a")])),
        ("x", ints(vec![Some(10), Some(20), Some(30), Some(40)])),
    ]);
    let spec = |how| JoinSpec {
        on: vec!["k".into()],
        how,
        suffixes: ("_x".into(), "_y".into()),
        nleft: 1,
    };
    let out = join_batches(&l, &r, &spec(JoinHow::Outer)).unwrap();
    let schema = out.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["k", "x_x", "x_y"]);
    let k: Vec<Option<&str>> = out.column(0).as_string::<i32>().iter().collect();
    let x: Vec<Option<i64>> = out.column(1).as_primitive::<Int64Type>().iter().collect();
    let y: Vec<Option<i64>> = out.column(2).as_primitive::<Int64Type>().iter().collect();
    // a×2 matches for row 0, the null-keyed left row, b unmatched, a×2 for row 3, then the
    // right rows nothing matched (c, and the null key).
    assert_eq!(
        k,
        [
            Some("a"),
            Some("a"),
            None,
            Some("b"),
            Some("a"),
            Some("a"),
            Some("c"),
            None
        ]
    );
    assert_eq!(
        x,
        [
            Some(1),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(4),
            None,
            None
        ]
    );
    assert_eq!(
        y,
        [
            Some(10),
            Some(40),
            None,
            None,
            Some(10),
            Some(40),
            Some(20),
            Some(30)
        ]
    );
    assert_eq!(
        join_batches(&l, &r, &spec(JoinHow::Inner))
            .unwrap()
            .num_rows(),
        4
    );
    assert_eq!(
        join_batches(&l, &r, &spec(JoinHow::Left))
            .unwrap()
            .num_rows(),
        6
    );
}

#[test]
fn partials_split_by_key_hash_combine_to_the_whole() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            strs(vec![
                Some("a"),
                Some("b"),
                Some("c"),
                None,
                Some("a"),
                Some("d"),
            ]),
            ints(vec![Some(1), Some(2), None, Some(4), Some(1), Some(6)]),
        ],
    )
    .unwrap();
    let spec = super::tests::agg_spec(&["k"], "v", &[AggFn::Sum, AggFn::Nunique, AggFn::Size]);
    let types = vec![DataType::Int64; 3];
    let p = partial(&spec, &Frame::new(schema, vec![b])).unwrap();
    let whole = finish(
        &spec,
        &types,
        &combine(&spec, &types, std::slice::from_ref(&p)).unwrap(),
    )
    .unwrap();
    let pieces = split_partial(&p, 1, 3).unwrap();
    assert_eq!(pieces.len(), 3);
    let mut rows = 0;
    for piece in &pieces {
        let one = finish(
            &spec,
            &types,
            &combine(&spec, &types, std::slice::from_ref(piece)).unwrap(),
        )
        .unwrap();
        rows += one.num_rows();
        for i in 0..one.num_rows() {
            let k = one.column(0).as_string::<i32>().value(i);
            let j = (0..whole.num_rows())
                .find(|j| whole.column(0).as_string::<i32>().value(*j) == k)
                .unwrap();
            assert_eq!(one.slice(i, 1), whole.slice(j, 1));
        }
    }
    assert_eq!(rows, whole.num_rows());
}

#[test]
fn merged_summaries_equal_one_summary_of_all_values() {
    let all: Vec<f64> = (0..500).map(|i| ((i * 7919) % 1000) as f64 / 3.0).collect();
    let a: ArrayRef = Arc::new(Float64Array::from(all.clone()));
    let one = merge(&[summarize(&a).unwrap()]);
    let parts: Vec<_> = [0..120, 120..121, 121..121, 121..500]
        .into_iter()
        .map(|r| summarize(&a.slice(r.start, r.len())).unwrap())
        .collect();
    let split = merge(&parts);
    for (x, y) in one.iter().zip(split) {
        assert!((x - y).abs() < 1e-9, "{one:?} vs {split:?}");
    }
    let mean = all.iter().sum::<f64>() / 500.0;
    assert!((one[1] - mean).abs() < 1e-9);
    let none = merge(&[summarize(&a.slice(0, 0)).unwrap()]);
    assert_eq!(none[0], 0.0);
    assert!(none[1..].iter().all(|x| x.is_nan()));
}

#[test]
fn integer_keys_number_alike_through_the_table_and_the_hash_map() {
    use super::groupids::group_ids;
    // Narrow range (direct table) and wide range (hash map), both with a null and negatives.
    for scale in [1i64, 1 << 40] {
        let k = ints(vec![
            Some(-3 * scale),
            Some(2 * scale),
            None,
            Some(-3 * scale),
            Some(0),
        ]);
        let (ids, firsts) = group_ids(&[k], 5).unwrap();
        assert_eq!(ids, [0, 1, u32::MAX, 0, 2], "scale {scale}");
        assert_eq!(firsts, [0, 1, 4]);
    }
}

#[test]
fn short_and_long_strings_number_alike() {
    use super::groupids::group_ids;
    // Up to 7 bytes the keys are packed into integers; "a" and "a\0" must stay apart.
    for (x, y) in [("a", "a\0"), ("a-long-key", "a-long-key\0")] {
        let k = strs(vec![Some(x), Some(y), None, Some(x), Some("")]);
        let (ids, firsts) = group_ids(&[k], 5).unwrap();
        assert_eq!(ids, [0, 1, u32::MAX, 0, 2], "{x:?}");
        assert_eq!(firsts, [0, 1, 4]);
    }
    // The same short string early in the buffer (read by a masked 8-byte load) and at its
    // very end (read byte by byte) is one key.
    let k = strs(vec![
        Some("ab"),
        Some("zzzzzzz"),
        Some(""),
        Some("q"),
        Some("ab"),
    ]);
    let (ids, _) = group_ids(&[k], 5).unwrap();
    assert_eq!(ids, [0, 1, 2, 3, 0]);
}

#[test]
fn composite_keys_number_alike_through_the_pair_table_and_the_hash_map() {
    use super::groupids::group_ids;
    // 3 × 2 possible pairs fit the table; 1500 strings × 1500 integers (2.25 M pairs, over
    // 3000 rows) take the hash map. Rows with a null key are dropped.
    let k = strs(vec![
        Some("a"),
        Some("b"),
        Some("a"),
        None,
        Some("b"),
        Some("c"),
    ]);
    let g = ints(vec![Some(1), Some(1), Some(2), Some(1), Some(1), None]);
    let (ids, firsts) = group_ids(&[k, g], 6).unwrap();
    assert_eq!(ids, [0, 1, 2, u32::MAX, 1, u32::MAX]);
    assert_eq!(firsts, [0, 1, 2]);
    let n = 3000;
    let names: Vec<String> = (0..n).map(|i| format!("key-{}", i % 1500)).collect();
    let k: ArrayRef = Arc::new(StringArray::from_iter_values(names.iter()));
    let g = ints((0..n as i64).map(|i| Some((i % 1500) << 40)).collect());
    let (ids, firsts) = group_ids(&[k, g], n).unwrap();
    assert_eq!(firsts.len(), 1500);
    assert!((0..n).all(|i| ids[i] == (i % 1500) as u32));
}

#[test]
fn narrow_integer_second_keys_number_as_a_plain_map_of_pairs_does() {
    use super::groupids::group_ids;
    use std::collections::HashMap;
    let n = 5000usize;
    let names: Vec<Option<String>> = (0..n)
        .map(|i| (i % 97 != 5).then(|| format!("s{}", (i * 7) % 37)))
        .collect();
    let nums: Vec<Option<i64>> = (0..n)
        .map(|i| (i % 89 != 3).then_some(((i * 13) % 101) as i64 - 50))
        .collect();
    let k: ArrayRef = Arc::new(StringArray::from(names.clone()));
    let (ids, firsts) = group_ids(&[k, ints(nums.clone())], n).unwrap();
    let mut seen: HashMap<(String, i64), u32> = HashMap::new();
    let mut want_firsts = Vec::new();
    for i in 0..n {
        let want = match (&names[i], nums[i]) {
            (Some(s), Some(v)) => {
                let next = seen.len() as u32;
                let id = *seen.entry((s.clone(), v)).or_insert(next);
                if id == next {
                    want_firsts.push(i as u32);
                }
                id
            }
            _ => u32::MAX,
        };
        assert_eq!(ids[i], want, "row {i}");
    }
    assert_eq!(firsts, want_firsts);
}

#[test]
fn sorting_by_several_keys_orders_as_the_lexicographic_sort() {
    use super::agg::sort_by_keys;
    let n = 300usize;
    let k = strs(
        (0..n)
            .map(|i| (i % 41 != 0).then_some(["b", "a", "c", "aa"][i % 4]))
            .collect(),
    );
    let g = ints(
        (0..n)
            .map(|i| (i % 13 != 0).then_some((i * 7 % 5) as i64))
            .collect(),
    );
    let v = ints((0..n as i64).map(Some).collect());
    let b = batch(vec![("k", k), ("g", g), ("v", v)]);
    let cols: Vec<arrow_ord::sort::SortColumn> = b.columns()[..2]
        .iter()
        .map(|c| arrow_ord::sort::SortColumn {
            values: c.clone(),
            options: None,
        })
        .collect();
    let idx = arrow_ord::sort::lexsort_to_indices(&cols, None).unwrap();
    let want = arrow_select::take::take_record_batch(&b, &idx).unwrap();
    // Both orders of several keys: by packed ranks (sort_by_keys' first choice) and by rows.
    let keys = &b.columns()[..2];
    let by_ranks = super::keysort::rank_order(keys).unwrap().unwrap();
    let by_rows = super::keysort::row_order(keys).unwrap();
    for idx in [by_ranks, by_rows] {
        let idx = arrow_array::UInt32Array::from(idx);
        let got = arrow_select::take::take_record_batch(&b, &idx).unwrap();
        assert_eq!(got.columns()[..2], want.columns()[..2]);
    }
    let got = sort_by_keys(b, 2).unwrap();
    // Equal keys may come in any order: compare the key columns, and the rows as sets.
    assert_eq!(got.columns()[..2], want.columns()[..2]);
    let mut a: Vec<i64> = got.column(2).as_primitive::<Int64Type>().values().to_vec();
    let mut w: Vec<i64> = want.column(2).as_primitive::<Int64Type>().values().to_vec();
    a.sort();
    w.sort();
    assert_eq!(a, w);
}
