//! A progress bar of tasks done / total while `compute` waits, drawn with indicatif on a
//! terminal and silent otherwise.

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rask_actors::client::{as_completed, Future};
use std::io::IsTerminal;

/// Whether `compute` shows a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Progress {
    /// Only when standard error is a terminal.
    #[default]
    Auto,
    /// Always track progress (drawn only where standard error is a terminal).
    Always,
    /// Never.
    Never,
}

impl Progress {
    /// Whether progress is tracked.
    pub fn enabled(self) -> bool {
        match self {
            Progress::Auto => std::io::stderr().is_terminal(),
            Progress::Always => true,
            Progress::Never => false,
        }
    }
}

/// Waits for every future to finish (whatever the outcome), advancing a bar per task, and
/// drops each future as it finishes unless `keep` says otherwise. Returns how many finished.
pub(crate) async fn watch(futures: Vec<Future<()>>, keep: impl Fn(&Future<()>) -> bool) -> u64 {
    let bar = ProgressBar::with_draw_target(
        Some(futures.len() as u64),
        ProgressDrawTarget::stderr_with_hz(10),
    );
    if let Ok(style) =
        ProgressStyle::with_template("[{elapsed_precise}] {bar:40} {pos}/{len} tasks {msg}")
    {
        bar.set_style(style);
    }
    let mut kept = Vec::new();
    let mut done = as_completed(futures);
    let mut n = 0;
    while let Some(f) = done.next().await {
        n += 1;
        bar.inc(1);
        if keep(&f) {
            kept.push(f);
        }
    }
    bar.finish_and_clear();
    n
}
