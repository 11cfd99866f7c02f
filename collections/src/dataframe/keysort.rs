//! Sorting a batch by its leading key columns, as aggregation results are: by packed dense
//! ranks of the keys' distinct values when they fit 64 bits, else by Arrow's row format.

use super::groupids::group_ids;
use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::ArrowError;

/// Row order of several sort keys by dense ranks: each key's distinct values are sorted
/// (few, usually), every row gets its values' ranks packed into one integer, and the
/// integers are sorted. Nulls first, as in Arrow's default sort; equal keys keep their row
/// order. `None` when the ranks do not fit 64 bits.
pub(super) fn rank_order(keys: &[ArrayRef]) -> Result<Option<Vec<u32>>, ArrowError> {
    let n = keys[0].len();
    let mut packed = vec![0u64; n];
    let mut room: u128 = 1;
    for k in keys {
        let (ids, firsts) = group_ids(std::slice::from_ref(k), n)?;
        let card = firsts.len() as u64 + 1;
        room *= card as u128;
        if room > u64::MAX as u128 {
            return Ok(None);
        }
        let distinct = arrow_select::take::take(k.as_ref(), &UInt32Array::from(firsts), None)?;
        let order = arrow_ord::sort::sort_to_indices(&distinct, None, None)?;
        let mut rank = vec![0u64; distinct.len()];
        for (r, j) in order.values().iter().enumerate() {
            rank[*j as usize] = r as u64 + 1;
        }
        for (p, id) in packed.iter_mut().zip(&ids) {
            *p = *p * card + rank.get(*id as usize).copied().unwrap_or(0);
        }
    }
    let mut pairs: Vec<(u64, u32)> = packed.into_iter().zip(0..).collect();
    pairs.sort_unstable();
    Ok(Some(pairs.into_iter().map(|(_, i)| i).collect()))
}

/// Row order of several sort keys compared in Arrow's row format (one memcmp per
/// comparison); the same order as the lexicographic sort.
pub(super) fn row_order(keys: &[ArrayRef]) -> Result<Vec<u32>, ArrowError> {
    let fields = keys
        .iter()
        .map(|c| arrow_row::SortField::new(c.data_type().clone()))
        .collect();
    let rows = arrow_row::RowConverter::new(fields)?.convert_columns(keys)?;
    let mut idx: Vec<u32> = (0..keys[0].len() as u32).collect();
    idx.sort_by(|a, b| rows.row(*a as usize).cmp(&rows.row(*b as usize)));
    Ok(idx)
}

/// `batch` sorted by its first `nk` columns (nulls first, as Arrow sorts by default).
pub fn sort_by_keys(batch: RecordBatch, nk: usize) -> Result<RecordBatch, ArrowError> {
    if nk == 0 || batch.num_rows() < 2 {
        return Ok(batch);
    }
    if nk > 1 {
        let keys = &batch.columns()[..nk];
        let idx = match rank_order(keys)? {
            Some(idx) => idx,
            None => row_order(keys)?,
        };
        return arrow_select::take::take_record_batch(&batch, &UInt32Array::from(idx));
    }
    let cols: Vec<arrow_ord::sort::SortColumn> = batch.columns()[..nk]
        .iter()
        .map(|c| arrow_ord::sort::SortColumn {
            values: c.clone(),
            options: None,
        })
        .collect();
    let idx = arrow_ord::sort::lexsort_to_indices(&cols, None)?;
    arrow_select::take::take_record_batch(&batch, &idx)
}
