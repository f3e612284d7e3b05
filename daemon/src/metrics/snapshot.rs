//! Metric families built from a snapshot at scrape time (BFD drivers, the
//! gossip member): the values are the owner's own, encoded as they are, so
//! nothing is mirrored into registry state that could drift.

use std::sync::{Mutex, MutexGuard};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};

pub type Labels = Vec<(&'static str, String)>;

/// One metric family: its name, help, and `(labels, value)` samples.
pub struct Family<V> {
    name: &'static str,
    help: &'static str,
    pub samples: Vec<(Labels, V)>,
}

impl<V> Family<V> {
    pub fn new(name: &'static str, help: &'static str) -> Family<V> {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }
}

/// Encodes one family (nothing when it has no samples); `metric` makes a
/// gauge or a counter of a value.
pub fn encode_family<V: Copy, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    f: &Family<V>,
    metric: fn(V) -> M,
) -> Result<(), std::fmt::Error> {
    let Some((_, first)) = f.samples.first() else {
        return Ok(());
    };
    let mut family =
        encoder.encode_descriptor(f.name, f.help, None, metric(*first).metric_type())?;
    for (labels, value) in &f.samples {
        metric(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

pub fn with(labels: &Labels, key: &'static str, value: impl Into<String>) -> Labels {
    let mut l = labels.clone();
    l.push((key, value.into()));
    l
}

/// A poisoned lock only means another request panicked mid-update; the
/// snapshot is still a whole value.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
