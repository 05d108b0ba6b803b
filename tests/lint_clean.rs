//! Generated code is lint-clean in a user crate that denies warnings and
//! `clippy::pedantic`: CI runs clippy on this file with `-D warnings`.
#![deny(warnings, clippy::pedantic)]

use std::fmt::Debug;

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[derive(Debug, Default)]
struct Store {
    items: Vec<u32>,
}

#[traced(kind = server)]
impl Store {
    fn add(&mut self, item: u32) {
        self.items.push(item);
    }

    #[traced(args(self), ret)]
    fn first(&self) -> Option<&u32> {
        self.items.first()
    }

    #[traced(off)]
    fn len(&self) -> usize {
        self.items.len()
    }
}

#[traced(args, skip(secret), tags(kind = "lint"))]
fn mixed<T: Debug>(value: T, count: usize, secret: &str, flag: bool) -> usize {
    format!("{value:?}").len() + count + secret.len() + usize::from(flag)
}

#[traced(err, ret)]
fn fallible(input: &str) -> Result<u32, std::num::ParseIntError> {
    if input.is_empty() {
        return Ok(0);
    }
    let value = input.parse::<u32>()?;
    Ok(value)
}

#[traced(err)]
fn first_mut(items: &mut [u32]) -> Result<&mut u32, String> {
    items.first_mut().ok_or_else(|| "empty".to_owned())
}

#[traced(args)]
async fn fetch(id: u64) -> u64 {
    id
}

#[traced(err)]
async fn fetch_checked(id: u64) -> Result<u64, String> {
    let value = fetch(id).await;
    if value == 0 {
        return Err("zero".to_owned());
    }
    Ok(value)
}

#[test]
fn lint_clean_forms_run() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("lints").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let mut store = Store::default();
        store.add(1);
        assert_eq!(store.first(), Some(&1));
        assert_eq!(store.len(), 1);
        assert_eq!(mixed(3u8, 1, "pw", true), 5);
        assert_eq!(fallible("7"), Ok(7));
        assert!(fallible("x").is_err());
        let mut items = [4];
        *first_mut(&mut items).unwrap() += 1;
        assert_eq!(futures::executor::block_on(fetch_checked(2)), Ok(2));
    });
    assert_eq!(collector.spans().len(), 8);
}
