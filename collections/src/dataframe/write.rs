//! Writing a dataframe out: one Parquet or CSV file (or `s3://` object) per partition,
//! written by the workers, with the storage settings given here travelling in the tasks.

use super::partition::Sink;
use super::{DataFrame, Outputs};
use crate::graph::compute::compute_with;
use crate::graph::ComputeOptions;
use crate::storage::StorageOptions;
use crate::Result;
use rask_actors::client::Client;

impl DataFrame {
    /// Writes one Parquet file per partition into `dir` (`part-00000.parquet`, …); returns
    /// the paths. `s3://` objects are written with the workers' own settings; see
    /// [`DataFrame::to_parquet_with`].
    pub async fn to_parquet(&self, client: &Client, dir: &str) -> Result<Vec<String>> {
        self.to_parquet_with(client, dir, &StorageOptions::default())
            .await
    }

    /// [`DataFrame::to_parquet`] with these storage settings (Dask's `storage_options`),
    /// which travel with the writing tasks to the workers.
    pub async fn to_parquet_with(
        &self,
        client: &Client,
        dir: &str,
        storage: &StorageOptions,
    ) -> Result<Vec<String>> {
        storage.create_dir(dir)?;
        let (g, keys) = self.sink_all("to-parquet", |i| {
            Sink::Parquet(format!("{dir}/part-{i:05}.parquet"), storage.clone())
        })?;
        compute_with(client, &Outputs::new(g, keys), ComputeOptions::default()).await
    }

    /// Writes one CSV file (with a header line) per partition into `dir`
    /// (`part-00000.csv`, …); returns the paths. `s3://` objects are written with the
    /// workers' own settings; see [`DataFrame::to_csv_with`].
    pub async fn to_csv(&self, client: &Client, dir: &str, delimiter: u8) -> Result<Vec<String>> {
        self.to_csv_with(client, dir, delimiter, &StorageOptions::default())
            .await
    }

    /// [`DataFrame::to_csv`] with these storage settings (Dask's `storage_options`), which
    /// travel with the writing tasks to the workers.
    pub async fn to_csv_with(
        &self,
        client: &Client,
        dir: &str,
        delimiter: u8,
        storage: &StorageOptions,
    ) -> Result<Vec<String>> {
        storage.create_dir(dir)?;
        let (g, keys) = self.sink_all("to-csv", |i| Sink::Csv {
            path: format!("{dir}/part-{i:05}.csv"),
            header: true,
            delimiter,
            storage: storage.clone(),
        })?;
        compute_with(client, &Outputs::new(g, keys), ComputeOptions::default()).await
    }
}
