//! The `rask` command: scheduler, worker, local cluster, demo.

fn main() -> std::process::ExitCode {
    rask::nodes::main()
}
