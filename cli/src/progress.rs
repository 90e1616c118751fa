//! Progress on stderr while a query waits on the network (indicatif).
//!
//! Only on a terminal, and only after half a second: fast queries and
//! scripts never see it. A header line says how many clusters are queried
//! and for how long; below it, on fleets small enough to read, one bar per
//! cluster counts the objects listed against the servers' own estimate of
//! what remains (`remainingItemCount`), so a slow cluster stands out.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kq_providers::kubernetes::KubeSchema;
use kq_providers::kubernetes::progress::ProgressReading;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// More clusters than this get the header line only.
const MAX_CLUSTER_BARS: usize = 12;

pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing (after a delay) for a query over `kube`'s clusters.
    pub fn start(kube: Arc<KubeSchema>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                stop: None,
                task: None,
            };
        }
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            // Counters are session-long: a bar shows this query's share.
            let baseline = kube.progress();
            tokio::select! {
                _ = &mut stopped => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            let bars = Bars::new(&baseline);
            let mut ticker = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticker.tick() => bars.update(&baseline, &kube.progress()),
                }
            }
            bars.clear();
        });
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Clears the progress (if it was drawn) before results are printed.
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

struct Bars {
    multi: MultiProgress,
    header: ProgressBar,
    clusters: Vec<ProgressBar>,
}

impl Bars {
    fn new(baseline: &[(String, ProgressReading)]) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let count = baseline.len();
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(style("{spinner} {msg} {elapsed}"));
        header.set_message(format!(
            "querying {count} cluster{}…",
            if count == 1 { "" } else { "s" }
        ));
        let clusters = if count > 1 && count <= MAX_CLUSTER_BARS {
            let width = baseline.iter().map(|(name, _)| name.len()).max();
            let width = width.unwrap_or(0).min(24);
            baseline
                .iter()
                .map(|(name, _)| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(style(&format!(
                        "  {{prefix:{width}}} {{bar:30}} {{human_pos}} objects{{msg}}"
                    )));
                    bar.set_prefix(name.clone());
                    bar
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            multi,
            header,
            clusters,
        }
    }

    fn update(&self, baseline: &[(String, ProgressReading)], now: &[(String, ProgressReading)]) {
        self.header.tick();
        for ((bar, (_, before)), (_, reading)) in self.clusters.iter().zip(baseline).zip(now) {
            let listed = reading.objects.saturating_sub(before.objects);
            bar.set_length(listed + reading.remaining);
            bar.set_position(listed);
            bar.set_message(match (reading.running, reading.remaining) {
                (0, _) if listed > 0 => ", done".to_string(),
                (_, 0) => String::new(),
                (_, remaining) => format!(", about {remaining} to go"),
            });
        }
    }

    fn clear(&self) {
        let _ = self.multi.clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are ours and fixed (a unit test parses each); the
    // default style is a harmless fallback.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_templates_parse() {
        for template in [
            "{spinner} {msg} {elapsed}",
            "  {prefix:12} {bar:30} {human_pos} objects{msg}",
        ] {
            assert!(
                indicatif::ProgressStyle::with_template(template).is_ok(),
                "{template}"
            );
        }
    }
}
