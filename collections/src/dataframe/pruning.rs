//! Row-group pruning for Parquet reads: a row group's min/max statistics as literals, and
//! whether a filter expression could match any row within such bounds.

use super::expr::{CmpOp, Expr, Lit};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use std::cmp::Ordering;

/// Min and max of a column in a row group, as literals, when the statistics have them.
pub(crate) fn stats(rg: &RowGroupMetaData, column: &str) -> Option<(Lit, Lit)> {
    let c = rg
        .columns()
        .iter()
        .find(|c| c.column_path().string() == column)?;
    Some(match c.statistics()? {
        Statistics::Boolean(s) => (Lit::Bool(*s.min_opt()?), Lit::Bool(*s.max_opt()?)),
        Statistics::Int32(s) => (
            Lit::Int(*s.min_opt()? as i64),
            Lit::Int(*s.max_opt()? as i64),
        ),
        Statistics::Int64(s) => (Lit::Int(*s.min_opt()?), Lit::Int(*s.max_opt()?)),
        Statistics::Float(s) => (
            Lit::Float(*s.min_opt()? as f64),
            Lit::Float(*s.max_opt()? as f64),
        ),
        Statistics::Double(s) => (Lit::Float(*s.min_opt()?), Lit::Float(*s.max_opt()?)),
        Statistics::ByteArray(s) => (
            Lit::Str(s.min_opt()?.as_utf8().ok()?.to_string()),
            Lit::Str(s.max_opt()?.as_utf8().ok()?.to_string()),
        ),
        _ => return None,
    })
}

fn order(a: &Lit, b: &Lit) -> Option<Ordering> {
    match (a, b) {
        (Lit::Int(x), Lit::Int(y)) => Some(x.cmp(y)),
        (Lit::Int(x), Lit::Float(y)) => (*x as f64).partial_cmp(y),
        (Lit::Float(x), Lit::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Lit::Float(x), Lit::Float(y)) => x.partial_cmp(y),
        (Lit::Str(x), Lit::Str(y)) => Some(x.cmp(y)),
        (Lit::Bool(x), Lit::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Whether some row with column values within the given (min, max) bounds could satisfy
/// `e`; `false` only when that is certain.
pub fn may_match(e: &Expr, stats: &dyn Fn(&str) -> Option<(Lit, Lit)>) -> bool {
    use Ordering::*;
    match e {
        Expr::And(a, b) => may_match(a, stats) && may_match(b, stats),
        Expr::Or(a, b) => may_match(a, stats) || may_match(b, stats),
        Expr::Cmp(a, op, b) => {
            let (c, op, v) = match (&**a, &**b) {
                (Expr::Col(c), Expr::Lit(v)) => (c, *op, v),
                (Expr::Lit(v), Expr::Col(c)) => (c, op.flip(), v),
                _ => return true,
            };
            let Some((min, max)) = stats(c) else {
                return true;
            };
            let (Some(lo), Some(hi)) = (order(&min, v), order(&max, v)) else {
                return true;
            };
            match op {
                CmpOp::Eq => lo != Greater && hi != Less,
                CmpOp::NotEq => !(lo == Equal && hi == Equal),
                CmpOp::Lt => lo == Less,
                CmpOp::LtEq => lo != Greater,
                CmpOp::Gt => hi == Greater,
                CmpOp::GtEq => hi != Less,
            }
        }
        _ => true,
    }
}
