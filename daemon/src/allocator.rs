//! glibc malloc settings for the daemon. The only `unsafe` in orbitd: a
//! libc call with no safe wrapper.
//!
//! glibc gives a thread that allocates while another holds the lock an
//! arena of its own (up to 8 per core), each a 64 MiB reservation that
//! keeps what it ever touched: at 100k prefixes orbitd's peak RSS was
//! about 54 MiB with an arena per runtime thread and 41 MiB with one
//! (issue 21). orbitd's threads allocate little at a time and seldom together,
//! so one arena costs no measurable contention.
#![allow(unsafe_code)]

/// One malloc arena for the whole process. Call before any other thread
/// exists (the runtime's). Other C libraries: nothing to do.
pub fn one_arena() {
    #[cfg(target_env = "gnu")]
    gnu_one_arena();
}

#[cfg(target_env = "gnu")]
fn gnu_one_arena() {
    // SAFETY: mallopt only changes a parameter of glibc's allocator and
    // takes no pointer; before other threads start nothing allocates
    // concurrently. A refusal (0) leaves the default, which is merely
    // larger.
    let _ = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}
