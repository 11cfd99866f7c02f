//! The `rask` command: scheduler, worker, local cluster, demo.

/// mimalloc: the runtime allocates many small short-lived objects per task.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rask::nodes::main()
}
