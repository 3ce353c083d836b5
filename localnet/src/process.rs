//! Child processes that never outlive their owner: killed with everything they started when
//! the guard is dropped (on panic too), and killed by the kernel if the owning process dies
//! without dropping it (SIGKILL, `process::exit`).

use std::process::{Child, Command};

/// A child process in its own process group. Dropping the guard kills the group and reaps the
/// child, so once the drop returns the process is gone.
#[derive(Debug)]
pub struct ChildGuard(Child);

impl ChildGuard {
    /// Spawns `command` as the leader of a new process group, set to receive SIGKILL when the
    /// thread that spawned it exits. Spawn from a thread that lives as long as the owner
    /// (a tokio worker or the main thread, not a `spawn_blocking` thread, which the runtime
    /// retires when idle).
    pub fn spawn(command: &mut Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        command.process_group(0);
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // system calls (prctl, getppid); it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The owner died before the signal was armed: nobody is left to kill us.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        command.spawn().map(ChildGuard)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // The whole group: whatever the child started goes with it.
        kill_group(self.0.id());
        let _ = self.0.kill();
        // SIGKILL cannot be caught: this wait is short, and it reaps the child.
        let _ = self.0.wait();
    }
}

/// SIGKILL to the process group `leader` leads (the group id stays reserved while any member
/// lives, so this never reaches a stranger).
pub fn kill_group(leader: u32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-(leader as libc::pid_t), libc::SIGKILL);
    }
}
