//! CSV sources and sinks: schema inference on the client (from the start of the first file,
//! with per-column overrides), header checks of every file, blocks on line boundaries (the
//! bag's [`crate::bag::text`] blocks), and parsing a block on the worker with
//! `arrow-csv`. Quoted fields holding newlines are not supported with block splitting (as in
//! Dask); use `blocksize: None` for such files.

use super::ipc::{Fail, Frame};
use crate::bag::text::{self, TextBlock};
use crate::raw::failed;
use crate::storage::{ObjectMeta, ObjectWriter, StorageOptions};
use crate::{Error, Result};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::sync::Arc;

/// Options of [`read_csv`](super::read_csv).
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// The first line of every file names the columns (default true).
    pub header: bool,
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Strings read as null besides the empty field (e.g. `NA`).
    pub nulls: Vec<String>,
    /// Types forced for some columns instead of the inferred ones.
    pub dtypes: Vec<(String, DataType)>,
    /// Only these columns, in this order (default: all).
    pub columns: Option<Vec<String>>,
    /// Split files into blocks of about this many bytes (`None`: one partition per file).
    pub blocksize: Option<u64>,
    /// Rows of the first file used to infer types.
    pub infer_rows: usize,
    /// How the client lists and the workers read the files (Dask's `storage_options`;
    /// default: each process's own `AWS_*` settings).
    pub storage_options: StorageOptions,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: b',',
            nulls: Vec::new(),
            dtypes: Vec::new(),
            columns: None,
            blocksize: Some(64 << 20),
            infer_rows: 10_000,
            storage_options: StorageOptions::default(),
        }
    }
}

/// How a worker parses a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvFormat {
    /// The files' full schema.
    pub schema: SchemaRef,
    /// Whether each file starts with a header line.
    pub header: bool,
    /// Field delimiter.
    pub delimiter: u8,
    /// Null pattern (a regular expression), if not just the empty field.
    pub null_regex: Option<String>,
    /// Column indices to keep, in output order.
    pub projection: Option<Vec<usize>>,
}

/// One block of one CSV file, and how to parse it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvBlock {
    /// The bytes to read.
    pub block: TextBlock,
    /// How to parse them.
    pub format: Arc<CsvFormat>,
}

fn null_regex(nulls: &[String]) -> Option<String> {
    (!nulls.is_empty()).then(|| {
        let alts: Vec<String> = nulls.iter().map(|n| regex::escape(n)).collect();
        format!("^(|{})$", alts.join("|"))
    })
}

fn arrow_format(
    header: bool,
    delimiter: u8,
    null_regex: &Option<String>,
) -> Result<arrow_csv::reader::Format> {
    let mut f = arrow_csv::reader::Format::default()
        .with_header(header)
        .with_delimiter(delimiter);
    if let Some(r) = null_regex {
        let re = regex::Regex::new(r).map_err(|e| Error::Invalid(format!("null pattern: {e}")))?;
        f = f.with_null_regex(re);
    }
    Ok(f)
}

/// The first `limit` bytes of a file (decompressed for `.gz`), cut after the last newline
/// unless the whole file fits.
fn head_bytes(file: &ObjectMeta, limit: u64, storage: &StorageOptions) -> Result<Vec<u8>> {
    let url = &file.url;
    let mut buf = Vec::new();
    if url.ends_with(".gz") {
        // Streamed: only the compressed bytes the sample needs are fetched.
        let input = storage.open(url, file.size).with_chunk(1 << 20);
        flate2::read::MultiGzDecoder::new(input)
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| crate::storage::writer::unwrap_io(e, url))?;
    } else {
        buf = storage.read_range(url, 0, Some(limit + 1))?.to_vec();
    }
    if buf.len() as u64 > limit {
        let cut = memchr::memrchr(b'\n', &buf).map_or(buf.len(), |i| i + 1);
        buf.truncate(cut);
    }
    Ok(buf)
}

fn first_line(buf: &[u8]) -> &[u8] {
    let line = memchr::memchr(b'\n', buf).map_or(buf, |i| &buf[..i]);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Plans reading CSV files: the dataframe's schema and one [`CsvBlock`] per partition.
pub fn plan(patterns: &[&str], opts: &CsvOptions) -> Result<(SchemaRef, Vec<CsvBlock>)> {
    let storage = &opts.storage_options;
    let files = storage.expand(patterns)?;
    let first = files
        .first()
        .ok_or_else(|| Error::NoFiles(patterns.join(" ")))?;
    let nulls = null_regex(&opts.nulls);
    let sample = head_bytes(first, 4 << 20, storage)?;
    let (inferred, _) = arrow_format(opts.header, opts.delimiter, &nulls)?
        .infer_schema(std::io::Cursor::new(&sample), Some(opts.infer_rows.max(1)))
        .map_err(|e| Error::Invalid(format!("{}: {e}", first.url)))?;
    let mut fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (name, t) in &opts.dtypes {
        let f = fields
            .iter_mut()
            .find(|f| f.name() == name)
            .ok_or_else(|| Error::SchemaMismatch {
                file: first.url.clone(),
                column: name.clone(),
                message: "a type is given for it but the file has no such column".into(),
            })?;
        *f = f.clone().with_data_type(t.clone());
    }
    let schema = Arc::new(Schema::new(fields));
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for f in &files[1..] {
        let line = head_bytes(f, 1 << 20, storage)?;
        let cells: Vec<String> = first_line(&line)
            .split(|c| *c == opts.delimiter)
            .map(|c| String::from_utf8_lossy(c).trim_matches('"').to_string())
            .collect();
        check_header(f, first, &names, &cells, opts.header)?;
    }
    let projection = match &opts.columns {
        None => None,
        Some(cols) => Some(
            cols.iter()
                .map(|c| {
                    schema.index_of(c).map_err(|_| Error::SchemaMismatch {
                        file: first.url.clone(),
                        column: c.clone(),
                        message: "no such column".into(),
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let out_schema = match &projection {
        Some(p) => Arc::new(schema.project(p)?),
        None => schema.clone(),
    };
    let format = Arc::new(CsvFormat {
        schema,
        header: opts.header,
        delimiter: opts.delimiter,
        null_regex: nulls,
        projection,
    });
    let blocks = text::blocks(&files, opts.blocksize, storage)
        .into_iter()
        .map(|block| CsvBlock {
            block,
            format: format.clone(),
        })
        .collect();
    Ok((out_schema, blocks))
}

fn check_header(
    file: &ObjectMeta,
    first: &ObjectMeta,
    names: &[&str],
    cells: &[String],
    header: bool,
) -> Result<()> {
    let (file, first) = (&file.url, &first.url);
    let mismatch = |column: &str, message: String| Error::SchemaMismatch {
        file: file.clone(),
        column: column.to_string(),
        message,
    };
    if !header {
        if cells.len() != names.len() && !(cells.len() == 1 && cells[0].is_empty()) {
            return Err(mismatch(
                names
                    .get(cells.len().min(names.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(""),
                format!("{} fields, but {first} has {}", cells.len(), names.len()),
            ));
        }
        return Ok(());
    }
    for (i, want) in names.iter().enumerate() {
        match cells.get(i) {
            Some(got) if got == want => {}
            Some(got) => {
                return Err(mismatch(
                    want,
                    format!(
                        "header has {got:?} in position {} where {first} has {want:?}",
                        i + 1,
                    ),
                ))
            }
            None => return Err(mismatch(want, format!("missing (it is in {first})"))),
        }
    }
    if let Some(extra) = cells.get(names.len()) {
        return Err(mismatch(extra, format!("not in {first}")));
    }
    Ok(())
}

/// Parses one block (on a worker).
pub fn read(b: &CsvBlock) -> Result<Frame, Fail> {
    let (buf, offset) = text::read_block(&b.block)?;
    let fmt = &b.format;
    let place = || format!("{} (block from byte {offset})", b.block.path);
    let mut builder = arrow_csv::ReaderBuilder::new(fmt.schema.clone())
        .with_header(fmt.header && b.block.start == 0)
        .with_delimiter(fmt.delimiter)
        .with_batch_size(64 * 1024);
    if let Some(r) = &fmt.null_regex {
        let re = regex::Regex::new(r).map_err(|e| failed(format!("null pattern: {e}")))?;
        builder = builder.with_null_regex(re);
    }
    if let Some(p) = &fmt.projection {
        builder = builder.with_projection(p.clone());
    }
    let reader = builder
        .build_buffered(std::io::Cursor::new(&buf[..]))
        .map_err(|e| failed(format!("{}: {e}", place())))?;
    let schema = match &fmt.projection {
        Some(p) => Arc::new(
            fmt.schema
                .project(p)
                .map_err(|e| failed(format!("{}: {e}", place())))?,
        ),
        None => fmt.schema.clone(),
    };
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| failed(format!("{}: {e}", place())))?;
    Ok(Frame::new(schema, batches))
}

/// How [`write()`] writes a file.
#[derive(Debug, Clone, Copy)]
pub struct CsvWrite<'a> {
    /// Write a header line.
    pub header: bool,
    /// Field delimiter.
    pub delimiter: u8,
    /// Storage settings of the output.
    pub storage: &'a StorageOptions,
}

/// Writes a frame as one CSV file or `s3://` object (on a worker); returns the path.
pub fn write(frame: &Frame, path: &str, how: CsvWrite<'_>) -> Result<String, Fail> {
    let io = |e: &dyn std::fmt::Display| failed(format!("{path}: {e}"));
    let file = ObjectWriter::create_with(path, how.storage).map_err(|e| failed(e.to_string()))?;
    let (header, delimiter) = (how.header, how.delimiter);
    let mut w = arrow_csv::WriterBuilder::new()
        .with_header(header)
        .with_delimiter(delimiter)
        .build(file);
    let empty = [arrow_array::RecordBatch::new_empty(frame.schema.clone())];
    let batches = if frame.batches.is_empty() {
        &empty[..]
    } else {
        &frame.batches[..]
    };
    for b in batches {
        w.write(b).map_err(|e| io(&e))?;
    }
    w.into_inner().finish().map_err(|e| failed(e.to_string()))?;
    Ok(path.to_string())
}
