//! Blocked matrix products: `matmul` (`dot`) of chunked 2-D arrays and `tensordot` over one
//! or two axes. Output block `(i, j)` sums `a[i, k] · b[k, j]` over `k`: one product task
//! per block pair (for a persisted `a`, one per worker holding blocks of its row `i`, summing
//! its products in place), then a tree of additions of at most `split_every` partials, with
//! the operands' expressions (slices, transposes, element-wise work) inlined into the product
//! tasks.

use super::block::{Block, RawBlock};
use super::chunks::grid_indices;
use super::dtype::{DType, Numeric};
use super::expr::Expr;
use super::funcs::spec;
use super::lazy::Lazy;
use super::ops::BinaryOp;
use super::rawsum::le;
use super::Array;
use crate::graph::Task;
use crate::raw::failed;
use crate::{Error, Result};
use bytes::Bytes;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayD, Ix2};
use rask_actors::worker::registry::InvokeResult;
use rask_protocol::{encode_value, Arg, Key};
use serde::{Deserialize, Serialize};

crate::raw_task! {
    /// Registered name of the blocked product step.
    pub const DOT = "rask_collections::array::dot" => run_dot
}

/// Block products per product task. One: the scheduler places tasks by input locality
/// alone, and a task reading a whole row of `a` and a whole column of `b` tends to land on
/// the same worker as its siblings (the column is shared), serialising the product; tasks of
/// one pair spread with the blocks of `a`, and partial products are summed in a tree of
/// `split_every`.
const PRODUCTS_PER_TASK: usize = 1;

/// A product task: the sum of `left[t] · right[t]` over its terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DotSpec {
    /// Pairs of block expressions over the task's inputs.
    pub terms: Vec<(Expr, Expr)>,
}

fn dot_sum<T: Numeric>(pairs: Vec<(ArrayD<T>, ArrayD<T>)>) -> std::result::Result<Block, String> {
    let mut acc: Option<Array2<T>> = None;
    for (a, b) in pairs {
        let a = a.into_dimensionality::<Ix2>().map_err(|e| e.to_string())?;
        let b = b.into_dimensionality::<Ix2>().map_err(|e| e.to_string())?;
        if a.ncols() != b.nrows() {
            return Err(format!("cannot multiply {:?} by {:?}", a.dim(), b.dim()));
        }
        match acc.as_mut() {
            // The first product writes a fresh block (no zeroing pass, no read of zeros).
            None => acc = Some(a.dot(&b)),
            Some(c) => general_mat_mul(T::from_i64(1), &a, &b, T::from_i64(1), c),
        }
    }
    acc.map(|c| Block::from_array(c.into_dyn()))
        .ok_or_else(|| "a product of no terms".into())
}

crate::raw_task! {
    /// Registered name of the in-place sum of `f64` partial products.
    pub const ADD_BLOCKS = "rask_collections::array::add_blocks" => run_add_blocks
}

/// Adds the `f64` blocks of one shape in `args` into the first (decoded once), reading the
/// others straight from their bytes: no block is allocated per addition.
pub fn run_add_blocks(args: &[Bytes]) -> InvokeResult {
    let first = args.first().ok_or_else(|| failed("nothing to add"))?;
    let Block::F64(mut acc) = Block::decode(first).map_err(failed)? else {
        return Err(failed("add_blocks takes f64 blocks"));
    };
    let shape = acc.shape().to_vec();
    let sums = acc
        .as_slice_mut()
        .ok_or_else(|| failed("a decoded block is contiguous"))?;
    for raw in &args[1..] {
        let r = RawBlock::parse_wire(raw)
            .map_err(failed)?
            .ok_or_else(|| failed("a block of more than 8 axes"))?;
        if r.dtype != DType::F64 || r.shape() != shape.as_slice() {
            return Err(failed(format!(
                "adding a {:?} block of shape {:?} to an f64 block of shape {shape:?}",
                r.dtype,
                r.shape()
            )));
        }
        for (s, c) in sums.iter_mut().zip(r.data.chunks_exact(8)) {
            *s += le(c);
        }
    }
    Ok(Block::F64(acc).encode())
}

/// With the `blas` feature: OpenBLAS runs each product on the calling thread, as Dask's
/// workers do (`OPENBLAS_NUM_THREADS=1`). Parallelism comes from running tasks side by side;
/// OpenBLAS threads on top would oversubscribe the cores.
#[cfg(feature = "blas")]
fn single_threaded_blas() {
    extern "C" {
        fn openblas_set_num_threads(n: std::os::raw::c_int);
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: a plain setter of OpenBLAS's thread count, with no pointer argument; called
    // once per process before this process's first product.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

/// An `f64` matrix block viewed where its bytes lie: the task's input `i`, or a slice of it
/// by unit-step ranges, when its data is 8-byte aligned on a little-endian machine (`None`:
/// decode it instead).
fn f64_view<'a>(e: &Expr, inputs: &'a [Bytes]) -> Option<ndarray::ArrayView2<'a, f64>> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let (i, steps) = match e {
        Expr::Input(i) => (*i, None),
        Expr::Slice(steps, dropped, inner) if dropped.is_empty() => match inner.as_ref() {
            Expr::Input(i) if steps.len() == 2 && steps.iter().all(|s| s.step == 1) => {
                (*i, Some(steps))
            }
            _ => return None,
        },
        _ => return None,
    };
    let raw = RawBlock::parse_wire(inputs.get(i as usize)?).ok()??;
    if raw.dtype != DType::F64 || raw.shape().len() != 2 {
        return None;
    }
    // SAFETY: every bit pattern is a valid f64, and `align_to` only splits the byte slice
    // at f64 boundaries; a misaligned block leaves a non-empty prefix and is not viewed.
    let (pre, data, post) = unsafe { raw.data.align_to::<f64>() };
    if !pre.is_empty() || !post.is_empty() {
        return None;
    }
    let (rows, cols) = (raw.shape()[0], raw.shape()[1]);
    let view = ndarray::ArrayView2::from_shape((rows, cols), data).ok()?;
    match steps {
        None => Some(view),
        Some(s) if s[0].end <= rows && s[1].end <= cols => {
            Some(view.slice_move(ndarray::s![s[0].start..s[0].end, s[1].start..s[1].end]))
        }
        Some(_) => None,
    }
}

/// An `f64` matrix operand: viewed where its bytes lie, or evaluated.
enum Operand<'a> {
    View(ndarray::ArrayView2<'a, f64>),
    Owned(Array2<f64>),
}

impl Operand<'_> {
    fn view(&self) -> ndarray::ArrayView2<'_, f64> {
        match self {
            Operand::View(v) => v.view(),
            Operand::Owned(a) => a.view(),
        }
    }
}

/// Expression `e` as an `f64` matrix: in place when it can be ([`f64_view`]), else
/// evaluated; `None` when it is not an `f64` matrix.
fn operand<'a>(e: &Expr, inputs: &'a [Bytes]) -> Option<std::result::Result<Operand<'a>, String>> {
    if let Some(v) = f64_view(e, inputs) {
        return Some(Ok(Operand::View(v)));
    }
    let block = match e.eval(inputs) {
        Ok(b) => b,
        Err(e) => return Some(Err(e)),
    };
    let a = block.into_array::<f64>()?;
    Some(
        a.into_dimensionality::<Ix2>()
            .map(Operand::Owned)
            .map_err(|e| e.to_string()),
    )
}

/// The sum of the products of the spec's terms when all are `f64` matrices, with every
/// operand that can be read in place not copied ([`operand`]); `None` for other dtypes.
fn dot_in_place(spec: &DotSpec, inputs: &[Bytes]) -> Option<std::result::Result<Block, String>> {
    let mut pairs = Vec::with_capacity(spec.terms.len());
    for (l, r) in &spec.terms {
        match (operand(l, inputs)?, operand(r, inputs)?) {
            (Ok(a), Ok(b)) => pairs.push((a, b)),
            (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
        }
    }
    let mut acc: Option<Array2<f64>> = None;
    for (a, b) in &pairs {
        let (a, b) = (a.view(), b.view());
        if a.ncols() != b.nrows() {
            return Some(Err(format!(
                "cannot multiply {:?} by {:?}",
                a.dim(),
                b.dim()
            )));
        }
        match acc.as_mut() {
            // The first product writes a fresh block (no zeroing pass, no read of zeros).
            None => acc = Some(a.dot(&b)),
            Some(c) => general_mat_mul(1.0, &a, &b, 1.0, c),
        }
    }
    acc.map(|c| Ok(Block::from_array(c.into_dyn())))
}

/// Sums the products of the spec's terms (`args[0]` is the [`DotSpec`]).
pub fn run_dot(args: &[Bytes]) -> InvokeResult {
    #[cfg(feature = "blas")]
    single_threaded_blas();
    let (spec, inputs): (DotSpec, _) = spec(args)?;
    if let Some(out) = dot_in_place(&spec, inputs) {
        return Ok(out.map_err(failed)?.encode());
    }
    let mut blocks = Vec::with_capacity(spec.terms.len());
    for (l, r) in &spec.terms {
        blocks.push((
            l.eval(inputs).map_err(failed)?,
            r.eval(inputs).map_err(failed)?,
        ));
    }
    let dtype = blocks
        .first()
        .map(|b| b.0.dtype())
        .ok_or_else(|| failed("no terms"))?;
    macro_rules! typed {
        ($t:ty) => {{
            let pairs = blocks
                .into_iter()
                .map(|(a, b)| {
                    Some((
                        a.astype(dtype).into_array::<$t>()?,
                        b.astype(dtype).into_array::<$t>()?,
                    ))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| failed("operand dtypes differ"))?;
            dot_sum::<$t>(pairs)
        }};
    }
    let out = match dtype {
        DType::F64 => typed!(f64),
        DType::F32 => typed!(f32),
        DType::I64 => typed!(i64),
        DType::I32 => typed!(i32),
        DType::Bool => Err("matmul of booleans".to_string()),
    }
    .map_err(failed)?;
    Ok(out.encode())
}

/// The contraction indices `k` of output row `i` (of `nk`), grouped into product tasks. When
/// `a` knows where its blocks were persisted, by the worker holding `a[i, k]`: each task then
/// sums its products on that worker, and one partial per worker, not one per block, crosses
/// the network to the sum. Else in runs of [`PRODUCTS_PER_TASK`].
fn k_groups<T>(a: &Array<T>, i: usize, nk: usize) -> Vec<Vec<usize>> {
    let Some(homes) = a.homes.as_ref().filter(|h| h.len() == a.keys.len()) else {
        let ks: Vec<usize> = (0..nk).collect();
        return ks
            .chunks(PRODUCTS_PER_TASK)
            .map(<[usize]>::to_vec)
            .collect();
    };
    let mut groups: Vec<(Option<rask_protocol::WorkerId>, Vec<usize>)> = Vec::new();
    for k in 0..nk {
        let home = homes[i * nk + k];
        match groups
            .iter_mut()
            .find(|(w, _)| home.is_some() && *w == home)
        {
            Some((_, g)) => g.push(k),
            None => groups.push((home, vec![k])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The matrix product `a @ b` of chunked arrays: 2-D by 2-D, or with a 1-D vector on either
/// side (numpy's rules: the vector's axis is contracted and dropped). `b`'s row chunks are
/// aligned to `a`'s column chunks by rechunking when they differ.
pub fn matmul<T: Numeric>(a: &Array<T>, b: &Array<T>) -> Result<Array<T>> {
    match (a.ndim(), b.ndim()) {
        (1, 1) => return a.mul(b)?.sum(None)?.astype::<T>(),
        (1, 2) => {
            let row = a.reshape(&[1, a.shape[0]])?;
            return matmul(&row, b)?.reshape(&[b.shape[1]]);
        }
        (2, 1) => {
            let col = b.reshape(&[b.shape[0], 1])?;
            return matmul(a, &col)?.reshape(&[a.shape[0]]);
        }
        _ => {}
    }
    if a.ndim() != 2 || b.ndim() != 2 || a.shape[1] != b.shape[0] {
        return Err(Error::Invalid(format!(
            "matmul needs (n, k) and (k, m) operands, got {:?} and {:?}",
            a.shape, b.shape
        )));
    }
    let b = if b.chunks[0] == a.chunks[1] {
        b.clone()
    } else {
        b.rechunk(vec![a.chunks[1].clone(), b.chunks[1].clone()])?
    };
    let mut graph = a.graph.clone();
    graph.merge(&b.graph);
    let (ga, gb) = (a.numblocks(), b.numblocks());
    let every = a.split_every.max(2);
    let mut keys = Vec::new();
    for ij in grid_indices(&[ga[0], gb[1]]) {
        let (i, j) = (ij[0], ij[1]);
        let mut level: Vec<Key> = Vec::new();
        for group in k_groups(a, i, ga[1]) {
            let mut lazies = Vec::new();
            for k in &group {
                lazies.push(Lazy::of(&a.graph, &a.keys[i * ga[1] + k]));
                lazies.push(Lazy::of(&b.graph, &b.keys[k * gb[1] + j]));
            }
            let (exprs, inputs) = Lazy::join(lazies);
            let mut it = exprs.into_iter();
            let mut terms = Vec::new();
            while let (Some(l), Some(r)) = (it.next(), it.next()) {
                terms.push((l, r));
            }
            let spec = Arg::Value(encode_value(&DotSpec { terms })?);
            level.push(graph.insert(Task::new("matmul", DOT, Lazy::args(spec, inputs))));
        }
        while level.len() > 1 {
            let mut next = Vec::new();
            for group in level.chunks(every) {
                if T::DTYPE == DType::F64 {
                    let args = group.iter().cloned().map(Arg::Key).collect();
                    next.push(graph.insert(Task::new("matmul-sum", ADD_BLOCKS, args)));
                    continue;
                }
                let mut expr = Expr::Input(0);
                for n in 1..group.len() {
                    expr = Expr::Binary(
                        BinaryOp::Add,
                        Box::new(expr),
                        Box::new(Expr::Input(n as u32)),
                    );
                }
                let lazy = Lazy {
                    expr,
                    inputs: group.to_vec(),
                };
                next.push(lazy.insert(&mut graph, "matmul-sum")?);
            }
            level = next;
        }
        keys.append(&mut level);
    }
    let mut out = Array::from_parts(
        graph,
        vec![a.shape[0], b.shape[1]],
        vec![a.chunks[0].clone(), b.chunks[1].clone()],
        keys,
    );
    out.split_every = a.split_every;
    Ok(out)
}

impl<T: Numeric> Array<T> {
    /// `self @ other` for 2-D arrays (see [`matmul`]).
    pub fn dot(&self, other: &Array<T>) -> Result<Array<T>> {
        matmul(self, other)
    }
}

/// Contracts 2-D arrays over the given axis pairs, like `numpy.tensordot(a, b, axes)`: one
/// pair gives a 2-D array, two pairs the 0-d sum of the element-wise product.
pub fn tensordot<T: Numeric>(
    a: &Array<T>,
    b: &Array<T>,
    axes: &[(usize, usize)],
) -> Result<Array<T>> {
    if a.ndim() != 2 || b.ndim() != 2 {
        return Err(Error::Invalid(
            "tensordot is implemented for 2-d arrays".into(),
        ));
    }
    match axes {
        [(p, q)] if *p < 2 && *q < 2 => {
            let a2 = if *p == 1 { a.clone() } else { a.t()? };
            let b2 = if *q == 0 { b.clone() } else { b.t()? };
            matmul(&a2, &b2)
        }
        [(p0, q0), (p1, q1)] if p0 != p1 && q0 != q1 && p0.max(p1) < &2 && q0.max(q1) < &2 => {
            // Align b's axes to a's, then sum the element-wise product.
            let b2 = if p0 == q0 { b.clone() } else { b.t()? };
            a.mul(&b2)?.sum(None)?.astype::<T>()
        }
        _ => Err(Error::Invalid(format!(
            "unsupported tensordot axes {axes:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::WorkerId;

    #[test]
    fn aligned_f64_blocks_are_viewed_in_place_and_others_decoded() {
        use super::super::expr::Step;
        let a = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64);
        let encoded = Block::from_array(a.clone().into_dyn()).encode();
        let inputs = [encoded.clone()];
        let view = f64_view(&Expr::Input(0), &inputs).expect("aligned");
        assert_eq!(view, a.view());
        let data = view.as_ptr() as usize;
        assert!(
            (encoded.as_ptr() as usize..encoded.as_ptr() as usize + encoded.len()).contains(&data)
        );
        let steps = vec![
            Step {
                start: 1,
                end: 3,
                step: 1,
            },
            Step {
                start: 0,
                end: 2,
                step: 1,
            },
        ];
        let sliced = Expr::Slice(steps, vec![], Box::new(Expr::Input(0)));
        assert_eq!(
            f64_view(&sliced, &inputs).expect("sliced"),
            a.slice(ndarray::s![1..3, 0..2])
        );
        // One byte off: not viewed, and the product still comes out right by decoding.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&encoded);
        let off = [Bytes::from(shifted).slice(1..)];
        assert!(f64_view(&Expr::Input(0), &off).is_none());
        // Products in place (aligned inputs) and decoded (one input misaligned) agree.
        let b = a.t().to_owned();
        let eb = Block::from_array(b.clone().into_dyn()).encode();
        let pair = (Expr::Input(0), Expr::Input(1));
        let spec = DotSpec {
            terms: vec![pair.clone(), pair.clone()],
        };
        let spec = encode_value(&spec).unwrap();
        let want = Block::from_array((a.dot(&b) * 2.0).into_dyn());
        let in_place = [spec.clone(), encoded, eb.clone()];
        let one = DotSpec { terms: vec![pair] };
        assert!(dot_in_place(&one, &in_place[1..]).is_some());
        assert!(f64_view(&one.terms[0].0, &[off[0].clone(), eb.clone()]).is_none());
        assert_eq!(Block::decode(&run_dot(&in_place).unwrap()).unwrap(), want);
        let decoded = [spec, off[0].clone(), eb];
        assert_eq!(Block::decode(&run_dot(&decoded).unwrap()).unwrap(), want);
    }

    #[test]
    fn products_group_by_the_worker_holding_the_left_blocks() {
        let x = super::super::create::zeros::<f64>(&[2, 5], [1, 1]).unwrap();
        let row = |i| k_groups(&x, i, 5);
        assert_eq!(row(0), (0..5).map(|k| vec![k]).collect::<Vec<_>>());
        let mut held = x.clone();
        let (a, b) = (Some(WorkerId(1)), Some(WorkerId(2)));
        held.homes = Some(vec![a, b, a, None, b, None, None, b, b, b].into());
        assert_eq!(k_groups(&held, 0, 5), [vec![0, 2], vec![1, 4], vec![3]]);
        assert_eq!(k_groups(&held, 1, 5), [vec![0], vec![1], vec![2, 3, 4]]);
    }
}
