//! A progress line on stderr while a query waits on the network.
//!
//! Only on a terminal, and only after half a second: fast queries and
//! scripts never see it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn start(clusters: usize) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                stop: None,
                task: None,
            };
        }
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let delay = tokio::time::sleep(Duration::from_millis(500));
            tokio::select! {
                _ = &mut stopped => return,
                _ = delay => {}
            }
            let mut ticker = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticker.tick() => {
                        let mut err = std::io::stderr();
                        let _ = write!(
                            err,
                            "\r\x1b[2Kquerying {clusters} cluster{}… {:.1}s",
                            if clusters == 1 { "" } else { "s" },
                            started.elapsed().as_secs_f64()
                        );
                        let _ = err.flush();
                    }
                }
            }
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        });
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Clears the line (if it was drawn) before results are printed.
    pub async fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // Waiting keeps the clear ordered before our own output.
            let _ = task.await;
        }
    }
}
