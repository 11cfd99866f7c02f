//! The `.npy` file format (versions 1.0 and 2.0, little-endian, C or Fortran order) for the
//! five supported dtypes: what `to_npy_stack` writes per block and `from_npy_stack` reads,
//! as local files or `s3://` objects through the storage layer.

use super::block::{decode_payload, encode_payload, Block};
use super::dtype::DType;
use crate::storage::StorageOptions;
use crate::with_block;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The bytes of a `.npy` file holding `b` (C order, version 1.0).
pub fn to_bytes(b: &Block) -> Vec<u8> {
    let shape = b.shape();
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        b.dtype().npy_descr()
    );
    // Pad so the data starts on a 64-byte boundary; the header ends with a newline.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let payload = with_block!(b, a => encode_payload(a));
    let data = &payload[8 + 8 * shape.len()..];
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Writes `b` to `url` (a path or `s3://` URL) with these storage settings; returns the
/// number of bytes written.
pub fn write(url: &str, b: &Block, storage: &StorageOptions) -> Result<u64, String> {
    let bytes = to_bytes(b);
    storage.write(url, &bytes).map_err(|e| e.to_string())?;
    Ok(bytes.len() as u64)
}

/// Reads a `.npy` file (a path or `s3://` URL) with these storage settings.
pub fn read(url: &str, storage: &StorageOptions) -> Result<Block, String> {
    let bytes = storage.read(url).map_err(|e| e.to_string())?;
    from_bytes(&bytes).map_err(|e| format!("{url}: {e}"))
}

fn field<'h>(header: &'h str, name: &str) -> Result<&'h str, String> {
    let key = format!("'{name}':");
    let at = header
        .find(&key)
        .ok_or_else(|| format!("npy header has no {name}"))?;
    Ok(header[at + key.len()..].trim_start())
}

/// Parses the bytes of a `.npy` file.
pub fn from_bytes(bytes: &[u8]) -> Result<Block, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("npy header is cut short or not text")?;
    let descr = field(header, "descr")?;
    let descr = descr
        .trim_start_matches(['\'', '"'])
        .split(['\'', '"'])
        .next()
        .unwrap_or("");
    let dtype = DType::from_npy_descr(descr).ok_or_else(|| format!("unsupported dtype {descr}"))?;
    let fortran = field(header, "fortran_order")?.starts_with("True");
    let shape_text = field(header, "shape")?;
    let close = shape_text.find(')').ok_or("npy shape is malformed")?;
    let mut shape = Vec::new();
    for part in shape_text[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        shape.push(
            part.parse::<usize>()
                .map_err(|e| format!("npy shape: {e}"))?,
        );
    }
    let data = &bytes[start + hlen..];
    // Reuse the block decoder: header + data.
    let stored: Vec<usize> = if fortran {
        shape.iter().rev().copied().collect()
    } else {
        shape.clone()
    };
    let mut payload = Vec::with_capacity(8 + 8 * shape.len() + data.len());
    payload.extend_from_slice(b"RKA1");
    payload.extend_from_slice(&[dtype.code(), stored.len() as u8, 0, 0]);
    for d in &stored {
        payload.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    payload.extend_from_slice(data);
    let block = decode_payload(&payload)?;
    Ok(if fortran {
        with_block!(block, a => Block::from_array(a.reversed_axes().as_standard_layout().into_owned()))
    } else {
        block
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD, IxDyn};

    #[test]
    fn npy_round_trips_and_reads_numpy_headers() {
        for b in [
            Block::F64(array![[1.5, 2.0, -3.0], [4.0, 5.0, 6.0]].into_dyn()),
            Block::I32(array![1, -2, 3].into_dyn()),
            Block::Bool(array![[true], [false]].into_dyn()),
            Block::F32(ArrayD::from_elem(IxDyn(&[]), 2.5)),
            Block::I64(ArrayD::zeros(IxDyn(&[0, 3]))),
        ] {
            let bytes = to_bytes(&b);
            assert_eq!(
                (bytes.len() - b.shape().iter().product::<usize>() * b.dtype().size()) % 64,
                0
            );
            assert_eq!(from_bytes(&bytes).unwrap(), b);
        }
        // A Fortran-ordered file as numpy writes it.
        let header = "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }";
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&[1, 0]);
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        for v in [1i64, 4, 2, 5, 3, 6] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(
            from_bytes(&f).unwrap(),
            Block::I64(array![[1, 2, 3], [4, 5, 6]].into_dyn())
        );
        assert!(from_bytes(b"\x93NUMPY\x01\x00\xff\xff").is_err());
        assert!(from_bytes(b"nope").is_err());
    }
}
