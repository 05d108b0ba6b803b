#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

struct Store;

trait Fetch {
    async fn fetch(&self, key: u32) -> Option<String>;
}

impl Fetch for Store {
    #[traced(args)]
    async fn fetch(&self, key: u32) -> Option<String> {
        self.cached(key).await
    }
}

impl Store {
    #[traced]
    async fn cached(&self, key: u32) -> Option<String> {
        Some(key.to_string())
    }
}

#[traced(err)]
async fn load(store: &Store, key: u32) -> Result<String, String> {
    let value = store.fetch(key).await.ok_or("missing")?;
    Ok(value)
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let value = tracer.in_scope(|| runtime.block_on(load(&Store, 4)));
    assert_eq!(value.unwrap(), "4");
    assert_eq!(collector.render(), "load\n  Store::fetch key=4\n    Store::cached\n");
}
