//! Batches of finished spans as the tracer hands them to span processors.

use std::sync::Arc;

use crate::record::{Record, Source, State, spare};
use crate::span::SpanData;

/// Finished spans handed to a [`SpanProcessor`](crate::SpanProcessor) together: a
/// thread's spans as they were recorded, converted into [`SpanData`] by
/// [`into_spans`](Self::into_spans) where the processor runs. A processor
/// that queues spans for a background thread (such as
/// [`BatchSpanProcessor`](crate::export::BatchSpanProcessor)) keeps the batch as it
/// is, so the conversion costs the application thread nothing.
///
/// ```
/// use std::sync::Mutex;
/// use trace_runtime::export::SpanBatch;
/// use trace_runtime::{SpanProcessor, Tracer};
///
/// #[derive(Default)]
/// struct Names(Mutex<Vec<String>>);
///
/// impl SpanProcessor for Names {
///     fn on_end(&self, batch: SpanBatch) {
///         // Converts the records into `SpanData`: here, all of them.
///         let names = batch.into_spans().into_iter().map(|s| s.name.to_string());
///         self.0.lock().unwrap().extend(names);
///     }
/// }
/// # let _ = Tracer::builder("svc").span_processor(Names::default()).build();
/// ```
#[derive(Clone)]
pub struct SpanBatch(Contents);

#[derive(Clone)]
enum Contents {
    /// Records of one tracer in the order they were opened: `len` closed
    /// ones, and slots whose record moved out (skipped).
    Recorded {
        source: Arc<Source>,
        records: Vec<Record>,
        len: usize,
    },
    Converted(Vec<SpanData>),
}

impl SpanBatch {
    /// A batch of the closed records among `records`, of the tracer
    /// `source` describes; the others are moved-out slots.
    pub(crate) fn recorded(source: Arc<Source>, records: Vec<Record>) -> Self {
        let len = records.iter().filter(|record| record.state == State::Closed).count();
        Self(Contents::Recorded { source, records, len })
    }

    /// The number of spans.
    pub fn len(&self) -> usize {
        match &self.0 {
            Contents::Recorded { len, .. } => *len,
            Contents::Converted(spans) => spans.len(),
        }
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `len` spans (in the order they were opened).
    pub(crate) fn truncate(&mut self, len: usize) {
        match &mut self.0 {
            Contents::Recorded { records, len: kept, .. } => {
                records.retain(|record| record.state == State::Closed);
                records.truncate(len);
                *kept = records.len();
            }
            Contents::Converted(spans) => spans.truncate(len),
        }
    }

    /// The spans, in the order they ended.
    pub fn into_spans(self) -> Vec<SpanData> {
        let mut spans = Vec::with_capacity(self.len());
        let mut converting = self.into_conversion();
        converting.append_to(&mut spans, usize::MAX);
        spans
    }

    /// The spans, converted a chunk at a time in the order they ended.
    pub(crate) fn into_conversion(mut self) -> Conversion {
        match std::mem::replace(&mut self.0, Contents::Converted(Vec::new())) {
            Contents::Recorded { source, mut records, .. } => {
                records.retain(|record| record.state == State::Closed);
                // Recorded in the order spans opened (parents first); a
                // stable sort keeps that order for equal readings.
                if !records.is_sorted_by_key(|record| record.end) {
                    records.sort_by_key(|record| record.end);
                }
                Conversion::Recorded { source, records }
            }
            Contents::Converted(spans) => Conversion::Converted(spans),
        }
    }
}

impl Drop for SpanBatch {
    fn drop(&mut self) {
        // Dropped unconverted (a full queue): the buffer is still reusable.
        if let Contents::Recorded { records, .. } = &mut self.0 {
            spare::give(std::mem::take(records));
        }
    }
}

/// A batch being converted into [`SpanData`]; see [`SpanBatch::into_conversion`].
pub(crate) enum Conversion {
    Recorded { source: Arc<Source>, records: Vec<Record> },
    Converted(Vec<SpanData>),
}

impl Conversion {
    /// Whether every span was appended.
    pub(crate) fn is_done(&self) -> bool {
        match self {
            Self::Recorded { records, .. } => records.is_empty(),
            Self::Converted(spans) => spans.is_empty(),
        }
    }

    /// Appends up to `count` more spans to `out`, each converted straight
    /// into its place.
    pub(crate) fn append_to(&mut self, out: &mut Vec<SpanData>, count: usize) {
        match self {
            Self::Recorded { source, records } => {
                let count = count.min(records.len());
                out.extend(records.drain(..count).map(|record| record.into_span_data(source)));
            }
            Self::Converted(spans) => {
                let count = count.min(spans.len());
                out.extend(spans.drain(..count));
            }
        }
    }
}

impl Drop for Conversion {
    fn drop(&mut self) {
        if let Self::Recorded { records, .. } = self {
            spare::give(std::mem::take(records));
        }
    }
}

impl From<Vec<SpanData>> for SpanBatch {
    fn from(spans: Vec<SpanData>) -> Self {
        Self(Contents::Converted(spans))
    }
}

impl std::fmt::Debug for SpanBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanBatch").field("len", &self.len()).finish_non_exhaustive()
    }
}
