//! Unit tests of graph building (fusion, task counts) and of the reduction, product and
//! rechunk kernels called directly, without a cluster.

use super::block::Block;
use super::reduce::{run_partial, Finish, PartialSpec, ReduceOp};
use super::tree::run_combine;
use super::*;
use crate::graph::optimize::cull;
use ndarray::{array, ArrayD, IxDyn};
use rask_protocol::encode_value;

fn data(shape: &[usize]) -> ArrayD<f64> {
    let mut k = 0i64;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        k += 1;
        ((k * 7919) % 613 - 300) as f64 / 8.0
    })
}

//  x (2×2 blocks) ─▶ x + x.T ─▶ sum
//  the sum over all axes splits into its terms: two partial tasks per off-diagonal block,
//  each reading one source block (so no block moves between workers), one per diagonal
//  block (both terms read it), one root.
//  x * x.T ─▶ sum: one partial per block, the product and the transpose inlined.
#[test]
fn elementwise_work_is_inlined_into_reductions_and_products() {
    let x = from_ndarray(&data(&[4, 4]), 2).unwrap();
    let s = x.add(x.t().unwrap()).unwrap().sum(None).unwrap();
    let tasks = cull(s.graph(), s.keys()).unwrap();
    let by_fn = |name: &str| tasks.iter().filter(|t| t.function == name).count();
    assert_eq!(by_fn(funcs::BLOCK), 4, "the four source blocks");
    assert_eq!(by_fn(reduce::PARTIAL), 6);
    assert_eq!(by_fn(tree::COMBINE), 1);
    assert_eq!(tasks.len(), 11);
    assert!(tasks
        .iter()
        .filter(|t| t.function == reduce::PARTIAL)
        .all(|t| t.dependencies().len() == 1));
    let p = x.mul(x.t().unwrap()).unwrap().sum(None).unwrap();
    let tasks = cull(p.graph(), p.keys()).unwrap();
    let partials: Vec<_> = tasks
        .iter()
        .filter(|t| t.function == reduce::PARTIAL)
        .collect();
    assert_eq!(partials.len(), 4);
    assert_eq!(partials[1].dependencies().len(), 2);
    // The slice feeding a product is inlined too: 2 × 1 output blocks, each the sum of two
    // block products (4 product tasks, 2 sums, the 4 source blocks).
    let right = x
        .slice(&[SliceArg::from(..), SliceArg::from(0..2)])
        .unwrap();
    let p = x.dot(&right).unwrap();
    let tasks = cull(p.graph(), p.keys()).unwrap();
    assert_eq!(
        tasks.iter().filter(|t| t.function == linalg::DOT).count(),
        4
    );
    assert_eq!(tasks.len(), 10);
    // Equal computations share keys.
    let again = x.add(x.t().unwrap()).unwrap().sum(None).unwrap();
    assert_eq!(again.keys(), s.keys());
    assert!(s.to_dot().contains("->"));
}

#[test]
fn lazy_shapes_and_chunks_are_known_without_computing() {
    let x: Array<f32> = zeros(&[10, 7, 3], [4, 3, 3]).unwrap();
    assert_eq!(x.chunks(), &[vec![4, 4, 2], vec![3, 3, 1], vec![3]]);
    assert_eq!(x.numblocks(), vec![3, 3, 1]);
    let y = x
        .slice(&[SliceArg::new(None, None, -3), SliceArg::Index(2)])
        .unwrap();
    assert_eq!(y.shape(), &[4, 3]);
    assert_eq!(y.chunks(), &[vec![1, 1, 2], vec![3]]); // 9 | 6 | 3, 0
    assert_eq!(x.sum(Some(1)).unwrap().shape(), &[10, 3]);
    assert_eq!(x.mean(None).unwrap().shape(), &[] as &[usize]);
    assert_eq!(x.transpose(&[2, 0, 1]).unwrap().chunks()[0], vec![3]);
    assert_eq!(
        x.reshape(&[10, 21]).unwrap().chunks(),
        &[vec![4, 4, 2], vec![9, 9, 3]]
    );
    assert_eq!(
        x.reshape(&[70, 3]).unwrap().chunks(),
        &[vec![28, 28, 14], vec![3]]
    );
    assert_eq!(x.rechunk(5).unwrap().chunks()[1], vec![5, 2]);
    assert_eq!(x.dtype(), DType::F32);
    assert!(x.sum(Some(3)).is_err());
    assert!(x.transpose(&[0, 0, 1]).is_err());
    let c = concatenate(&[&x, &x], 0).unwrap();
    assert_eq!(c.chunks()[0], vec![4, 4, 2, 4, 4, 2]);
    assert_eq!(stack(&[&x, &x], 3).unwrap().shape(), &[10, 7, 3, 2]);
}

fn partial(
    op: ReduceOp,
    axis: Option<usize>,
    block: &ArrayD<f64>,
    offset: Vec<usize>,
) -> bytes::Bytes {
    let spec = PartialSpec {
        op,
        axis,
        expr: expr::Expr::Input(0),
        offset,
        full: vec![6, 4],
        broadcast_to: None,
    };
    run_partial(&[
        encode_value(&spec).unwrap(),
        Block::F64(block.clone()).encode(),
    ])
    .unwrap()
}

fn combine(op: ReduceOp, axis: Option<usize>, finish: Finish, parts: Vec<bytes::Bytes>) -> Block {
    let spec = reduce::CombineSpec {
        op,
        axis,
        finish: Some(finish),
    };
    let mut args = vec![encode_value(&spec).unwrap()];
    args.extend(parts);
    Block::decode(&run_combine(&args).unwrap()).unwrap()
}

#[test]
fn partials_of_pieces_combine_to_the_whole() {
    let a = data(&[6, 4]);
    let (top, bottom) = (
        a.slice(ndarray::s![..2, ..]).to_owned().into_dyn(),
        a.slice(ndarray::s![2.., ..]).to_owned().into_dyn(),
    );
    let parts = |op| {
        vec![
            partial(op, Some(0), &top, vec![0, 0]),
            partial(op, Some(0), &bottom, vec![2, 0]),
        ]
    };
    let var = combine(
        ReduceOp::Moments,
        Some(0),
        Finish::Var(1.0),
        parts(ReduceOp::Moments),
    );
    let want = a.var_axis(ndarray::Axis(0), 1.0);
    let got = var.into_array::<f64>().unwrap();
    assert!(
        (&got - &want).iter().all(|d| d.abs() < 1e-9),
        "{got} vs {want}"
    );
    let arg = combine(
        ReduceOp::ArgMax,
        Some(0),
        Finish::Index,
        parts(ReduceOp::ArgMax),
    );
    let want: Vec<i64> = (0..4)
        .map(|j| {
            let col = a.index_axis(ndarray::Axis(1), j);
            let m = col.iter().copied().fold(f64::MIN, f64::max);
            col.iter().position(|v| *v == m).unwrap() as i64
        })
        .collect();
    assert_eq!(
        arg.into_array::<i64>().unwrap().into_raw_vec_and_offset().0,
        want
    );
    let all = combine(
        ReduceOp::Sum,
        None,
        Finish::Value,
        vec![
            partial(ReduceOp::Sum, None, &top, vec![0, 0]),
            partial(ReduceOp::Sum, None, &bottom, vec![2, 0]),
        ],
    );
    assert_eq!(all.shape(), &[] as &[usize]);
    assert!((all.into_array::<f64>().unwrap().sum() - a.sum()).abs() < 1e-9);
}

#[test]
fn product_and_assemble_kernels() {
    let a = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
    let spec = linalg::DotSpec {
        terms: vec![
            (expr::Expr::Input(0), expr::Expr::Input(0)),
            (
                expr::Expr::Input(0),
                expr::Expr::Transpose(vec![1, 0], Box::new(expr::Expr::Input(0))),
            ),
        ],
    };
    let out =
        linalg::run_dot(&[encode_value(&spec).unwrap(), Block::F64(a.clone()).encode()]).unwrap();
    let want = array![[7.0 + 5.0, 10.0 + 11.0], [15.0 + 11.0, 22.0 + 25.0]].into_dyn();
    assert_eq!(Block::decode(&out).unwrap(), Block::F64(want));
    let spec = rechunk::AssembleSpec {
        dtype: DType::I32,
        shape: vec![3],
        pieces: vec![
            rechunk::Piece {
                input: 1,
                src: vec![0],
                dst: vec![0],
                len: vec![1],
            },
            rechunk::Piece {
                input: 0,
                src: vec![1],
                dst: vec![1],
                len: vec![2],
            },
        ],
    };
    let out = rechunk::run_assemble(&[
        encode_value(&spec).unwrap(),
        Block::I32(array![9, 8, 7].into_dyn()).encode(),
        Block::I32(array![5].into_dyn()).encode(),
    ])
    .unwrap();
    assert_eq!(
        Block::decode(&out).unwrap(),
        Block::I32(array![5, 8, 7].into_dyn())
    );
}

rask_actors::task! {
    /// Test: doubles every element of a block.
    fn twice(c: Chunk<f64>) -> Chunk<f64> { Chunk(c.0.mapv(|v| v * 2.0)) }
}

//  x ─▶ twice ─┬─▶ y + y.T     the registered function runs once per block, not once per use
//              └─▶ (transposed)
#[test]
fn registered_functions_are_not_inlined_into_several_consumers() {
    let x = from_ndarray(&data(&[4, 4]), 2).unwrap();
    let y = x.map_blocks(twice).unwrap();
    let z = y.add(y.t().unwrap()).unwrap();
    let tasks = cull(z.graph(), z.keys()).unwrap();
    assert_eq!(
        tasks.iter().filter(|t| t.function == funcs::BLOCK).count(),
        12
    );
    // Without a registered function the whole chain is one task per block.
    let w = x.mul(2.0).unwrap();
    let v = w.add(w.t().unwrap()).unwrap();
    assert_eq!(cull(v.graph(), v.keys()).unwrap().len(), 8);
}
