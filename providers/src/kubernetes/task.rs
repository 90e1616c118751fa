//! Spawned work tied to its owner's lifetime.

/// Stops a spawned task when its owner is dropped (query cancelled, LIMIT
/// met, a live source stopped).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
