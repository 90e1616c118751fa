//! What the cloud fakes (`gcp`, `azure`) share: faults a test changes at
//! run time, the per-path counters of the first-N 429/503 faults, and the
//! bounded log of the requests served (tests prove clients only read).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Requests kept; older ones are dropped first.
const MAX_RECORDS: usize = 100_000;

/// The first-N faults of a fake's fault set.
pub(crate) trait FirstN {
    fn throttle_first(&self) -> usize;
    fn unavailable_first(&self) -> usize;
}

/// What the first-N faults make of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstNFault {
    /// 429: answered as the cloud throttles.
    Throttled,
    /// 503: answered as the cloud is briefly down.
    Unavailable,
}

/// Faults, first-N counters and request log of one fake.
pub(crate) struct FakeState<F, R> {
    faults: Mutex<F>,
    /// Requests seen per path, for the first-N faults.
    hits: Mutex<HashMap<String, usize>>,
    log: Mutex<VecDeque<R>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<F: Clone + FirstN, R: Clone> FakeState<F, R> {
    pub(crate) fn new(faults: F) -> Self {
        Self {
            faults: Mutex::new(faults),
            hits: Mutex::new(HashMap::new()),
            log: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn faults(&self) -> F {
        lock(&self.faults).clone()
    }

    pub(crate) fn set_faults(&self, faults: F) {
        // Both locks, in this order, so no request sees new faults with old counters.
        let mut f = lock(&self.faults);
        let mut hits = lock(&self.hits);
        *f = faults;
        hits.clear();
    }

    pub(crate) fn requests(&self) -> Vec<R> {
        lock(&self.log).iter().cloned().collect()
    }

    pub(crate) fn record(&self, r: R) {
        let mut log = lock(&self.log);
        log.push_back(r);
        if log.len() > MAX_RECORDS {
            log.pop_front();
        }
    }

    /// The 429 or 503 a request to `path` gets from the first-N faults:
    /// first the throttled answers, then the unavailable ones.
    pub(crate) fn first_n(&self, path: &str) -> Option<FirstNFault> {
        let f = lock(&self.faults);
        let (throttle, unavailable) = (f.throttle_first(), f.unavailable_first());
        if throttle == 0 && unavailable == 0 {
            return None;
        }
        let mut hits = lock(&self.hits);
        let n = hits.entry(path.to_string()).or_default();
        *n += 1;
        if *n <= throttle {
            Some(FirstNFault::Throttled)
        } else if *n <= throttle + unavailable {
            Some(FirstNFault::Unavailable)
        } else {
            None
        }
    }
}
