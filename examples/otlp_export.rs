//! Sends one traced request to an OpenTelemetry collector, configured only
//! by the standard `OTEL_*` environment variables. For OTLP/gRPC:
//!
//! ```text
//! OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 \
//!     cargo run --example otlp_export
//! ```
//!
//! (`grpc` needs trace-runtime's `grpc` feature, which this package enables.)

use trace_runtime::{SpanKind, Status, Tracer, traced};

#[traced(kind = server, tags(http.route = "/checkout"))]
fn checkout(order: u64) -> Result<(), String> {
    reserve(order)?;
    charge(order)
}

#[traced(args)]
fn reserve(order: u64) -> Result<(), String> {
    trace_runtime::span("inventory lookup").kind(SpanKind::Client).start().set_status(Status::Ok);
    if order == 0 { Err("no such order".into()) } else { Ok(()) }
}

#[traced(args, err)]
fn charge(order: u64) -> Result<(), String> {
    match order {
        2 => Err(format!("card declined for order {order}")),
        _ => Ok(()),
    }
}

fn main() {
    // OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_* and OTEL_BSP_* decide where
    // and how spans go; the default is OTLP/HTTP JSON to localhost:4318.
    let tracer = Tracer::builder_from_env("otlp-export-example").build();
    tracer.in_scope(|| {
        for order in [1, 2] {
            let outcome = checkout(order);
            println!("order {order}: {outcome:?}");
        }
    });
    // Delivers what is queued (bounded by OTEL_BSP_EXPORT_TIMEOUT).
    tracer.shutdown();
}
