//! Group numbering: the id of each row's group from its key columns, shared by the grouped
//! aggregations (`agg`) and the joins (`merge`). Single integer keys in a narrow range use a
//! direct table, short strings are packed into one integer, dictionary arrays number their
//! dictionary's values, composite keys are numbered column by column and then as pairs,
//! and other key types go through Arrow's row format.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{ArrowError, DataType};
use rustc_hash::FxHashMap;

/// Group ids per row (`u32::MAX` for rows with a null key) and the first row of each group.
pub fn group_ids(keys: &[ArrayRef], n: usize) -> Result<(Vec<u32>, Vec<u32>), ArrowError> {
    let mut ids = vec![u32::MAX; n];
    let mut firsts = Vec::new();
    if keys.is_empty() {
        ids.iter_mut().for_each(|g| *g = 0);
        firsts.push(0);
        return Ok((ids, firsts));
    }
    let nulls = keys.iter().any(|k| k.null_count() > 0);
    let valid = |i: usize| !nulls || keys.iter().all(|k| k.is_valid(i));
    macro_rules! assign {
        ($map:ident, $key:expr) => {
            for (i, g) in ids.iter_mut().enumerate() {
                if !valid(i) {
                    continue;
                }
                let next = firsts.len() as u32;
                let id = *$map.entry($key(i)).or_insert(next);
                if id == next {
                    firsts.push(i as u32);
                }
                *g = id;
            }
        };
    }
    match (keys.len(), keys[0].data_type()) {
        (1, DataType::Int64) => {
            let a = keys[0].as_primitive::<Int64Type>();
            match narrow_ints(&keys[0], n) {
                // A narrow range of integers: a direct table instead of a hash map.
                Some((_, lo, span)) => {
                    let mut table = vec![u32::MAX; span];
                    for (i, g) in ids.iter_mut().enumerate() {
                        if !valid(i) {
                            continue;
                        }
                        let slot = &mut table[(a.value(i) - lo) as usize];
                        if *slot == u32::MAX {
                            *slot = firsts.len() as u32;
                            firsts.push(i as u32);
                        }
                        *g = *slot;
                    }
                }
                None => {
                    let mut map: FxHashMap<i64, u32> = FxHashMap::default();
                    assign!(map, |i| a.value(i));
                }
            }
        }
        (1, DataType::Utf8) => {
            let a = keys[0].as_string::<i32>();
            if a.value_offsets().windows(2).all(|w| w[1] - w[0] <= 7) {
                // Short strings (codes, ids): bytes and length packed in a u64, hashed and
                // compared as one integer.
                let (data, offsets) = (a.value_data(), a.value_offsets());
                let pack = |i: usize| {
                    let (o, len) = (offsets[i] as usize, (offsets[i + 1] - offsets[i]) as usize);
                    let low = match data.get(o..o + 8) {
                        // One unaligned load, masked to the string's bytes.
                        Some(_) if len == 0 => 0,
                        Some(w) => {
                            let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
                            w & (u64::MAX >> (64 - 8 * len))
                        }
                        None => data[o..o + len]
                            .iter()
                            .rev()
                            .fold(0u64, |v, b| (v << 8) | *b as u64),
                    };
                    low | ((len as u64) << 56)
                };
                let mut map: FxHashMap<u64, u32> = FxHashMap::default();
                assign!(map, pack);
            } else {
                let mut map: FxHashMap<&str, u32> = FxHashMap::default();
                assign!(map, |i| a.value(i));
            }
        }
        (1, DataType::Dictionary(kt, _)) if **kt == DataType::Int32 => {
            // Dictionary keys: the dictionary's values are numbered (few), then each row's
            // group is its value's, in order of first appearance. Equal values under
            // different keys (merged dictionaries) share a group.
            let d = keys[0].as_dictionary::<Int32Type>();
            let values = d.values();
            let (vids, vfirsts) = group_ids(std::slice::from_ref(values), values.len())?;
            let mut table = vec![u32::MAX; vfirsts.len()];
            for (i, (g, k)) in ids.iter_mut().zip(d.keys().values()).enumerate() {
                if !valid(i) {
                    continue;
                }
                let Some(&v) = vids.get(*k as usize).filter(|v| **v != u32::MAX) else {
                    continue;
                };
                let slot = &mut table[v as usize];
                if *slot == u32::MAX {
                    *slot = firsts.len() as u32;
                    firsts.push(i as u32);
                }
                *g = *slot;
            }
        }
        (k, _) if k > 1 => {
            // Composite keys: number each column alone (fast paths above), then number the
            // pairs (ids so far, next column's id) — far cheaper than hashing row bytes.
            let (mut acc, first) = group_ids(&keys[..1], n)?;
            let mut na = first.len();
            for key in &keys[1..] {
                if let Some((b, lo, span)) = narrow_ints(key, n) {
                    if let Some(p) = na.checked_mul(span).filter(|p| *p <= n.max(1 << 20)) {
                        // Integers in a narrow range: one pass, the pair table indexed by
                        // (ids so far, value - min) directly.
                        firsts.clear();
                        let mut table = vec![u32::MAX; p];
                        let nulls = b.null_count() > 0;
                        for (i, a) in acc.iter_mut().enumerate() {
                            if *a == u32::MAX {
                                continue;
                            }
                            if nulls && b.is_null(i) {
                                *a = u32::MAX;
                                continue;
                            }
                            let slot = &mut table[*a as usize * span + (b.value(i) - lo) as usize];
                            if *slot == u32::MAX {
                                *slot = firsts.len() as u32;
                                firsts.push(i as u32);
                            }
                            *a = *slot;
                        }
                        na = firsts.len();
                        continue;
                    }
                }
                let (next, nb) = group_ids(std::slice::from_ref(key), n)?;
                let nb = nb.len();
                firsts.clear();
                // Few possible pairs: a direct table; else a hash map of the packed pair.
                let mut table = match na.checked_mul(nb) {
                    Some(p) if p <= n.max(1 << 20) => vec![u32::MAX; p],
                    _ => Vec::new(),
                };
                let mut map: FxHashMap<u64, u32> = FxHashMap::default();
                for (i, (a, b)) in acc.iter_mut().zip(&next).enumerate() {
                    if *a == u32::MAX || *b == u32::MAX {
                        *a = u32::MAX;
                        continue;
                    }
                    let fresh = firsts.len() as u32;
                    let id = if table.is_empty() {
                        *map.entry(((*a as u64) << 32) | *b as u64).or_insert(fresh)
                    } else {
                        let slot = &mut table[*a as usize * nb + *b as usize];
                        if *slot == u32::MAX {
                            *slot = fresh;
                        }
                        *slot
                    };
                    if id == fresh {
                        firsts.push(i as u32);
                    }
                    *a = id;
                }
                na = firsts.len();
            }
            ids = acc;
        }
        _ => {
            let fields = keys
                .iter()
                .map(|k| arrow_row::SortField::new(k.data_type().clone()))
                .collect();
            let conv = arrow_row::RowConverter::new(fields)?;
            let rows = conv.convert_columns(keys)?;
            let mut map: FxHashMap<arrow_row::Row<'_>, u32> = FxHashMap::default();
            assign!(map, |i| rows.row(i));
        }
    }
    Ok((ids, firsts))
}

/// Least and greatest non-null value, in one pass.
fn int_range(a: &arrow_array::Int64Array) -> Option<(i64, i64)> {
    if a.null_count() > 0 {
        return arrow_arith::aggregate::min(a).zip(arrow_arith::aggregate::max(a));
    }
    let v = a.values();
    let first = *v.first()?;
    Some(
        v.iter()
            .fold((first, first), |(lo, hi), x| (lo.min(*x), hi.max(*x))),
    )
}

/// An Int64 key column whose values span fewer than `max(n, 2^16)` integers: the column, its
/// least value and the span (greatest - least + 1).
fn narrow_ints(key: &ArrayRef, n: usize) -> Option<(&arrow_array::Int64Array, i64, usize)> {
    let a = key.as_primitive_opt::<Int64Type>()?;
    let (lo, hi) = int_range(a)?;
    let span = hi as i128 - lo as i128 + 1;
    (span <= (n as i128).max(1 << 16)).then_some((a, lo, span as usize))
}
