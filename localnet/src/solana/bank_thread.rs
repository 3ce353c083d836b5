//! The thread the bank lives on.
//!
//! program-test registers a fresh blockhash on a timer of its own (every 6.4 ms, not
//! configurable), and the runtime accepts the newest 150: a blockhash would live about a
//! second instead of a cluster's 150 slots. So the bank is started and used on a thread of its
//! own, in a single-threaded tokio runtime whose clock is paused, never advanced, and which is
//! driven only while a job runs (between jobs the thread waits on a plain channel). That timer
//! never fires; the chain's blockhashes come from the slots it closes, one each.

use std::{future::Future, pin::Pin, sync::mpsc, thread};

use crate::LocalnetError;

pub type LocalFuture<'a, R> = Pin<Box<dyn Future<Output = R> + 'a>>;
type Job<S> = Box<dyn for<'a> FnOnce(&'a mut S) -> LocalFuture<'a, ()> + Send>;

/// Runs jobs, one at a time, on a state `S` that never leaves its thread.
pub struct BankThread<S> {
    jobs: mpsc::Sender<Job<S>>,
}

impl<S: 'static> BankThread<S> {
    /// Starts the thread and builds its state there with `make`.
    pub async fn start<M, F>(make: M) -> Result<Self, LocalnetError>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<S, LocalnetError>>,
    {
        let (jobs, queue) = mpsc::channel::<Job<S>>();
        let (ready, started) = tokio::sync::oneshot::channel();
        thread::Builder::new()
            .name("localnet-bank".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(LocalnetError::Io(e)));
                        return;
                    }
                };
                let mut state = match runtime.block_on(make()) {
                    Ok(state) => state,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                // Ends when the last sender (the chain) is dropped.
                while let Ok(job) = queue.recv() {
                    runtime.block_on(job(&mut state));
                }
            })?;
        started.await.map_err(|_| stopped())??;
        Ok(BankThread { jobs })
    }

    /// Runs `job` on the state and returns what it returns.
    pub async fn run<R, J>(&self, job: J) -> R
    where
        R: Send + 'static,
        J: for<'a> FnOnce(&'a mut S) -> LocalFuture<'a, R> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            Box::pin(async move {
                let _ = reply.send(job(state).await);
            })
        });
        // The thread only stops when a job panicked: that panic (already printed) is the bug.
        self.jobs
            .send(job)
            .unwrap_or_else(|_| panic!("{}", stopped()));
        answer.await.unwrap_or_else(|_| panic!("{}", stopped()))
    }

    /// Runs a job that does not wait on the bank.
    pub async fn read<R, J>(&self, job: J) -> R
    where
        R: Send + 'static,
        J: FnOnce(&mut S) -> R + Send + 'static,
    {
        self.run(move |state: &mut S| -> LocalFuture<'_, R> { Box::pin(async move { job(state) }) })
            .await
    }
}

fn stopped() -> LocalnetError {
    LocalnetError::Bank("the bank's thread stopped (a job on it panicked, see above)".into())
}
