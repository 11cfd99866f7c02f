//! Parquet sources and sinks: the client reads every file's footer, checks each file against
//! the first one's schema, and makes one partition per run of a file's row groups up to a
//! block size, skipping row groups whose min/max statistics prove that a filter matches none
//! of their rows; a worker reads its row groups with only the projected columns, in one batch
//! when they are not huge, and the string keys of a group-by as the file's own dictionaries.
//! Files are written with snappy compression.
//! Local files and `s3://` objects alike are read by byte range: the footer from the file's
//! tail, then the projected column chunks of the piece's row groups
//! ([`RangeReader`]).

use super::expr::Expr;
use super::ipc::{Fail, Frame};
pub use super::pruning::may_match;
use super::pruning::stats;
use crate::raw::failed;
use crate::storage::ranged::RangeReader;
use crate::storage::{ObjectMeta, ObjectWriter, StorageOptions};
use crate::{Error, Result};
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Options of [`read_parquet`](super::read_parquet).
#[derive(Debug, Clone, Default)]
pub struct ParquetOptions {
    /// Only these columns, in this order (default: all).
    pub columns: Option<Vec<String>>,
    /// Keep only rows where this is true; row groups whose statistics exclude it are not read.
    pub filter: Option<Expr>,
    /// How the client reads the footers and the workers the row groups (Dask's
    /// `storage_options`; default: each process's own `AWS_*` settings).
    pub storage_options: StorageOptions,
    /// Consecutive row groups of one file form one partition while the uncompressed size of
    /// the columns read stays within this many bytes (Dask's `blocksize` with
    /// `split_row_groups="infer"`; `None`: 256 MiB, as in Dask). `Some(0)`: one partition
    /// per row group.
    pub blocksize: Option<u64>,
}

/// Dask's default `blocksize` for Parquet partitions.
pub const DEFAULT_BLOCKSIZE: u64 = 256 << 20;

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
    /// How the worker reaches the file (the reader's settings, not the worker's own).
    pub storage: StorageOptions,
}

fn footer(file: &ObjectMeta, storage: &StorageOptions) -> Result<ArrowReaderMetadata> {
    let reader = RangeReader::open(&file.url, file.size, storage)?;
    ArrowReaderMetadata::load(&reader, Default::default()).map_err(|e| match e {
        parquet::errors::ParquetError::External(e) if e.is::<Error>() => {
            *e.downcast::<Error>().expect("checked")
        }
        e => Error::SchemaMismatch {
            file: file.url.clone(),
            column: String::new(),
            message: format!("not a readable Parquet file: {e}"),
        },
    })
}

/// The column chunks of a row group that belong to the columns `names`.
fn projected<'a>(
    rg: &'a RowGroupMetaData,
    names: &'a [String],
) -> impl Iterator<Item = &'a ColumnChunkMetaData> + 'a {
    rg.columns()
        .iter()
        .filter(move |c| names.iter().any(|n| c.column_path().parts()[0] == *n))
}

/// The uncompressed bytes of the columns `names` in a row group.
fn read_bytes(rg: &RowGroupMetaData, names: &[String]) -> u64 {
    projected(rg, names)
        .map(|c| c.uncompressed_size().max(0) as u64)
        .sum()
}

/// Plans reading Parquet files: the schema of the columns read (those of `columns`, plus the
/// filter's) and the pieces, read with `storage`: runs of surviving row groups of one file
/// whose columns read stay within `blocksize` bytes (a row group larger than that is a piece
/// of its own; 0: one piece per row group).
pub fn plan(
    patterns: &[&str],
    columns: &[String],
    filter: Option<&Expr>,
    storage: &StorageOptions,
    blocksize: u64,
) -> Result<(SchemaRef, Vec<ParquetPiece>)> {
    let files = storage.expand(patterns)?;
    let first = files
        .first()
        .ok_or_else(|| Error::NoFiles(patterns.join(" ")))?;
    let first_meta = footer(first, storage)?;
    let full = first_meta.schema().clone();
    let mismatch = |file: &ObjectMeta, column: &str, message: String| Error::SchemaMismatch {
        file: file.url.clone(),
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
            footer(f, storage)?
        };
        for want in schema.fields() {
            match meta.schema().field_with_name(want.name()) {
                Err(_) => {
                    return Err(mismatch(
                        f,
                        want.name(),
                        format!("missing (it is in {})", first.url),
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
                            first.url
                        ),
                    ))
                }
                Ok(_) => {}
            }
        }
        let stamp = (f.size, f.version);
        let piece = |row_groups: Vec<usize>| ParquetPiece {
            path: f.url.clone(),
            row_groups,
            columns: names.clone(),
            stamp,
            storage: storage.clone(),
        };
        let (mut run, mut run_bytes) = (Vec::new(), 0u64);
        for (i, rg) in meta.metadata().row_groups().iter().enumerate() {
            if filter.is_some_and(|e| !may_match(e, &|c| stats(rg, c))) {
                continue;
            }
            let bytes = read_bytes(rg, &names);
            if !run.is_empty() && run_bytes + bytes > blocksize {
                pieces.push(piece(std::mem::take(&mut run)));
                run_bytes = 0;
            }
            run.push(i);
            run_bytes += bytes;
        }
        if !run.is_empty() {
            pieces.push(piece(run));
        }
    }
    Ok((schema, pieces))
}

/// The most bytes (uncompressed, of the columns read) in one batch read.
const MAX_BATCH_BYTES: u64 = 1 << 30;

/// Rows per batch of columns read as dictionary arrays. The reader grows a batch's key
/// buffer by exactly what each page adds, so a long batch is copied over and over (a
/// 625k-row batch cost a group-by partition 5 of its 27 ms); short batches are then
/// concatenated once.
const CODED_BATCH: usize = 1 << 16;

/// Reads a piece (on a worker): the footer, then its row groups' projected column chunks.
/// String columns named in `dict` whose chunks are all dictionary-encoded come back as
/// dictionary arrays (`Int32` keys): the file's own dictionaries, with no string copied per
/// row (group-bys on such keys then number the dictionary, not the rows).
pub fn read(p: &ParquetPiece, dict: &[String]) -> Result<Frame, Fail> {
    let fail = |e: &dyn std::fmt::Display| failed(format!("{}: {e}", p.path));
    let file =
        RangeReader::open(&p.path, p.stamp.0, &p.storage).map_err(|e| failed(e.to_string()))?;
    let meta = ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| fail(&e))?;
    let groups: Vec<&RowGroupMetaData> = p
        .row_groups
        .iter()
        .filter_map(|i| meta.metadata().row_groups().get(*i))
        .collect();
    let chunks: Vec<std::ops::Range<u64>> = groups
        .iter()
        .flat_map(|rg| projected(rg, &p.columns))
        .map(|c| {
            let (start, len) = c.byte_range();
            start..start + len
        })
        .collect();
    file.prefetch(&chunks).map_err(|e| failed(e.to_string()))?;
    // One batch for the whole piece when it is not huge: consumers that need one batch
    // (group-bys, sorts) then use it as it is instead of copying batches together. Huge
    // pieces are cut so that no batch holds more than MAX_BATCH_BYTES of the columns read
    // (string offsets are 32-bit).
    let rows = groups
        .iter()
        .map(|rg| rg.num_rows().max(0) as u64)
        .sum::<u64>();
    let bytes = groups
        .iter()
        .map(|rg| read_bytes(rg, &p.columns))
        .sum::<u64>();
    let batch_size = match bytes {
        b if b > MAX_BATCH_BYTES => (rows as u128 * MAX_BATCH_BYTES as u128 / b as u128) as u64,
        _ => rows,
    }
    .max(1024) as usize;
    let full = meta.schema().clone();
    let coded: Vec<String> = match batch_size as u64 >= rows && rows > 0 {
        true => p
            .columns
            .iter()
            .filter(|c| dict.contains(c))
            .filter(|c| dictionary_encoded(&full, &groups, c))
            .cloned()
            .collect(),
        false => Vec::new(),
    };
    if coded.is_empty() {
        let (schema, batches) = read_columns(&file, meta, &p.columns, &p.row_groups, batch_size)
            .map_err(|e| fail(&e))?;
        return Ok(Frame::new(schema, batches));
    }
    read_coded(&file, meta, p, &coded, (batch_size, rows as usize)).map_err(|e| fail(&e))
}

/// Whether `name` is a string column with one dictionary-encoded chunk in each of `groups`.
fn dictionary_encoded(full: &Schema, groups: &[&RowGroupMetaData], name: &str) -> bool {
    let utf8 = full
        .field_with_name(name)
        .is_ok_and(|f| f.data_type() == &DataType::Utf8);
    utf8 && groups.iter().all(|rg| {
        let mut chunks = rg
            .columns()
            .iter()
            .filter(|c| c.column_path().parts() == [name]);
        let first = chunks.next();
        chunks.next().is_none() && first.is_some_and(all_dictionary_pages)
    })
}

/// Whether a chunk's data pages are all dictionary-encoded, as far as its metadata says. A
/// writer falls back to plain pages when the dictionary grows too big (many distinct
/// values); such chunks are read as plain strings, which is then cheaper.
fn all_dictionary_pages(c: &ColumnChunkMetaData) -> bool {
    use parquet::basic::{Encoding, PageType};
    let dict = |e: Encoding| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY);
    c.dictionary_page_offset().is_some()
        && c.page_encoding_stats_mask().is_none_or(|m| {
            m.is_only(Encoding::PLAIN_DICTIONARY) || m.is_only(Encoding::RLE_DICTIONARY)
        })
        && c.page_encoding_stats().is_none_or(|stats| {
            stats.iter().all(|s| {
                s.page_type == PageType::DICTIONARY_PAGE || s.count == 0 || dict(s.encoding)
            })
        })
}

/// `columns` of `row_groups`, in that order, in batches of `batch_size` rows.
fn read_columns(
    file: &RangeReader,
    meta: ArrowReaderMetadata,
    columns: &[String],
    row_groups: &[usize],
    batch_size: usize,
) -> std::result::Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), meta);
    let full = builder.schema().clone();
    let mut idx = columns
        .iter()
        .map(|c| full.index_of(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    idx.sort_unstable();
    let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(row_groups.to_vec())
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| ArrowError::ParquetError(e.to_string()))?;
    let read_schema = reader.schema();
    let order = columns
        .iter()
        .map(|c| read_schema.index_of(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let schema = Arc::new(read_schema.project(&order)?);
    let batches = reader
        .map(|b| b.and_then(|b| b.project(&order)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// A piece read as one batch with the string columns `coded` as dictionary arrays. Those are
/// read row group by row group, in batches of [`CODED_BATCH`] rows (a batch that crossed
/// into the next row group's dictionary would be re-encoded row by row), then concatenated;
/// the other columns in one read.
fn read_coded(
    file: &RangeReader,
    meta: ArrowReaderMetadata,
    p: &ParquetPiece,
    coded: &[String],
    (batch_size, rows): (usize, usize),
) -> std::result::Result<Frame, ArrowError> {
    let code = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let fields: Vec<Field> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| match coded.contains(f.name()) {
            true => f.as_ref().clone().with_data_type(code.clone()),
            false => f.as_ref().clone(),
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    let coded_meta = ArrowReaderMetadata::try_new(meta.metadata().clone(), options)
        .map_err(|e| ArrowError::ParquetError(e.to_string()))?;
    let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); coded.len()];
    let mut coded_schema = None;
    for rg in &p.row_groups {
        let (schema, batches) = read_columns(file, coded_meta.clone(), coded, &[*rg], CODED_BATCH)?;
        for b in batches {
            for (j, part) in parts.iter_mut().enumerate() {
                part.push(b.column(j).clone());
            }
        }
        coded_schema = Some(schema);
    }
    let plain: Vec<String> = p
        .columns
        .iter()
        .filter(|c| !coded.contains(c))
        .cloned()
        .collect();
    let (plain_schema, plain_batches) = match plain.is_empty() {
        true => (Arc::new(Schema::empty()), Vec::new()),
        false => read_columns(file, meta, &plain, &p.row_groups, batch_size)?,
    };
    let plain_batch = match plain_batches.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(arrow_select::concat::concat_batches(&plain_schema, many)?),
    };
    let coded_schema =
        coded_schema.ok_or_else(|| ArrowError::ParquetError("no row groups".into()))?;
    let mut out_fields = Vec::new();
    let mut cols = Vec::new();
    for c in &p.columns {
        if let Some(j) = coded.iter().position(|x| x == c) {
            let arrays: Vec<&dyn Array> = parts[j].iter().map(|a| a.as_ref()).collect();
            cols.push(arrow_select::concat::concat(&arrays)?);
            out_fields.push(coded_schema.field(j).clone());
        } else {
            let j = plain_schema.index_of(c)?;
            let b = plain_batch
                .as_ref()
                .ok_or_else(|| ArrowError::ParquetError(format!("column {c} not read")))?;
            cols.push(b.column(j).clone());
            out_fields.push(plain_schema.field(j).clone());
        }
    }
    let schema = Arc::new(Schema::new(out_fields));
    let opts = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    let batch = RecordBatch::try_new_with_options(schema.clone(), cols, &opts)?;
    Ok(Frame::new(schema, vec![batch]))
}

/// Writes a frame as one Parquet file or `s3://` object (on a worker) with these storage
/// settings; returns the path.
pub fn write(frame: &Frame, path: &str, storage: &StorageOptions) -> Result<String, Fail> {
    let fail = |e: &dyn std::fmt::Display| failed(format!("{path}: {e}"));
    let file = ObjectWriter::create_with(path, storage).map_err(|e| failed(e.to_string()))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut w =
        ArrowWriter::try_new(file, frame.schema.clone(), Some(props)).map_err(|e| fail(&e))?;
    for b in &frame.batches {
        w.write(b).map_err(|e| fail(&e))?;
    }
    w.into_inner()
        .map_err(|e| fail(&e))?
        .finish()
        .map_err(|e| failed(e.to_string()))?;
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataframe::expr::{col, lit};
    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};

    /// A file of five row groups of 100 rows each (x = 0..500).
    fn five_groups(dir: &std::path::Path) -> String {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let path = dir.join("five.parquet");
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .build();
        let file = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        let x = Int64Array::from_iter_values(0..500);
        w.write(&RecordBatch::try_new(schema, vec![Arc::new(x)]).unwrap())
            .unwrap();
        w.close().unwrap();
        path.display().to_string()
    }

    fn groups(pieces: &[ParquetPiece]) -> Vec<Vec<usize>> {
        pieces.iter().map(|p| p.row_groups.clone()).collect()
    }

    #[test]
    fn row_groups_join_into_pieces_up_to_the_block_size_and_read_as_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = five_groups(dir.path());
        let cols = vec!["x".to_string()];
        let st = StorageOptions::default();
        let plan_with = |size, filter: Option<&Expr>| plan(&[&path], &cols, filter, &st, size);
        let (_, every) = plan_with(0, None).unwrap();
        assert_eq!(groups(&every), [[0], [1], [2], [3], [4]]);
        let (_, one) = plan_with(DEFAULT_BLOCKSIZE, None).unwrap();
        assert_eq!(groups(&one), [vec![0, 1, 2, 3, 4]]);
        // Room for two row groups' worth of x per piece.
        let meta =
            ArrowReaderMetadata::load(&std::fs::File::open(&path).unwrap(), Default::default())
                .unwrap();
        let per_group = read_bytes(&meta.metadata().row_groups()[0], &cols);
        let (_, pairs) = plan_with(2 * per_group + 1, None).unwrap();
        assert_eq!(groups(&pairs), [vec![0, 1], vec![2, 3], vec![4]]);
        // Pruned row groups (x < 200 and x ≥ 400 rule out groups 0, 1 and 4) leave one run.
        let f = col("x").gt_eq(lit(200)).and(col("x").lt(lit(400)));
        let (_, kept) = plan_with(DEFAULT_BLOCKSIZE, Some(&f)).unwrap();
        assert_eq!(groups(&kept), [vec![2, 3]]);
        // A piece of several row groups reads as one batch, rows in file order.
        let frame = read(&one[0], &[]).unwrap();
        assert_eq!(frame.batches.len(), 1);
        let x = frame.batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert!(x.values().iter().copied().eq(0..500));
    }

    /// A file of string `s` (every 7th null, values `k0`…`k12`) and integer `x`, in row
    /// groups of `per_group` rows, with or without dictionary encoding.
    fn strings(dir: &std::path::Path, rows: i64, per_group: usize, dict: bool) -> String {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("x", DataType::Int64, false),
        ]));
        let path = dir.join(format!("strings-{dict}.parquet"));
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(per_group))
            .set_dictionary_enabled(dict)
            .build();
        let file = std::fs::File::create(&path).unwrap();
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        let s: arrow_array::StringArray = (0..rows)
            .map(|i| (i % 7 != 3).then(|| format!("k{}", (i * 5) % 13)))
            .collect();
        let x = Int64Array::from_iter_values(0..rows);
        w.write(&RecordBatch::try_new(schema, vec![Arc::new(s), Arc::new(x)]).unwrap())
            .unwrap();
        w.close().unwrap();
        path.display().to_string()
    }

    #[test]
    fn dictionary_encoded_strings_read_as_dictionaries_with_the_same_values() {
        let dir = tempfile::tempdir().unwrap();
        let cols = vec!["x".to_string(), "s".to_string()];
        let st = StorageOptions::default();
        let plain_type = DataType::Utf8;
        // Three row groups, each longer than one dictionary batch.
        for (dict, coded_type) in [
            (
                true,
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            ),
            (false, plain_type.clone()),
        ] {
            let path = strings(dir.path(), 3 * 70_000, 70_000, dict);
            let (_, pieces) = plan(&[&path], &cols, None, &st, DEFAULT_BLOCKSIZE).unwrap();
            assert_eq!(groups(&pieces), [vec![0, 1, 2]]);
            let plain = read(&pieces[0], &[]).unwrap().concat().unwrap();
            let coded = read(&pieces[0], &["s".to_string()]).unwrap();
            assert_eq!(coded.batches.len(), 1);
            assert_eq!(coded.schema.field(1).data_type(), &coded_type);
            assert_eq!(coded.batches[0].column(1).data_type(), &coded_type);
            let decoded = arrow_cast::cast(coded.batches[0].column(1), &plain_type).unwrap();
            assert_eq!(plain.column(1).as_ref(), decoded.as_ref());
            assert_eq!(plain.column(0), coded.batches[0].column(0));
            assert_eq!(plain.schema().field(1).data_type(), &plain_type);
        }
        // Many distinct values overflow a small dictionary page: the writer falls back to
        // plain pages, and the column is read as plain strings.
        let path = dir.path().join("fallback.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let props = parquet::file::properties::WriterProperties::builder()
            .set_dictionary_page_size_limit(1024)
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema.clone(),
            Some(props),
        )
        .unwrap();
        let s: arrow_array::StringArray = (0..20_000).map(|i| Some(format!("v{i}"))).collect();
        w.write(&RecordBatch::try_new(schema, vec![Arc::new(s)]).unwrap())
            .unwrap();
        w.close().unwrap();
        let path = path.display().to_string();
        let one = vec!["s".to_string()];
        let (_, pieces) = plan(&[&path], &one, None, &st, DEFAULT_BLOCKSIZE).unwrap();
        let read_back = read(&pieces[0], &one).unwrap();
        assert_eq!(read_back.schema.field(0).data_type(), &plain_type);
        assert_eq!(read_back.num_rows(), 20_000);
    }
}
