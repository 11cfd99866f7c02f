//! Chunk layouts: per-axis lists of chunk lengths, and the grid arithmetic on them.

use crate::{Error, Result};

/// How to cut an array into chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkSpec {
    /// The same chunk length on every axis (the last chunk of an axis may be shorter).
    All(usize),
    /// One chunk length per axis (the last chunk of each axis may be shorter).
    Uniform(Vec<usize>),
    /// Explicit chunk lengths per axis, which must add up to the axis length.
    Explicit(Vec<Vec<usize>>),
}

impl From<usize> for ChunkSpec {
    fn from(c: usize) -> Self {
        ChunkSpec::All(c)
    }
}
impl From<&[usize]> for ChunkSpec {
    fn from(c: &[usize]) -> Self {
        ChunkSpec::Uniform(c.to_vec())
    }
}
impl<const N: usize> From<[usize; N]> for ChunkSpec {
    fn from(c: [usize; N]) -> Self {
        ChunkSpec::Uniform(c.to_vec())
    }
}
impl From<Vec<Vec<usize>>> for ChunkSpec {
    fn from(c: Vec<Vec<usize>>) -> Self {
        ChunkSpec::Explicit(c)
    }
}

/// Lengths of the chunks of an axis of length `n` cut every `c`.
pub fn split(n: usize, c: usize) -> Vec<usize> {
    if n == 0 {
        return vec![0];
    }
    let c = c.max(1);
    let mut v = vec![c; n / c];
    if n % c != 0 {
        v.push(n % c);
    }
    v
}

/// The chunk lengths of an array of `shape` cut as `spec` says.
pub fn normalize(shape: &[usize], spec: &ChunkSpec) -> Result<Vec<Vec<usize>>> {
    let bad = |m: String| Err(Error::Invalid(m));
    match spec {
        ChunkSpec::All(0) => bad("chunk length 0".into()),
        ChunkSpec::All(c) => Ok(shape.iter().map(|n| split(*n, *c)).collect()),
        ChunkSpec::Uniform(cs) => {
            if cs.len() != shape.len() || cs.contains(&0) {
                return bad(format!("chunks {cs:?} do not fit shape {shape:?}"));
            }
            Ok(shape.iter().zip(cs).map(|(n, c)| split(*n, *c)).collect())
        }
        ChunkSpec::Explicit(cs) => {
            let ok = cs.len() == shape.len()
                && cs.iter().zip(shape).all(|(c, n)| {
                    c.iter().sum::<usize>() == *n && !c.is_empty() && (*n == 0 || !c.contains(&0))
                });
            if !ok {
                return bad(format!("chunks {cs:?} do not add up to shape {shape:?}"));
            }
            Ok(cs.clone())
        }
    }
}

/// Start offsets of the chunks of one axis.
pub fn starts(chunks: &[usize]) -> Vec<usize> {
    let mut s = Vec::with_capacity(chunks.len());
    let mut at = 0;
    for c in chunks {
        s.push(at);
        at += c;
    }
    s
}

/// Every block index of a grid, row-major.
pub fn grid_indices(grid: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = grid.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut ix = vec![0; grid.len()];
    for _ in 0..total {
        out.push(ix.clone());
        for d in (0..grid.len()).rev() {
            ix[d] += 1;
            if ix[d] < grid[d] {
                break;
            }
            ix[d] = 0;
        }
    }
    out
}

/// Row-major flat position of a block index.
pub fn flat(grid: &[usize], ix: &[usize]) -> usize {
    ix.iter().zip(grid).fold(0, |acc, (i, g)| acc * g + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_layouts_and_grids() {
        assert_eq!(split(10, 4), [4, 4, 2]);
        assert_eq!(split(0, 4), [0]);
        assert_eq!(
            normalize(&[5, 3], &ChunkSpec::All(2)).unwrap(),
            [vec![2, 2, 1], vec![2, 1]]
        );
        assert!(normalize(&[5], &ChunkSpec::Explicit(vec![vec![2, 2]])).is_err());
        assert!(normalize(&[5], &ChunkSpec::Uniform(vec![0])).is_err());
        assert_eq!(starts(&[2, 2, 1]), [0, 2, 4]);
        let g = grid_indices(&[2, 3]);
        assert_eq!(g.len(), 6);
        assert_eq!(g[4], [1, 1]);
        assert_eq!(flat(&[2, 3], &[1, 1]), 4);
        assert_eq!(grid_indices(&[]), vec![Vec::<usize>::new()]);
    }
}
