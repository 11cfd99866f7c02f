//! The `rask` command: scheduler, worker, local cluster, demo, bench.

/// mimalloc: the runtime allocates many small short-lived objects per task.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (mimalloc.h, v2 and v3): milliseconds before freed memory goes back
/// to the OS.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Values of many megabytes are allocated and freed in quick succession; handing their pages
    // back to the OS at once (mimalloc's 10 ms default) means the kernel zeroes fresh pages for
    // every transfer, which dominated the transfer profile. Keep freed memory for a second.
    // SAFETY: sets a process-wide allocator option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    // A worker paused for memory has its compute threads give their freed pages back.
    // SAFETY: mi_collect only works on the calling thread's heap.
    rask::actors::datastore::memory::set_release_hook(|| unsafe {
        libmimalloc_sys::mi_collect(true)
    });
    rask::nodes::main()
}
