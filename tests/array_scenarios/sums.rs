//! Sums over all axes that are split into their terms (one partial per summand, broadcast
//! terms counted as often as they repeat) and means from partial sums and counts, against
//! ndarray for every chunking.

use super::*;
use ndarray::Axis;
use rask::array::from_ndarray;
use rask::Client;

/// `(x ± yᵀ ± row ± scalar).sum()` and means along each axis.
pub async fn split_sums(client: &Client) -> Result<()> {
    let a = data(&[6, 6]);
    let r = data(&[1, 6]).mapv(|v| v * 3.0 + 1.0);
    let scalar = |v: f64| ArrayD::from_elem(IxDyn(&[]), v);
    for spec in chunkings(&[6, 6]) {
        let x = from_ndarray(&a, spec.clone())?;
        let row = from_ndarray(&r, 2)?;
        let xt = x.t()?;
        let cases = [
            ("x + x.T", x.add(&xt)?, &a + &a.t()),
            (
                "x - 2 x.T",
                x.sub(&xt.mul(2.0)?)?,
                &a - &a.t().mapv(|v| 2.0 * v),
            ),
            (
                "-x - x.T + row",
                x.neg()?.sub(&xt)?.add(&row)?,
                -&a - &a.t() + &r,
            ),
            (
                "x.T + 1.5 - x",
                xt.add(1.5)?.sub(&x)?,
                a.t().mapv(|v| v + 1.5) - &a,
            ),
        ];
        for (name, arr, want) in cases {
            let what = format!("sum of {name} of {spec:?}");
            check_close(
                &what,
                &get(client, &arr.sum(None)?).await?,
                &scalar(want.sum()),
            )?;
            for axis in 0..2 {
                let m = get(client, &arr.mean(Some(axis))?).await?;
                let w = want.mean_axis(Axis(axis)).ok_or_else(|| anyhow!("empty"))?;
                check_close(&format!("mean {axis} of {name} of {spec:?}"), &m, &w)?;
            }
        }
        let ints = from_ndarray(&a.mapv(|v| v as i64), spec.clone())?;
        let got = get(client, &ints.add(&ints.t()?)?.mean(None)?).await?;
        let w = a.mapv(|v| v as i64 as f64);
        check_close(
            "integer mean",
            &got,
            &scalar((&w + &w.t()).mean().unwrap_or(0.0)),
        )?;
    }
    Ok(())
}
