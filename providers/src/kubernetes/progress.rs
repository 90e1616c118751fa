//! How far each cluster's lists have got: objects received, lists still
//! running, and the server's own estimate of what remains
//! (`metadata.remainingItemCount` on paged lists). Listers update it as
//! pages arrive; a front end reads it to draw progress. Counters only: no
//! lock on the page path.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// One cluster's list progress, shared by every list against it.
#[derive(Debug, Default)]
pub struct ListProgress {
    objects: AtomicU64,
    running: AtomicI64,
    /// Sum over running lists of each one's latest remaining estimate.
    remaining: AtomicI64,
}

/// A reading of [`ListProgress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressReading {
    /// Objects received so far in this session.
    pub objects: u64,
    /// Lists in flight now.
    pub running: u64,
    /// Objects the running lists have still to send, as the servers
    /// estimate it; 0 when no running list gave an estimate.
    pub remaining: u64,
}

impl ListProgress {
    pub fn read(&self) -> ProgressReading {
        ProgressReading {
            objects: self.objects.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed).max(0) as u64,
            remaining: self.remaining.load(Ordering::Relaxed).max(0) as u64,
        }
    }

    pub(crate) fn list_started(&self) {
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    /// A page of `objects` arrived; the list's remaining estimate moved
    /// from `before` to `after`.
    pub(crate) fn page(&self, objects: usize, before: u64, after: u64) {
        self.objects.fetch_add(objects as u64, Ordering::Relaxed);
        self.remaining
            .fetch_add(after as i64 - before as i64, Ordering::Relaxed);
    }

    /// A list ended (done, failed or dropped) with `remaining` still counted.
    pub(crate) fn list_ended(&self, remaining: u64) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.remaining
            .fetch_sub(remaining as i64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_pages_and_leave_with_their_list() {
        let progress = ListProgress::default();
        progress.list_started();
        progress.page(500, 0, 1500);
        progress.list_started();
        progress.page(10, 0, 0);
        assert_eq!(
            progress.read(),
            ProgressReading {
                objects: 510,
                running: 2,
                remaining: 1500
            }
        );
        progress.page(500, 1500, 1000);
        progress.list_ended(1000);
        progress.list_ended(0);
        assert_eq!(
            progress.read(),
            ProgressReading {
                objects: 1010,
                running: 0,
                remaining: 0
            }
        );
    }
}
