#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced]
async fn step() {}

#[async_trait::async_trait]
trait Store {
    async fn load(&self, id: u32) -> Result<u32, String>;

    #[traced(err)]
    async fn load_checked(&self, id: u32) -> Result<u32, String> {
        self.load(id).await
    }
}

struct Memory;

#[async_trait::async_trait]
impl Store for Memory {
    #[traced(ret)]
    async fn load(&self, id: u32) -> Result<u32, String> {
        step().await;
        if id == 0 { Err("missing".to_owned()) } else { Ok(id) }
    }
}

struct Disk;

#[async_trait::async_trait]
#[traced]
impl Store for Disk {
    async fn load(&self, id: u32) -> Result<u32, String> {
        step().await;
        Ok(id)
    }
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    let _current = tracer.set_default();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        Memory.load_checked(0).await.unwrap_err();
        Disk.load(1).await.unwrap();
    });
    assert_eq!(
        collector.render(),
        "Store::load_checked (error: missing)\n  Memory::load return=\"Err(\\\"missing\\\")\"\n    step\n\
         Disk::load\n  step\n"
    );
}
