//! Fancy indexing: `take` with integer positions and boolean masks (`index_bool`,
//! `compress`), compared with ndarray on the whole array for every chunking of
//! [`chunkings`] (one block, uneven last chunks, chunks of size 1, irregular ones).

use super::*;
use ndarray::Axis;
use rask::array::from_ndarray;
use rask::Client;

/// A small deterministic generator (64-bit LCG) for the property cases.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n.max(1) as u64) as usize
    }
}

fn positions(n: usize) -> Vec<usize> {
    (0..n).collect()
}

/// Integer-array indexing along every axis, with repeats, reversals, negative positions and
/// random lists, then a reduction of the result (so `take` blocks feed other tasks).
pub async fn take(client: &Client) -> Result<()> {
    let shape = [7, 5, 3];
    let a = data(&shape);
    let mut rng = Lcg(7);
    for spec in chunkings(&shape) {
        let x = from_ndarray(&a, spec.clone())?;
        for (axis, &n) in shape.iter().enumerate() {
            let mut cases: Vec<Vec<isize>> = vec![
                vec![1, n as isize - 1, 0],
                positions(n).into_iter().rev().map(|i| i as isize).collect(),
                vec![-1, 0, -1, 0],
                vec![0],
                vec![],
            ];
            for _ in 0..3 {
                let len = 1 + rng.below(2 * n);
                cases.push((0..len).map(|_| rng.below(n) as isize).collect());
            }
            for idx in &cases {
                let norm: Vec<usize> = idx
                    .iter()
                    .map(|i| {
                        if *i < 0 {
                            (i + n as isize) as usize
                        } else {
                            *i as usize
                        }
                    })
                    .collect();
                let want = a.select(Axis(axis), &norm);
                let y = x.take(idx, axis)?;
                ensure!(
                    y.shape() == want.shape(),
                    "take {idx:?} axis {axis}: lazy shape {:?}",
                    y.shape()
                );
                let what = format!("take {idx:?} along {axis} of {spec:?}");
                check_close(&what, &get(client, &y).await?, &want)?;
                if !norm.is_empty() {
                    let s = get(client, &y.sum(Some(axis))?).await?;
                    check_close(&format!("sum of {what}"), &s, &want.sum_axis(Axis(axis)))?;
                }
            }
        }
        ensure!(
            x.take(&[7], 0).is_err(),
            "position past the end is an error"
        );
        ensure!(
            x.take(&[-8], 0).is_err(),
            "position before the start is an error"
        );
        ensure!(x.take(&[0], 3).is_err(), "axis past the last is an error");
    }
    Ok(())
}

/// Boolean masks: `x[x > t]` for several thresholds (all, none, some), a mask built from
/// another array, and `compress` along each axis; also a reduction of a masked result.
pub async fn masks(client: &Client) -> Result<()> {
    let shape = [6, 5];
    let a = data(&shape);
    let flat: Vec<f64> = a.iter().copied().collect();
    for spec in chunkings(&shape) {
        let x = from_ndarray(&a, spec.clone())?;
        for t in [-100.0, 0.0, 10.0, 100.0] {
            let got = bounded("index_bool", 60, x.index_bool(&x.gt(t)?, client)).await?;
            let want: Vec<f64> = flat.iter().copied().filter(|v| *v > t).collect();
            ensure!(
                got.shape() == [want.len()],
                "x[x > {t}] has shape {:?}",
                got.shape()
            );
            let want = ArrayD::from_shape_vec(IxDyn(&[want.len()]), want)?;
            let what = format!("x[x > {t}] of {spec:?}");
            check_close(&what, &get(client, &got).await?, &want)?;
            let s = get(client, &got.sum(None)?).await?;
            check_close(
                &format!("sum of {what}"),
                &s,
                &ArrayD::from_elem(IxDyn(&[]), want.sum()),
            )?;
        }
        // A mask from another array with other chunks (rechunked to x's).
        let b = a.mapv(|v| v.abs() < 20.0);
        let m = from_ndarray(&b, 2)?;
        let got = bounded("index_bool", 60, x.index_bool(&m, client)).await?;
        let want: Vec<f64> = a
            .iter()
            .zip(b.iter())
            .filter(|(_, t)| **t)
            .map(|(v, _)| *v)
            .collect();
        check_close(
            &format!("x[|x| < 20] of {spec:?}"),
            &get(client, &got).await?,
            &ArrayD::from_shape_vec(IxDyn(&[want.len()]), want)?,
        )?;
        for (axis, &n) in shape.iter().enumerate() {
            let cond: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
            let c = from_ndarray(&ArrayD::from_shape_vec(IxDyn(&[n]), cond.clone())?, 2)?;
            let got = bounded("compress", 60, x.compress(&c, axis, client)).await?;
            let keep: Vec<usize> = (0..n).filter(|i| cond[*i]).collect();
            check_close(
                &format!("compress along {axis} of {spec:?}"),
                &get(client, &got).await?,
                &a.select(Axis(axis), &keep),
            )?;
        }
        let wrong = from_ndarray(&ArrayD::from_elem(IxDyn(&[5, 6]), true), 2)?;
        ensure!(
            bounded("bad mask", 30, x.index_bool(&wrong, client))
                .await
                .is_err(),
            "a mask of another shape is an error"
        );
    }
    Ok(())
}
