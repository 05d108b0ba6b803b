//! A deterministic batch of four-service traces, built by hand:
//! gateway → orders → (inventory ∥ payments), with a slow inventory query
//! in some traces and a payment failure two hops down in others.

use std::borrow::Cow;
use std::sync::Arc;

use trace_runtime::{Event, SpanData, SpanId, SpanKind, Status, Tag, TraceId, Value};

pub const TRACES: u64 = 12;
/// Traces whose inventory query is slow (40 ms).
pub const SLOW: [u64; 2] = [3, 7];
/// Traces whose card payment fails.
pub const FAILING: [u64; 2] = [5, 10];

const MS: u64 = 1_000_000;

pub struct Builder {
    trace: u64,
    base: u64,
    next_id: u64,
    pub spans: Vec<SpanData>,
}

impl Builder {
    pub fn new(trace: u64) -> Self {
        Self {
            trace,
            base: 1_700_000_000_000_000_000 + trace * 1_000_000_000,
            next_id: 1,
            spans: Vec::new(),
        }
    }

    /// Adds a span starting `start` ms after the trace's base; returns its ID.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        parent: Option<SpanId>,
        service: &str,
        name: &str,
        kind: SpanKind,
        start: f64,
        duration: f64,
        tags: Vec<Tag>,
    ) -> SpanId {
        let id =
            SpanId::from_u64(self.trace.wrapping_mul(0x2545_f491_4f6c_dd1d) << 8 | self.next_id)
                .unwrap();
        self.next_id += 1;
        self.spans.push(SpanData {
            // Random-looking high bits; the low 16 bits are the trace's number.
            trace_id: TraceId::from_u128(
                u128::from(self.trace).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)
                    << 16
                    | u128::from(self.trace),
            )
            .unwrap(),
            span_id: id,
            parent_id: parent,
            name: Cow::Owned(name.to_owned()),
            kind,
            start_unix_nanos: self.base + (start * MS as f64).round() as u64,
            duration_nanos: (duration * MS as f64).round() as u64,
            tags,
            events: Vec::new(),
            links: Vec::new(),
            status: Status::Unset,
            service: Arc::from(service),
        });
        id
    }

    /// Adds an event `at` ms after the trace's base to the last span added.
    fn event(&mut self, at: f64, name: &str, tags: Vec<Tag>) {
        let time_unix_nanos = self.base + (at * MS as f64).round() as u64;
        let event = Event { name: Cow::Owned(name.to_owned()), time_unix_nanos, tags };
        self.spans.last_mut().unwrap().events.push(event);
    }

    fn fail(&mut self, id: SpanId, message: &str) {
        let span = self.spans.iter_mut().find(|s| s.span_id == id).unwrap();
        span.status = Status::Error(Cow::Owned(message.to_owned()));
    }
}

fn tag(key: &'static str, value: impl Into<Value>) -> Tag {
    (Cow::Borrowed(key), value.into())
}

/// One trace of the batch.
pub fn trace(t: u64) -> Vec<SpanData> {
    use SpanKind::{Client, Internal, Server};
    let slow = SLOW.contains(&t);
    let failing = FAILING.contains(&t);
    let jitter = (t % 4) as f64 * 0.3;
    let inventory_query = if slow { 40.0 } else { 3.0 + jitter };
    let inventory_call = inventory_query + 2.0;
    let payment_call = 9.0 + jitter;
    let orders_work = 5.5 + inventory_call.max(payment_call);
    let total = 2.0 + orders_work + 1.5;

    let mut b = Builder::new(t);
    let route = [tag("http.method", "POST"), tag("http.route", "/checkout")];
    let root = b.add(None, "gateway", "POST /checkout", Server, 0.0, total, route.to_vec());
    b.add(
        Some(root),
        "gateway",
        "authenticate",
        Internal,
        0.2,
        1.2,
        vec![tag("user.id", 1000 + t as i64)],
    );
    let gw_client =
        b.add(Some(root), "gateway", "POST orders/orders", Client, 1.6, orders_work + 0.4, vec![]);
    let orders = b.add(Some(gw_client), "orders", "POST /orders", Server, 1.8, orders_work, vec![]);
    b.add(
        Some(orders),
        "orders",
        "load cart",
        Internal,
        2.0,
        2.5,
        vec![tag("db.system", "postgresql")],
    );
    b.event(2.1, "cache miss", vec![]);
    let inv_client = b.add(
        Some(orders),
        "orders",
        "POST inventory/reserve",
        Client,
        5.0,
        inventory_call,
        vec![],
    );
    let inv = b.add(
        Some(inv_client),
        "inventory",
        "POST /reserve",
        Server,
        5.3,
        inventory_call - 0.6,
        vec![],
    );
    let statement = tag("db.statement", "SELECT stock FROM items WHERE sku = $1");
    b.add(Some(inv), "inventory", "SELECT stock", Client, 5.8, inventory_query, vec![statement]);
    let pay_client =
        b.add(Some(orders), "orders", "POST payments/charge", Client, 5.1, payment_call, vec![]);
    let pay = b.add(
        Some(pay_client),
        "payments",
        "POST /charge",
        Server,
        5.4,
        payment_call - 0.6,
        vec![],
    );
    let amount = tag("amount.cents", 1299 + t as i64);
    let card = b.add(
        Some(pay),
        "payments",
        "card network authorize",
        Client,
        6.0,
        payment_call - 2.0,
        vec![amount],
    );
    b.event(8.0, "retry", vec![tag("attempt", 2), tag("backoff.ms", 1.5)]);
    b.add(
        Some(orders),
        "orders",
        "save order",
        Internal,
        6.0 + inventory_call.max(payment_call),
        1.0,
        vec![],
    );
    if failing {
        b.fail(card, "card declined");
        b.fail(pay, "402 payment required");
        b.fail(pay_client, "payments returned 402");
        b.fail(orders, "payment failed");
        b.fail(gw_client, "orders returned 502");
        b.fail(root, "502 bad gateway");
    }
    b.spans
}

/// Every trace of the batch, spans in the order they were built.
pub fn batch() -> Vec<SpanData> {
    (1..=TRACES).flat_map(trace).collect()
}
