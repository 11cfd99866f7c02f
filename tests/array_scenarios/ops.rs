//! Creation, element-wise operations, reductions and linear algebra against ndarray.

use super::*;
use ndarray::{Array2, Axis};
use rask::array::{
    arange, from_ndarray, full, linspace, lstsq, matmul, ones, random_normal, random_uniform,
    tensordot, tsqr, where_, zeros, Chunk,
};
use rask::Client;

rask::task! {
    /// Test: squares every element of a block (a block function for `map_blocks`).
    pub fn square_block(c: Chunk<f64>) -> Chunk<f64> { Chunk(c.0.mapv(|v| v * v)) }
}

/// from_ndarray for every dtype, constants, ranges, random numbers.
pub async fn creation(client: &Client) -> Result<()> {
    let a = data(&[7, 5]);
    for spec in chunkings(&[7, 5]) {
        let x = from_ndarray(&a, spec.clone())?;
        check_close(
            &format!("from_ndarray {spec:?}"),
            &get(client, &x).await?,
            &a,
        )?;
        let i = a.mapv(|v| v as i32);
        check_eq(
            "i32",
            &get(client, &from_ndarray(&i, spec.clone())?).await?,
            &i,
        )?;
        let b = a.mapv(|v| v > 0.0);
        check_eq(
            "bool",
            &get(client, &from_ndarray(&b, spec.clone())?).await?,
            &b,
        )?;
        let f = a.mapv(|v| v as f32);
        check_eq(
            "f32",
            &get(client, &from_ndarray(&f, spec.clone())?).await?,
            &f,
        )?;
        let l = a.mapv(|v| (v * 8.0) as i64);
        check_eq("i64", &get(client, &from_ndarray(&l, spec)?).await?, &l)?;
    }
    // 0-d and 1-d arrays.
    let scalar = from_ndarray(&ArrayD::from_elem(IxDyn(&[]), 2.5), 1)?.add(1.0)?;
    check_eq(
        "0-d",
        &get(client, &scalar).await?,
        &ArrayD::from_elem(IxDyn(&[]), 3.5),
    )?;
    let v = from_ndarray(&data(&[10]), 3)?;
    let m = bounded("1-d mean", 30, v.mean(Some(0))?.compute_scalar(client)).await?;
    ensure!((m - data(&[10]).sum() / 10.0).abs() < 1e-12, "1-d mean {m}");
    let empty = from_ndarray(&ArrayD::<f64>::zeros(IxDyn(&[0])), 3)?;
    ensure!(
        bounded("empty mean", 30, empty.mean(None)?.compute_scalar(client))
            .await?
            .is_nan(),
        "mean of nothing is NaN"
    );
    let z: rask::Array<f64> = zeros(&[4, 3], 2)?;
    check_eq(
        "zeros",
        &get(client, &z).await?,
        &ArrayD::zeros(IxDyn(&[4, 3])),
    )?;
    let o: rask::Array<i32> = ones(&[5], 2)?;
    check_eq("ones", &get(client, &o).await?, &ArrayD::ones(IxDyn(&[5])))?;
    let f = full(&[2, 2, 2], 7i64, 1)?;
    check_eq(
        "full",
        &get(client, &f).await?,
        &ArrayD::from_elem(IxDyn(&[2, 2, 2]), 7),
    )?;
    let r = arange(-3.0, 4.0, 0.5, 4)?;
    check_close(
        "arange",
        &get(client, &r).await?,
        &ndarray::Array1::range(-3.0, 4.0, 0.5).into_dyn(),
    )?;
    let ri = arange(10i64, 0, -3, 1)?;
    check_eq(
        "arange i64",
        &get(client, &ri).await?,
        &ndarray::arr1(&[10i64, 7, 4, 1]).into_dyn(),
    )?;
    let ls = linspace(0.0, 1.0, 11, true, 3)?;
    let want = ndarray::Array1::linspace(0.0, 1.0, 11).into_dyn();
    check_close("linspace", &get(client, &ls).await?, &want)?;
    ensure!(
        get(client, &ls).await?[[10]] == 1.0,
        "linspace ends exactly at stop"
    );
    let le = linspace(0.0, 1.0, 4, false, 3)?;
    check_close(
        "linspace open",
        &get(client, &le).await?,
        &ndarray::arr1(&[0.0, 0.25, 0.5, 0.75]).into_dyn(),
    )?;
    // Random numbers do not depend on the chunking.
    let whole = get(client, &random_uniform(9, -1.0, 1.0, &[9, 6], 100)?).await?;
    ensure!(
        whole.iter().all(|v| (-1.0..1.0).contains(v)),
        "uniform out of range"
    );
    for spec in chunkings(&[9, 6]) {
        let u = random_uniform(9, -1.0, 1.0, &[9, 6], spec.clone())?;
        check_eq(
            &format!("uniform {spec:?}"),
            &get(client, &u).await?,
            &whole,
        )?;
    }
    let n1 = get(client, &random_normal(3, 5.0, 2.0, &[200, 50], 64)?).await?;
    let n2 = get(client, &random_normal(3, 5.0, 2.0, &[200, 50], [7, 50])?).await?;
    check_eq("normal chunkings", &n1, &n2)?;
    let mean = n1.mean().unwrap_or(0.0);
    ensure!((mean - 5.0).abs() < 0.1, "normal mean {mean}");
    Ok(())
}

/// Arithmetic, comparisons, broadcasting, where, unary math, casts.
pub async fn elementwise(client: &Client) -> Result<()> {
    let a = data(&[7, 5]);
    let b = data(&[7, 5]).mapv(|v| v * 0.5 - 3.0);
    let row = data(&[5]).mapv(|v| v + 0.25);
    let col = data(&[7, 1]);
    for (sa, sb) in chunkings(&[7, 5])
        .into_iter()
        .zip(chunkings(&[7, 5]).into_iter().rev())
    {
        let what = format!("{sa:?} with {sb:?}");
        let (x, y) = (from_ndarray(&a, sa.clone())?, from_ndarray(&b, sb)?);
        check_close(
            &format!("add {what}"),
            &get(client, &x.add(&y)?).await?,
            &(&a + &b),
        )?;
        let e = x.sub(&y.mul(2.0)?)?.div(&y)?;
        check_close(
            &format!("sub/mul/div {what}"),
            &get(client, &e).await?,
            &((&a - &(&b * 2.0)) / &b),
        )?;
        let m = x.maximum(&y)?.minimum(1.5)?;
        check_close(
            "maximum/minimum",
            &get(client, &m).await?,
            &ndarray::Zip::from(&a)
                .and(&b)
                .map_collect(|p, q| p.max(*q).min(1.5)),
        )?;
        let r = from_ndarray(&row, 2)?;
        check_close(
            "row broadcast",
            &get(client, &x.mul(&r)?).await?,
            &(&a * &row),
        )?;
        let c = from_ndarray(&col, [3, 1])?;
        check_close(
            "column broadcast",
            &get(client, &x.sub(&c)?).await?,
            &(&a - &col),
        )?;
        let outer = c.add(&r)?;
        check_close(
            "outer broadcast",
            &get(client, &outer).await?,
            &(&col + &row),
        )?;
        let lt = x.lt(&y)?;
        check_eq(
            "lt",
            &get(client, &lt).await?,
            &ndarray::Zip::from(&a).and(&b).map_collect(|p, q| p < q),
        )?;
        let w = where_(&lt, &x, 0.0)?;
        check_close(
            "where",
            &get(client, &w).await?,
            &ndarray::Zip::from(&a)
                .and(&b)
                .map_collect(|p, q| if p < q { *p } else { 0.0 }),
        )?;
        let u = x.abs()?.sqrt()?.add(&x.neg()?.exp()?.mul(1e-3)?)?;
        check_close(
            "unary",
            &get(client, &u).await?,
            &a.mapv(|v| v.abs().sqrt() + (-v).exp() * 1e-3),
        )?;
        let both = x.gt(0.0)?.and(&y.gt(-3.0)?)?.or(&x.eq(&y)?)?.not()?;
        check_eq(
            "logic",
            &get(client, &both).await?,
            &ndarray::Zip::from(&a)
                .and(&b)
                .map_collect(|p, q| !((*p > 0.0 && *q > -3.0) || p == q)),
        )?;
        let ints = x.mul(8.0)?.astype::<i64>()?;
        let ai = a.mapv(|v| (v * 8.0) as i64);
        check_eq("astype", &get(client, &ints).await?, &ai)?;
        let q = ints.div(7)?.rem(5)?;
        check_eq(
            "integer div/rem",
            &get(client, &q).await?,
            &ai.mapv(|v| (v / 7) % 5),
        )?;
        let f32s = x.astype::<f32>()?.mul(2.0f32)?;
        check_eq(
            "f32",
            &get(client, &f32s).await?,
            &a.mapv(|v| v as f32 * 2.0),
        )?;
        let chained = x.add(1.0)?.mul(&x)?.sub(&y)?.floor()?;
        check_close(
            "chain",
            &get(client, &chained).await?,
            &(((&a + 1.0) * &a) - &b).mapv(f64::floor),
        )?;
    }
    ensure!(
        from_ndarray(&a, 3)?
            .add(&from_ndarray(&data(&[4]), 2)?)
            .is_err(),
        "(7,5) + (4,) must not broadcast"
    );
    Ok(())
}

fn reference_reductions(a: &ArrayD<f64>, axis: Option<usize>) -> Vec<(&'static str, ArrayD<f64>)> {
    let fold = |f: &dyn Fn(ndarray::ArrayViewD<f64>) -> f64| -> ArrayD<f64> {
        match axis {
            Some(ax) => a.map_axis(Axis(ax), |l| f(l.into_dyn())),
            None => ArrayD::from_elem(IxDyn(&[]), f(a.view())),
        }
    };
    let argmin = |l: ndarray::ArrayViewD<f64>| {
        let mut best = 0;
        for (i, v) in l.iter().enumerate() {
            if *v < l.iter().nth(best).copied().unwrap_or(f64::NAN) {
                best = i;
            }
        }
        best as f64
    };
    let argmax = |l: ndarray::ArrayViewD<f64>| {
        let mut best = 0;
        for (i, v) in l.iter().enumerate() {
            if *v > l.iter().nth(best).copied().unwrap_or(f64::NAN) {
                best = i;
            }
        }
        best as f64
    };
    let var = |l: ndarray::ArrayViewD<f64>, ddof: f64| {
        let n = l.len() as f64;
        let m = l.sum() / n;
        l.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - ddof)
    };
    vec![
        ("sum", fold(&|l| l.sum())),
        ("mean", fold(&|l| l.sum() / l.len() as f64)),
        ("var", fold(&|l| var(l, 0.0))),
        ("std1", fold(&|l| var(l, 1.0).sqrt())),
        (
            "min",
            fold(&|l| l.iter().copied().fold(f64::INFINITY, f64::min)),
        ),
        (
            "max",
            fold(&|l| l.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        ),
        ("argmin", fold(&argmin)),
        ("argmax", fold(&argmax)),
        ("any", fold(&|l| l.iter().any(|v| *v > 30.0) as u8 as f64)),
        ("all", fold(&|l| l.iter().all(|v| *v > -30.0) as u8 as f64)),
    ]
}

/// Every reduction along every axis and over all, with deep trees (`split_every` 2).
pub async fn reductions(client: &Client) -> Result<()> {
    let a = data(&[6, 5, 4]);
    for spec in chunkings(&[6, 5, 4]) {
        for every in [2, 8] {
            let x = from_ndarray(&a, spec.clone())?.with_split_every(every);
            for axis in [None, Some(0), Some(1), Some(2)] {
                let got: Vec<(&str, ArrayD<f64>)> = vec![
                    ("sum", get(client, &x.sum(axis)?).await?),
                    ("mean", get(client, &x.mean(axis)?).await?),
                    ("var", get(client, &x.var(axis, 0.0)?).await?),
                    ("std1", get(client, &x.std(axis, 1.0)?).await?),
                    ("min", get(client, &x.min(axis)?).await?),
                    ("max", get(client, &x.max(axis)?).await?),
                    (
                        "argmin",
                        get(client, &x.argmin(axis)?).await?.mapv(|v| v as f64),
                    ),
                    (
                        "argmax",
                        get(client, &x.argmax(axis)?).await?.mapv(|v| v as f64),
                    ),
                    (
                        "any",
                        get(client, &x.gt(30.0)?.any(axis)?)
                            .await?
                            .mapv(|v| v as u8 as f64),
                    ),
                    (
                        "all",
                        get(client, &x.gt(-30.0)?.all(axis)?)
                            .await?
                            .mapv(|v| v as u8 as f64),
                    ),
                ];
                for ((name, g), (_, w)) in got.iter().zip(reference_reductions(&a, axis)) {
                    check_close(
                        &format!("{name} axis {axis:?} chunks {spec:?} every {every}"),
                        g,
                        &w,
                    )?;
                }
            }
        }
    }
    // Integer and boolean sums are i64; argmax over all axes is a flat index.
    let i = data(&[5, 3]).mapv(|v| (v * 8.0) as i32);
    let xi = from_ndarray(&i, 2)?;
    let s = bounded("i32 sum", 30, xi.sum(Some(1))?.compute(client)).await?;
    check_eq("i32 sum", &s, &i.mapv(i64::from).sum_axis(Axis(1)))?;
    let count = bounded("bool sum", 30, xi.gt(0)?.sum(None)?.compute_scalar(client)).await?;
    ensure!(
        count == i.iter().filter(|v| **v > 0).count() as i64,
        "bool sum {count}"
    );
    let flat = bounded("argmax", 30, xi.argmax(None)?.compute_scalar(client)).await?;
    let max = i.iter().copied().max().unwrap_or(0);
    ensure!(
        i.iter().position(|v| *v == max) == Some(flat as usize),
        "flat argmax {flat}"
    );
    // NaN wins min, like numpy.
    let mut n = data(&[4, 4]);
    n[[2, 3]] = f64::NAN;
    let xn = from_ndarray(&n, 3)?;
    ensure!(
        bounded("nan min", 30, xn.min(None)?.compute_scalar(client))
            .await?
            .is_nan(),
        "NaN must win min"
    );
    ensure!(
        bounded("nan argmax", 30, xn.argmax(None)?.compute_scalar(client)).await? == 11,
        "first NaN wins argmax"
    );
    Ok(())
}

/// matmul with uneven and mismatched inner chunks, tensordot, lstsq, tsqr.
pub async fn linear_algebra(client: &Client) -> Result<()> {
    let a = data(&[9, 7]);
    let b = data(&[7, 4]).mapv(|v| v / 10.0);
    let a2 = a.clone().into_dimensionality::<ndarray::Ix2>()?;
    let b2 = b.clone().into_dimensionality::<ndarray::Ix2>()?;
    let want = a2.dot(&b2).into_dyn();
    for (sa, sb) in chunkings(&[9, 7])
        .into_iter()
        .zip(chunkings(&[7, 4]).into_iter().rev())
    {
        let (x, y) = (from_ndarray(&a, sa.clone())?, from_ndarray(&b, sb.clone())?);
        for every in [2, 8] {
            let p = matmul(&x.with_split_every(every), &y)?;
            check_close(
                &format!("matmul {sa:?} @ {sb:?} every {every}"),
                &get(client, &p).await?,
                &want,
            )?;
        }
        // A persisted left operand: products grouped by the worker holding its blocks.
        let held = bounded("persist", 30, x.persist(client)).await?;
        check_close(
            &format!("persisted matmul {sa:?} @ {sb:?}"),
            &get(client, &matmul(&held, &y)?).await?,
            &want,
        )?;
        let v = data(&[7]).mapv(|e| e / 3.0);
        let xv = matmul(&x, &from_ndarray(&v, 2)?)?;
        check_close(
            "matrix @ vector",
            &get(client, &xv).await?,
            &a2.dot(&v.clone().into_dimensionality::<ndarray::Ix1>()?)
                .into_dyn(),
        )?;
        let w = data(&[9]);
        let wx = matmul(&from_ndarray(&w, 4)?, &x)?;
        let w1 = w.clone().into_dimensionality::<ndarray::Ix1>()?;
        check_close(
            "vector @ matrix",
            &get(client, &wx).await?,
            &w1.dot(&a2).into_dyn(),
        )?;
        let ww = matmul(&from_ndarray(&w, 4)?, &from_ndarray(&w, 2)?)?;
        check_close(
            "vector @ vector",
            &get(client, &ww).await?,
            &ArrayD::from_elem(IxDyn(&[]), w1.dot(&w1)),
        )?;
        let xt = x.t()?;
        let g = tensordot(&x, &x, &[(0, 0)])?;
        check_close(
            "tensordot (0,0)",
            &get(client, &g).await?,
            &a2.t().dot(&a2).into_dyn(),
        )?;
        let h = tensordot(&x, &xt, &[(1, 0)])?;
        check_close(
            "tensordot (1,0)",
            &get(client, &h).await?,
            &a2.dot(&a2.t()).into_dyn(),
        )?;
        let full = tensordot(&x, &x, &[(0, 0), (1, 1)])?;
        check_close(
            "tensordot full",
            &get(client, &full).await?,
            &ArrayD::from_elem(IxDyn(&[]), (&a2 * &a2).sum()),
        )?;
        let s3 = x.slice(&[
            rask::array::SliceArg::from(..),
            rask::array::SliceArg::from(0..3),
        ])?;
        let sliced = s3.dot(&s3.t()?.dot(&x)?)?;
        let a_cols = a2.slice(ndarray::s![.., 0..3]).to_owned();
        check_close(
            "x[:, :3] @ (x[:, :3].T @ x)",
            &get(client, &sliced).await?,
            &a_cols.dot(&a_cols.t().dot(&a2)).into_dyn(),
        )?;
    }
    // Least squares: an exact solution is recovered, and a noisy one satisfies the normal
    // equations (Aᵀ(Ax − b) = 0).
    let rows = 40;
    let m = data(&[rows, 3]).into_dimensionality::<ndarray::Ix2>()?;
    let truth = ndarray::arr1(&[1.5, -2.0, 0.25]);
    let rhs = m.dot(&truth);
    for chunk in [40, 7, 3] {
        let x = from_ndarray(&m.clone().into_dyn(), [chunk, 3])?.with_split_every(2);
        let rb = from_ndarray(&rhs.clone().into_dyn(), chunk)?;
        let sol = get(client, &lstsq(&x, &rb)?).await?;
        check_close(
            &format!("lstsq exact chunk {chunk}"),
            &sol,
            &truth.clone().into_dyn(),
        )?;
        let noisy = &rhs
            + &data(&[rows])
                .mapv(|v| v / 100.0)
                .into_dimensionality::<ndarray::Ix1>()?;
        let nb = from_ndarray(&noisy.clone().insert_axis(Axis(1)).into_dyn(), chunk)?;
        let sol = get(client, &lstsq(&x, &nb)?)
            .await?
            .into_dimensionality::<ndarray::Ix2>()?;
        let resid = m.dot(&sol) - noisy.insert_axis(Axis(1));
        let normal = m.t().dot(&resid);
        ensure!(
            normal.iter().all(|v| v.abs() < 1e-8),
            "normal equations {normal}"
        );
        // TSQR: Q R = A, QᵀQ = I, R upper triangular.
        let (q, r) = tsqr(&x)?;
        let (q, r) = (get(client, &q).await?, get(client, &r).await?);
        let (q, r) = (
            q.into_dimensionality::<ndarray::Ix2>()?,
            r.into_dimensionality::<ndarray::Ix2>()?,
        );
        check_close("tsqr QR", &q.dot(&r).into_dyn(), &m.clone().into_dyn())?;
        check_close(
            "tsqr QtQ",
            &q.t().dot(&q).into_dyn(),
            &Array2::<f64>::eye(3).into_dyn(),
        )?;
        ensure!(
            r[[1, 0]] == 0.0 && r[[2, 0]] == 0.0 && r[[2, 1]] == 0.0,
            "R is upper triangular"
        );
    }
    let singular = from_ndarray(&ArrayD::from_elem(IxDyn(&[6, 2]), 1.0), 3)?;
    let err = bounded(
        "singular",
        30,
        lstsq(&singular, &from_ndarray(&data(&[6]), 3)?)?.compute(client),
    )
    .await;
    ensure!(format!(
        "{:#}",
        err.err()
            .ok_or_else(|| anyhow!("singular lstsq succeeded"))?
    )
    .contains("rank deficient"));
    Ok(())
}

/// `map_blocks` with a function registered in this test binary (so only in-process workers
/// know it), inside a fused chain, and its layout-changing form.
pub async fn user_block_functions(client: &Client) -> Result<()> {
    let a = data(&[7, 5]);
    for spec in chunkings(&[7, 5]) {
        let x = from_ndarray(&a, spec.clone())?;
        let sq = x.map_blocks(square_block)?;
        check_close(
            &format!("map_blocks {spec:?}"),
            &get(client, &sq).await?,
            &a.mapv(|v| v * v),
        )?;
        let chain = x.add(1.0)?.map_blocks(square_block)?.sum(Some(0))?;
        let want = a.mapv(|v| (v + 1.0) * (v + 1.0)).sum_axis(Axis(0));
        check_close("map_blocks in a chain", &get(client, &chain).await?, &want)?;
    }
    let x = from_ndarray(&a, 3)?;
    ensure!(
        x.map_blocks_to(square_block, vec![vec![7], vec![5]])
            .is_err(),
        "block grid must match"
    );
    Ok(())
}
