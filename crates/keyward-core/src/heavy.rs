//! One policy for heavy work: every key derivation and decryption (encrypted PKCS#8 with PBKDF2
//! or scrypt, legacy encrypted PEM, PKCS#12, JKS, JCEKS, the export packages' Argon2id, password
//! hashes and checks), RSA and EC key generation, and JWK re-derivation runs here — on a blocking
//! thread, never on an async worker, at most `permits` at once (one per core by default).
//!
//! A caller waits at most `wait` for a permit, then gets [`HeavyError::Busy`] (503 with
//! `Retry-After` at the edge). The permit travels with the work into the blocking thread and is
//! released when the work ends — also when the caller stopped waiting (a timeout, a dropped
//! request) — so the budget counts what really runs. Meanwhile the async workers only shuffle
//! bytes: reads, health checks and the request timeout keep answering.
//!
//! Nothing here knows HTTP (the error mapping is in `error.rs`): a future `keyward-core` crate
//! can own it as is.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Why heavy work did not run (or did not finish).
#[derive(Debug)]
pub enum HeavyError {
    /// No permit within the wait.
    Busy,
    /// The work panicked (or its thread was cancelled at shutdown).
    Failed(String),
}

impl std::fmt::Display for HeavyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeavyError::Busy => f.write_str("no heavy-work permit within the wait"),
            HeavyError::Failed(e) => write!(f, "heavy work failed: {e}"),
        }
    }
}

impl std::error::Error for HeavyError {}

/// The bounded pool of heavy work; cheap to clone.
#[derive(Clone)]
pub struct HeavyWork {
    permits: Arc<Semaphore>,
    size: usize,
    wait: Duration,
    /// Told of every refusal (the edge's once-a-second log).
    on_busy: Arc<dyn Fn() + Send + Sync>,
}

impl HeavyWork {
    /// `permits` 0: one per core. `wait`: the longest wait for a permit.
    pub fn new(permits: usize, wait: Duration, on_busy: Arc<dyn Fn() + Send + Sync>) -> HeavyWork {
        let size = if permits == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            permits
        };
        HeavyWork {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait,
            on_busy,
        }
    }

    /// How many pieces of work may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many permits are free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `work` on a blocking thread once a permit is free (waiting at most the pool's wait).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HeavyError> {
        let permit =
            match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                _ => {
                    (self.on_busy)();
                    return Err(HeavyError::Busy);
                }
            };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| HeavyError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    fn pool(n: usize, wait: Duration) -> (HeavyWork, Arc<AtomicUsize>) {
        let refused = Arc::new(AtomicUsize::new(0));
        let r = refused.clone();
        let on_busy = Arc::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        (HeavyWork::new(n, wait, on_busy), refused)
    }

    /// Occupies one permit until the returned sender is dropped.
    async fn occupy(
        heavy: &HeavyWork,
    ) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let before = heavy.available();
        let h = heavy.clone();
        let task = tokio::spawn(async move {
            h.run(move || {
                let _ = rx.recv();
            })
            .await
            .unwrap();
        });
        // Until the work holds its permit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while heavy.available() == before {
            assert!(Instant::now() < deadline, "the work never started");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (tx, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_budget_is_enforced_the_next_one_waits_then_is_refused() {
        let (heavy, refused) = pool(2, Duration::from_millis(100));
        assert_eq!(heavy.size(), 2);
        let (a, ta) = occupy(&heavy).await;
        let (b, tb) = occupy(&heavy).await;
        assert_eq!(heavy.available(), 0);

        // The third waits its full turn, then is refused without running.
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let started = Instant::now();
        let third = heavy
            .run(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .await;
        assert!(matches!(third, Err(HeavyError::Busy)), "{third:?}");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(refused.load(Ordering::SeqCst), 1);

        // A waiter gets the permit a finished piece of work gives back.
        let waiter = {
            let h = heavy.clone();
            tokio::spawn(async move { h.run(|| 7).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        assert_eq!(waiter.await.unwrap().unwrap(), 7);
        drop(b);
        ta.await.unwrap();
        tb.await.unwrap();
        assert_eq!(heavy.available(), 2);
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_keeps_the_permit_counted_until_the_work_ends() {
        let (heavy, _) = pool(1, Duration::from_secs(5));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h = heavy.clone();
        let stopped = tokio::time::timeout(
            Duration::from_millis(20),
            h.run(move || {
                let _ = rx.recv();
            }),
        )
        .await;
        assert!(stopped.is_err());
        // The work still runs: its permit is not free.
        assert_eq!(heavy.available(), 0);
        drop(tx);
        let deadline = Instant::now() + Duration::from_secs(5);
        while heavy.available() == 0 {
            assert!(Instant::now() < deadline, "the permit never came back");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn zero_permits_means_one_per_core() {
        let (heavy, _) = pool(0, Duration::from_millis(1));
        assert_eq!(
            heavy.size(),
            std::thread::available_parallelism().map_or(1, usize::from)
        );
    }
}
