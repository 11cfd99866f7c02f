#!/usr/bin/env python3
"""The three group-by queries of `rask bench groupby` in Polars (and Dask), on rask's files.

Reads the files `rask bench groupby` generated (default: 10M rows under
/tmp/rask-groupby/10000000r_8f_s42; run the rask bench once first) so that every engine
reads exactly the same bytes. Each query is timed including reading only its columns:

  q1: sum v1 by id1      q2: mean v1, v2 by id1, id2      q3: count by id2

Polars: scan_parquet / scan_csv + group_by + collect (all cores; this machine has 2).
Dask:   read_parquet / read_csv + groupby + compute on LocalCluster(2 workers x 1 thread,
        processes), as in ../shared/anchors/dask/dataframe_groupby.py.

Prints one JSON line: {engine: {format: {q: median seconds}}, "runs": ...}.

  /tmp/dask-venv/bin/python scripts/groupby_polars.py [--dir D] [--repeat 3]
      [--engines polars,dask] [--formats parquet,csv]
"""
import argparse
import glob
import json
import os
import statistics
import time


def polars_query(q, lf):
    import polars as pl

    if q == "q1":
        return lf.group_by("id1").agg(pl.col("v1").sum())
    if q == "q2":
        return lf.group_by(["id1", "id2"]).agg(pl.col("v1").mean(), pl.col("v2").mean())
    return lf.group_by("id2").agg(pl.len())


COLS = {"q1": ["id1", "v1"], "q2": ["id1", "id2", "v1", "v2"], "q3": ["id2"]}


def dask_query(q, df):
    if q == "q1":
        return df.groupby("id1").v1.sum()
    if q == "q2":
        return df.groupby(["id1", "id2"])[["v1", "v2"]].mean()
    return df.groupby("id2").size()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/rask-groupby/10000000r_8f_s42")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default="polars,dask")
    ap.add_argument("--formats", default="parquet,csv")
    args = ap.parse_args()
    files = {
        "parquet": sorted(glob.glob(os.path.join(args.dir, "parquet", "*.parquet"))),
        "csv": sorted(glob.glob(os.path.join(args.dir, "csv", "*.csv"))),
    }
    formats = args.formats.split(",")
    engines = args.engines.split(",")
    for f in formats:
        if not files[f]:
            raise SystemExit(f"no {f} files under {args.dir}: run `rask bench groupby` first")
    runs = {}
    rows = {}

    def record(engine, fmt, q, dt, n):
        runs.setdefault(engine, {}).setdefault(fmt, {}).setdefault(q, []).append(round(dt, 3))
        rows.setdefault(f"{fmt}/{q}", {})[engine] = n

    if "polars" in engines:
        import polars as pl

        for fmt in formats:
            for q in ("q1", "q2", "q3"):
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    if fmt == "csv":
                        lf = pl.scan_csv(files[fmt])
                    else:
                        lf = pl.scan_parquet(files[fmt])
                    out = polars_query(q, lf).collect()
                    record("polars", fmt, q, time.perf_counter() - t, out.height)

    if "dask" in engines:
        import dask.dataframe as dd
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
        client.submit(len, "warm").result()
        for fmt in formats:
            for q in ("q1", "q2", "q3"):
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    if fmt == "csv":
                        df = dd.read_csv(files[fmt], usecols=COLS[q])
                    else:
                        df = dd.read_parquet(files[fmt], columns=COLS[q])
                    out = dask_query(q, df).compute()
                    record("dask", fmt, q, time.perf_counter() - t, len(out))
        client.close()
        cluster.close()

    medians = {
        e: {f: {q: statistics.median(v) for q, v in qs.items()} for f, qs in fs.items()}
        for e, fs in runs.items()
    }
    agree = all(len(set(d.values())) == 1 for d in rows.values())
    print(json.dumps({"dir": args.dir, "medians": medians, "runs": runs,
                      "groups_agree": agree, "groups": rows}), flush=True)


if __name__ == "__main__":
    main()
