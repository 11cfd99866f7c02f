//! Slicing, indexing, transposes, reshapes, joins, rechunking, `.npy` stacks and errors.

use super::*;
use rask::array::{concatenate, from_ndarray, from_npy_stack, stack, SliceArg};
use rask::Client;
use std::path::Path;

/// Python's `range(*slice(start, stop, step).indices(n))`, written out by hand.
fn py_indices(start: Option<isize>, stop: Option<isize>, step: isize, n: usize) -> Vec<usize> {
    let n = n as isize;
    let adj = |v: isize, lo: isize, hi: isize| (if v < 0 { v + n } else { v }).clamp(lo, hi);
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, e) = (
            start.map_or(0, |v| adj(v, 0, n)),
            stop.map_or(n, |v| adj(v, 0, n)),
        );
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, e) = (
            start.map_or(n - 1, |v| adj(v, -1, n - 1)),
            stop.map_or(-1, |v| adj(v, -1, n - 1)),
        );
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

fn reference(a: &ArrayD<f64>, args: &[SliceArg]) -> ArrayD<f64> {
    let mut out = a.clone();
    let mut axis = 0;
    for arg in args {
        match *arg {
            SliceArg::Range { start, stop, step } => {
                let idx = py_indices(start, stop, step, out.shape()[axis]);
                out = out.select(ndarray::Axis(axis), &idx);
                axis += 1;
            }
            SliceArg::Index(i) => {
                let n = out.shape()[axis] as isize;
                let at = if i < 0 { i + n } else { i } as usize;
                out = out.index_axis(ndarray::Axis(axis), at).to_owned();
            }
        }
    }
    out
}

/// Slices, indices, transposes, reshapes, concatenate, stack and rechunk.
pub async fn shapes(client: &Client) -> Result<()> {
    ensure!(
        py_indices(None, None, -2, 7) == [6, 4, 2, 0],
        "reference slicing"
    );
    let a = data(&[7, 6, 3]);
    let r = |s: Option<isize>, e: Option<isize>, st: isize| SliceArg::new(s, e, st);
    let cases: Vec<Vec<SliceArg>> = vec![
        vec![SliceArg::from(1..5)],
        vec![r(None, None, 2), r(Some(-4), None, 1)],
        vec![
            r(None, None, -1),
            r(Some(5), Some(0), -2),
            SliceArg::Index(1),
        ],
        vec![SliceArg::Index(-1), r(Some(1), Some(6), 3)],
        vec![SliceArg::from(..), SliceArg::Index(2), SliceArg::Index(0)],
        vec![r(Some(6), Some(2), 1)],
        vec![r(Some(100), Some(-100), -3)],
    ];
    for spec in chunkings(&[7, 6, 3]) {
        let x = from_ndarray(&a, spec.clone())?;
        for args in &cases {
            let got = get(client, &x.slice(args)?).await?;
            check_close(
                &format!("slice {args:?} of {spec:?}"),
                &got,
                &reference(&a, args),
            )?;
        }
        let sliced_sum = x.slice(&cases[2])?.sum(None)?;
        check_close(
            "sum of slice",
            &get(client, &sliced_sum).await?,
            &ArrayD::from_elem(IxDyn(&[]), reference(&a, &cases[2]).sum()),
        )?;
        check_close(
            "transpose",
            &get(client, &x.transpose(&[2, 0, 1])?).await?,
            &a.clone().permuted_axes(vec![2, 0, 1]),
        )?;
        check_close("t", &get(client, &x.t()?).await?, &a.t().to_owned())?;
        let other = from_ndarray(&data(&[6, 6, 3]), 2)?;
        ensure!(
            x.add(&other).is_err(),
            "(7,6,3) + (6,6,3) must not broadcast"
        );
        for shape in [
            vec![126],
            vec![42, 3],
            vec![7, 18],
            vec![14, 3, 3],
            vec![3, 2, 7, 3],
        ] {
            let got = get(client, &x.reshape(&shape)?).await?;
            let want = a
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&shape))?;
            check_close(&format!("reshape {shape:?} of {spec:?}"), &got, &want)?;
        }
        for target in chunkings(&[7, 6, 3]) {
            let y = x.rechunk(target.clone())?;
            check_close(
                &format!("rechunk {spec:?} → {target:?}"),
                &get(client, &y).await?,
                &a,
            )?;
        }
        let b = data(&[7, 2, 3]);
        let y = from_ndarray(&b, 2)?;
        let cat = concatenate(&[&x, &y, &x], 1)?;
        let want = ndarray::concatenate(ndarray::Axis(1), &[a.view(), b.view(), a.view()])?;
        check_close("concatenate", &get(client, &cat).await?, &want)?;
        let st = stack(&[&x, &x.mul(2.0)?], 1)?;
        let doubled = a.mapv(|v| v * 2.0);
        let want = ndarray::stack(ndarray::Axis(1), &[a.view(), doubled.view()])?;
        check_close("stack", &get(client, &st).await?, &want)?;
    }
    let v = from_ndarray(&data(&[10]), 3)?;
    check_close(
        "1-d reverse",
        &get(client, &v.slice(&[r(None, None, -1)])?).await?,
        &data(&[10]).slice(ndarray::s![..;-1]).to_owned().into_dyn(),
    )?;
    check_close(
        "1-d → 2-d",
        &get(client, &v.reshape(&[2, 5])?).await?,
        &data(&[10]).into_shape_with_order(IxDyn(&[2, 5]))?,
    )?;
    ensure!(
        v.slice(&[SliceArg::Index(10)]).is_err(),
        "index out of bounds is an error"
    );
    ensure!(v.reshape(&[3, 3]).is_err(), "bad reshape is an error");
    Ok(())
}

/// `.npy` stacks round trip for several dtypes; failures name what went wrong.
pub async fn storage_and_errors(client: &Client, dir: &Path) -> Result<()> {
    let a = data(&[9, 4]);
    for (i, spec) in chunkings(&[9, 4]).into_iter().enumerate() {
        let out = dir.join(format!("f64-{i}"));
        let x = from_ndarray(&a, spec)?.add(1.0)?;
        let written = bounded("to_npy_stack", 60, x.to_npy_stack(client, &out)).await?;
        ensure!(written > 9 * 4 * 8, "wrote {written} bytes");
        let back = from_npy_stack::<f64>(&out)?;
        ensure!(back.chunks() == x.chunks(), "chunks survive");
        check_close(
            "npy round trip",
            &get(client, &back).await?,
            &a.mapv(|v| v + 1.0),
        )?;
        check_close(
            "npy sum",
            &get(client, &back.sum(Some(0))?).await?,
            &a.mapv(|v| v + 1.0).sum_axis(ndarray::Axis(0)),
        )?;
    }
    let b = a.mapv(|v| v > 0.0);
    let out = dir.join("bool");
    bounded(
        "bool npy",
        60,
        from_ndarray(&b, 4)?.to_npy_stack(client, &out),
    )
    .await?;
    check_eq(
        "bool npy",
        &get(client, &from_npy_stack::<bool>(&out)?).await?,
        &b,
    )?;
    ensure!(
        from_npy_stack::<f64>(&out).is_err(),
        "dtype mismatch is an error"
    );
    ensure!(
        from_npy_stack::<f64>(dir.join("missing")).is_err(),
        "missing folder is an error"
    );
    // A lost block file fails the task that reads it, naming the file.
    std::fs::remove_file(out.join("1.0.npy"))?;
    let err = bounded(
        "missing block",
        30,
        from_npy_stack::<bool>(&out)?.compute(client),
    )
    .await;
    let msg = format!(
        "{:#}",
        err.err()
            .ok_or_else(|| anyhow!("reading a missing block succeeded"))?
    );
    ensure!(msg.contains("1.0.npy"), "{msg}");
    // Reductions with no identity fail clearly.
    let empty = from_ndarray(&ArrayD::<f64>::zeros(IxDyn(&[0, 3])), 2)?;
    let s = bounded("empty sum", 30, empty.sum(None)?.compute_scalar(client)).await?;
    ensure!(s == 0.0, "empty sum {s}");
    ensure!(
        bounded("empty min", 30, empty.min(None)?.compute(client))
            .await
            .is_err(),
        "min of nothing fails"
    );
    Ok(())
}
