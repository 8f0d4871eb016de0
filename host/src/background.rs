//! The host's runtime for background work (queue consumers, timers, probes): named
//! tokio tasks that all see one shutdown signal, and a shutdown that waits for them
//! within a grace period and then aborts what is left.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// The signal a task watches to stop.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once shutdown has begun.
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which is a shutdown too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

/// Background tasks of one server.
pub struct Background {
    tasks: JoinSet<&'static str>,
    names: HashMap<tokio::task::Id, &'static str>,
    stop: watch::Sender<bool>,
}

impl Default for Background {
    fn default() -> Self {
        Self::new()
    }
}

impl Background {
    pub fn new() -> Background {
        Background {
            tasks: JoinSet::new(),
            names: HashMap::new(),
            stop: watch::channel(false).0,
        }
    }

    /// The signal every task gets (also for the HTTP server's own graceful shutdown).
    pub fn shutdown_signal(&self) -> Shutdown {
        Shutdown(self.stop.subscribe())
    }

    /// Runs `task` until it returns; it should return soon after its [`Shutdown`] fires.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let fut = task(self.shutdown_signal());
        let handle = self.tasks.spawn(async move {
            fut.await;
            name
        });
        self.names.insert(handle.id(), name);
    }

    /// Runs `tick` every `period` (the first after one period) until shutdown. A tick in
    /// progress is finished, not cut off; a late tick is not made up for.
    pub fn every<F, Fut>(&mut self, name: &'static str, period: Duration, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, move |mut shutdown| async move {
            let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = timer.tick() => tick().await,
                    () = shutdown.wait() => break,
                }
            }
        });
    }

    /// Runs `tick` now, then every `period` after the previous run ended: one task, so
    /// two runs never overlap however long one takes.
    pub fn every_from_now<F, Fut>(&mut self, name: &'static str, period: Duration, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, move |mut shutdown| async move {
            loop {
                tick().await;
                tokio::select! {
                    () = tokio::time::sleep(period) => {}
                    () = shutdown.wait() => break,
                }
            }
        });
    }

    /// Signals shutdown and waits up to `grace` for every task; the rest are aborted.
    /// Returns the names of the tasks that had to be aborted.
    pub async fn shutdown(mut self, grace: Duration) -> Vec<&'static str> {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(name))) => tracing::debug!(task = name, "background task stopped"),
                Ok(Some(Err(e))) => tracing::error!(error = %e, "background task failed"),
                Ok(None) => break,
                Err(_) => break,
            }
        }
        let mut aborted = Vec::new();
        self.tasks.abort_all();
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined
                && e.is_cancelled()
            {
                let name = self.names.get(&e.id()).copied().unwrap_or("?");
                tracing::warn!(task = name, "background task did not stop in time; aborted");
                aborted.push(name);
            }
        }
        aborted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn timers_tick_until_shutdown() {
        let mut bg = Background::new();
        let ticks = Arc::new(AtomicU32::new(0));
        let t = ticks.clone();
        bg.every("count", Duration::from_secs(1), move || {
            let t = t.clone();
            async move {
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        assert!(bg.shutdown(Duration::from_secs(1)).await.is_empty());
        let after = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            after,
            "no tick after shutdown"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_shutdown_is_aborted_after_the_grace() {
        let mut bg = Background::new();
        let stopped = Arc::new(AtomicU32::new(0));
        let s = stopped.clone();
        bg.spawn("polite", move |mut shutdown| async move {
            shutdown.wait().await;
            s.fetch_add(1, Ordering::SeqCst);
        });
        bg.spawn("stubborn", |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let aborted = bg.shutdown(Duration::from_secs(2)).await;
        assert_eq!(aborted, vec!["stubborn"]);
        assert_eq!(stopped.load(Ordering::SeqCst), 1);
    }
}
