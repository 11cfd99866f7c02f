//! Parquet sources and sinks: the client reads every file's footer, checks each file against
//! the first one's schema, and makes one partition per row group, skipping row groups whose
//! min/max statistics prove that a filter matches none of their rows; a worker reads its row
//! groups with only the projected columns. Files are written with snappy compression.

use super::expr::{CmpOp, Expr, Lit};
use super::ipc::{Fail, Frame};
use crate::bag::text;
use crate::raw::failed;
use crate::{Error, Result};
use arrow_array::RecordBatchReader;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

/// Options of [`read_parquet`](super::read_parquet).
#[derive(Debug, Clone, Default)]
pub struct ParquetOptions {
    /// Only these columns, in this order (default: all).
    pub columns: Option<Vec<String>>,
    /// Keep only rows where this is true; row groups whose statistics exclude it are not read.
    pub filter: Option<Expr>,
}

/// Row groups of one file to read as one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParquetPiece {
    /// The file, as the workers see it.
    pub path: String,
    /// Row-group indices.
    pub row_groups: Vec<usize>,
    /// Columns to read, in output order.
    pub columns: Vec<String>,
    /// Size and modification time, so a changed file gets new keys.
    pub stamp: (u64, u64),
}

fn stamp(path: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    Ok((meta.len(), mtime))
}

fn footer(path: &Path) -> Result<ArrowReaderMetadata> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| Error::SchemaMismatch {
        file: path.display().to_string(),
        column: String::new(),
        message: format!("not a readable Parquet file: {e}"),
    })
}

/// Plans reading Parquet files: the schema of the columns read (those of `columns`, plus the
/// filter's) and the pieces, one per surviving row group.
pub fn plan(
    patterns: &[&str],
    columns: &[String],
    filter: Option<&Expr>,
) -> Result<(SchemaRef, Vec<ParquetPiece>)> {
    let files = text::expand(patterns)?;
    let first = files
        .first()
        .ok_or_else(|| Error::NoFiles(patterns.join(" ")))?;
    let first_meta = footer(first)?;
    let full = first_meta.schema().clone();
    let mismatch = |file: &Path, column: &str, message: String| Error::SchemaMismatch {
        file: file.display().to_string(),
        column: column.to_string(),
        message,
    };
    let names: Vec<String> = if columns.is_empty() {
        full.fields().iter().map(|f| f.name().clone()).collect()
    } else {
        columns.to_vec()
    };
    let idx = names
        .iter()
        .map(|c| {
            full.index_of(c)
                .map_err(|_| mismatch(first, c, "no such column".into()))
        })
        .collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(full.project(&idx)?);
    let mut pieces = Vec::new();
    for (n, f) in files.iter().enumerate() {
        let meta = if n == 0 {
            first_meta.clone()
        } else {
            footer(f)?
        };
        for want in schema.fields() {
            match meta.schema().field_with_name(want.name()) {
                Err(_) => {
                    return Err(mismatch(
                        f,
                        want.name(),
                        format!("missing (it is in {})", first.display()),
                    ))
                }
                Ok(got) if got.data_type() != want.data_type() => {
                    return Err(mismatch(
                        f,
                        want.name(),
                        format!(
                            "is {} here but {} in {}",
                            got.data_type(),
                            want.data_type(),
                            first.display()
                        ),
                    ))
                }
                Ok(_) => {}
            }
        }
        let stamp = stamp(f)?;
        for (i, rg) in meta.metadata().row_groups().iter().enumerate() {
            if filter.is_some_and(|e| !may_match(e, &|c| stats(rg, c))) {
                continue;
            }
            pieces.push(ParquetPiece {
                path: f.display().to_string(),
                row_groups: vec![i],
                columns: names.clone(),
                stamp,
            });
        }
    }
    Ok((schema, pieces))
}

/// Min and max of a column in a row group, as literals, when the statistics have them.
fn stats(rg: &RowGroupMetaData, column: &str) -> Option<(Lit, Lit)> {
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

/// Reads a piece (on a worker).
pub fn read(p: &ParquetPiece) -> Result<Frame, Fail> {
    let fail = |e: &dyn std::fmt::Display| failed(format!("{}: {e}", p.path));
    let file = std::fs::File::open(&p.path).map_err(|e| fail(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?;
    let full = builder.schema().clone();
    let mut idx = p
        .columns
        .iter()
        .map(|c| {
            full.index_of(c)
                .map_err(|_| fail(&format!("no column {c}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    idx.sort_unstable();
    let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(p.row_groups.clone())
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| fail(&e))?;
    let read_schema = reader.schema();
    let order = p
        .columns
        .iter()
        .map(|c| read_schema.index_of(c).map_err(|e| fail(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Arc::new(read_schema.project(&order).map_err(|e| fail(&e))?);
    let mut batches = Vec::new();
    for b in reader {
        let b = b.map_err(|e| fail(&e))?;
        batches.push(b.project(&order).map_err(|e| fail(&e))?);
    }
    Ok(Frame::new(schema, batches))
}

/// Writes a frame as one Parquet file (on a worker); returns the path.
pub fn write(frame: &Frame, path: &str) -> Result<String, Fail> {
    let fail = |e: &dyn std::fmt::Display| failed(format!("{path}: {e}"));
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    }
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut w =
        ArrowWriter::try_new(file, frame.schema.clone(), Some(props)).map_err(|e| fail(&e))?;
    for b in &frame.batches {
        w.write(b).map_err(|e| fail(&e))?;
    }
    w.close().map_err(|e| fail(&e))?;
    Ok(path.to_string())
}
