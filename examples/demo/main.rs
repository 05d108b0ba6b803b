//! The multi-service demo: four services as separate processes on
//! 127.0.0.1, talking HTTP, every span collected and analysed.
//!
//! `cargo run --example demo` starts the launcher, which starts the
//! services (this same program with `serve …` arguments), sends a fixed
//! batch of requests, stops the services, and prints the analysis.

mod launcher;
mod services;

use std::io::Write as _;
use std::path::PathBuf;

use services::Service;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        _ => launcher::run(&args),
    };
    std::process::exit(code);
}

/// `serve <service> <span-dir> [downstream URLs…]`: runs one service until
/// its standard input closes (the launcher's way of stopping it), then
/// flushes its spans and exits.
fn serve(args: &[String]) -> i32 {
    let (Some(name), Some(span_dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: demo serve <service> <span-dir> [downstream…]");
        return 2;
    };
    let downstream = &args[2..];
    let service = match (name.as_str(), downstream) {
        ("gateway", [orders]) => Service::Gateway { orders: orders.clone() },
        ("orders", [inventory, payments]) => {
            Service::Orders { inventory: inventory.clone(), payments: payments.clone() }
        }
        ("inventory", []) => Service::Inventory,
        ("payments", []) => Service::Payments,
        _ => {
            eprintln!("unknown service or downstream list: {args:?}");
            return 2;
        }
    };
    let tracer = launcher::tracer_for(service.name(), &PathBuf::from(span_dir));
    tracer.install().expect("one tracer per process");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = runtime.expect("tokio runtime");
    let result = runtime.block_on(run_service(service));
    // Worker threads exit with the runtime, handing over what they hold.
    // The installed tracer is then shut down by its exit handler, which
    // waits at most 5 s for the exporters: a collector that accepts and
    // never answers delays the exit by no more than that, and the spans it
    // did not take are counted and reported.
    drop(runtime);
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("{name}: {error}");
            1
        }
    }
}

async fn run_service(service: Service) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    // The launcher waits for this line to know where the service listens.
    println!("READY {port}");
    std::io::stdout().flush()?;
    axum::serve(listener, services::router(service))
        .with_graceful_shutdown(async {
            let mut stdin = tokio::io::stdin();
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stdin, &mut sink).await;
        })
        .await
}
