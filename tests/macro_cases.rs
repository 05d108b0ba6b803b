//! `#[traced]` on the code users write (issue 18): each case's span tree,
//! next to what `tracing`'s `#[instrument]` records for it.

#![deny(warnings, clippy::pedantic)]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use trace_runtime::{InMemoryCollector, Tracer, traced};

fn collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("macro-cases").span_processor(collector.clone()).build();
    (collector, tracer)
}

/// Runs a future to completion on the current thread, with `tracer` as the
/// thread's tracer.
fn block_on<F: Future>(tracer: &Tracer, future: F) -> F::Output {
    let _current = tracer.set_default();
    tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(future)
}

#[traced]
fn work() {}

#[traced]
async fn async_work() {}

// --- #[async_trait] ---------------------------------------------------------

#[async_trait::async_trait]
trait Store {
    async fn load(&self, id: u32) -> Result<u32, String>;

    #[traced(err)]
    async fn load_twice(&self, id: u32) -> Result<u32, String> {
        async_work().await;
        Ok(self.load(id).await? * 2)
    }
}

struct Memory;

#[async_trait::async_trait]
impl Store for Memory {
    #[traced(err, ret)]
    async fn load(&self, id: u32) -> Result<u32, String> {
        async_work().await;
        work();
        if id == 0 { Err("no such id".to_owned()) } else { Ok(id) }
    }
}

struct Disk;

// `#[traced]` under `#[async_trait]` sees the rewritten methods.
#[async_trait::async_trait]
#[traced]
impl Store for Disk {
    async fn load(&self, id: u32) -> Result<u32, String> {
        async_work().await;
        Ok(id)
    }
}

struct Cache;

// `#[traced]` above `#[async_trait]` sees the `async fn`s.
#[traced]
#[async_trait::async_trait]
impl Store for Cache {
    async fn load(&self, id: u32) -> Result<u32, String> {
        async_work().await;
        Ok(id)
    }
}

#[test]
fn async_trait_impl_span_covers_the_boxed_future() {
    let (collector, tracer) = collector();
    block_on(&tracer, async {
        assert_eq!(Memory.load(3).await, Ok(3));
        assert!(Memory.load(0).await.is_err());
    });
    assert_eq!(
        collector.render(),
        "Memory::load return=\"Ok(3)\"\n  async_work\n  work\n\
         Memory::load return=\"Err(\\\"no such id\\\")\" (error: no such id)\n  async_work\n  work\n"
    );
}

#[test]
fn async_trait_default_body_span_covers_the_boxed_future() {
    let (collector, tracer) = collector();
    block_on(&tracer, async { Memory.load_twice(0).await }).unwrap_err();
    assert_eq!(
        collector.render(),
        "Store::load_twice (error: no such id)\n  async_work\n  \
         Memory::load return=\"Err(\\\"no such id\\\")\" (error: no such id)\n    async_work\n    work\n"
    );
}

#[test]
fn async_trait_with_traced_impl_block_in_either_order() {
    let (collector, tracer) = collector();
    block_on(&tracer, async {
        Disk.load(1).await.unwrap();
        Cache.load(1).await.unwrap();
    });
    assert_eq!(collector.render(), "Disk::load\n  async_work\nCache::load\n  async_work\n");
}

// --- fn -> impl Future --------------------------------------------------------

#[traced(ret)]
fn async_block() -> impl Future<Output = u32> {
    async {
        async_work().await;
        1
    }
}

#[traced(err)]
fn async_move_block(fail: bool) -> impl Future<Output = Result<(), String>> {
    let message = "failed".to_owned();
    async move {
        async_work().await;
        if fail { Err(message) } else { Ok(()) }
    }
}

#[traced]
fn boxed_future() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        async_work().await;
    })
}

#[test]
fn impl_future_span_covers_async_blocks_and_box_pin() {
    let (collector, tracer) = collector();
    block_on(&tracer, async {
        assert_eq!(async_block().await, 1);
        async_move_block(true).await.unwrap_err();
        boxed_future().await;
    });
    assert_eq!(
        collector.render(),
        "async_block return=1\n  async_work\n\
         async_move_block (error: failed)\n  async_work\n\
         boxed_future\n  async_work\n"
    );
}

// --- err sees exits inside macros -------------------------------------------

#[traced(err)]
fn bails(input: u32) -> anyhow::Result<u32> {
    if input == 0 {
        anyhow::bail!("zero is not allowed");
    }
    anyhow::ensure!(input < 10, "{input} is too large");
    Ok(input)
}

macro_rules! parse_or_return {
    ($text:expr) => {
        $text.parse::<u32>()?
    };
}

#[traced(err)]
fn question_mark_in_macro(text: &str) -> Result<u32, std::num::ParseIntError> {
    Ok(parse_or_return!(text) + 1)
}

/// A body with a macro runs as a closure; a borrow of a `&mut` argument
/// still comes back out of it.
#[traced(err)]
fn first_mut(values: &mut [u32]) -> anyhow::Result<&mut u32> {
    anyhow::ensure!(!values.is_empty(), "no values");
    Ok(&mut values[0])
}

#[test]
fn err_sees_bail_ensure_and_question_mark_inside_macros() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        bails(0).unwrap_err();
        bails(12).unwrap_err();
        assert_eq!(bails(3).unwrap(), 3);
        question_mark_in_macro("x").unwrap_err();
        let mut values = vec![1];
        *first_mut(&mut values).unwrap() = 5;
        assert_eq!(values, [5]);
        first_mut(&mut []).unwrap_err();
    });
    assert_eq!(
        collector.render(),
        "bails (error: zero is not allowed)\n\
         bails (error: 12 is too large)\n\
         bails\n\
         question_mark_in_macro (error: invalid digit found in string)\n\
         first_mut\n\
         first_mut (error: no values)\n"
    );
}

// --- valid code that was rejected -------------------------------------------

#[traced(err)]
fn poll_question_mark(ready: Poll<Result<u32, String>>) -> Poll<Result<u32, String>> {
    let value = ready?;
    value.map(|v| Ok(v + 1))
}

/// `?` on a `Poll<Result<…>>` in a function returning a `Result`.
#[traced(err)]
fn poll_in_result(ready: Poll<Result<u32, String>>) -> Result<Poll<u32>, String> {
    let value = ready?;
    Ok(value)
}

type Fallible<T> = Result<T, String>;

#[traced(err)]
fn aliased(fail: bool) -> Fallible<u32> {
    if fail { Err("alias".to_owned()) } else { Ok(1) }
}

macro_rules! traced_fn {
    ($name:ident -> $ret:ty) => {
        #[traced(err)]
        fn $name(fail: bool) -> $ret {
            if fail { Err("from a macro".to_owned()) } else { Ok(()) }
        }
    };
}

traced_fn!(macro_signature -> Result<(), String>);

#[traced(args)]
fn cfg_parameter(kept: u32, #[cfg(any())] dropped: u32, #[cfg(not(any()))] also_kept: u32) -> u32 {
    kept + also_kept
}

#[test]
fn poll_alias_macro_type_and_cfg_parameter_compile_and_record() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        assert_eq!(poll_question_mark(Poll::Ready(Ok(1))), Poll::Ready(Ok(2)));
        assert_eq!(poll_question_mark(Poll::Pending), Poll::Pending);
        assert!(poll_question_mark(Poll::Ready(Err("poll".into()))).is_ready());
        assert_eq!(poll_in_result(Poll::Pending), Ok(Poll::Pending));
        poll_in_result(Poll::Ready(Err("in result".into()))).unwrap_err();
        aliased(true).unwrap_err();
        macro_signature(true).unwrap_err();
        assert_eq!(cfg_parameter(1, 2), 3);
    });
    assert_eq!(
        collector.render(),
        "poll_question_mark\npoll_question_mark\npoll_question_mark (error: poll)\n\
         poll_in_result\npoll_in_result (error: in result)\n\
         aliased (error: alias)\nmacro_signature (error: from a macro)\n\
         cfg_parameter kept=1 also_kept=2\n"
    );
}

#[no_implicit_prelude]
mod no_prelude {
    use ::trace_runtime::traced;

    #[traced(err, ret, args)]
    pub(super) fn checked(value: u32) -> ::core::result::Result<u32, ::std::string::String> {
        if value == 0 {
            return ::core::result::Result::Err(::std::string::ToString::to_string("zero"));
        }
        ::core::result::Result::Ok(value)
    }

    pub(super) struct Counter;

    #[traced]
    impl Counter {
        #[traced(ret)]
        pub(super) fn get(&self) -> u32 {
            7
        }
    }
}

#[test]
fn err_and_ret_in_a_no_implicit_prelude_module() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        no_prelude::checked(0).unwrap_err();
        assert_eq!(no_prelude::Counter.get(), 7);
    });
    assert_eq!(
        collector.render(),
        "checked value=0 return=\"Err(\\\"zero\\\")\" (error: zero)\nCounter::get return=7\n"
    );
}

struct Config(u32);

#[traced]
impl Config {
    #[cfg_attr(all(), traced(off))]
    fn skipped(&self) -> u32 {
        self.0
    }

    #[cfg_attr(all(), traced(name = "config.load"))]
    fn renamed(&self) -> u32 {
        self.0
    }

    #[cfg_attr(any(), traced(name = "never"), inline)]
    fn default_name(&self) -> u32 {
        self.0
    }
}

#[test]
fn cfg_attr_traced_inside_a_traced_impl_block() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let config = Config(1);
        assert_eq!(config.skipped() + config.renamed() + config.default_name(), 3);
    });
    assert_eq!(collector.render(), "config.load\nConfig::default_name\n");
}

// --- wrong data that was recorded -------------------------------------------

#[traced(ret)]
fn first_even(values: &[u32]) -> Option<u32> {
    let first = values.first()?;
    Some(first * 2)
}

#[traced(err, ret)]
fn tail_loop(limit: u32) -> Result<u32, String> {
    let mut n = 0;
    loop {
        n += 1;
        if n == limit {
            break if limit > 2 { Err(format!("stopped at {n}")) } else { Ok(n) };
        }
    }
}

#[test]
fn question_mark_on_option_and_tail_loop_record_their_return() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        assert_eq!(first_even(&[]), None);
        assert_eq!(first_even(&[2]), Some(4));
        assert_eq!(tail_loop(2), Ok(2));
        tail_loop(3).unwrap_err();
    });
    assert_eq!(
        collector.render(),
        "first_even return=\"None\"\nfirst_even return=\"Some(4)\"\n\
         tail_loop return=\"Ok(2)\"\n\
         tail_loop return=\"Err(\\\"stopped at 3\\\")\" (error: stopped at 3)\n"
    );
}

#[traced(args, tags(r#type = "raw"))]
fn r#match(r#in: u32) {}

struct Wrapper;

impl Wrapper {
    #[traced]
    fn new() -> Self {
        Self
    }

    #[traced]
    fn r#loop(&self) {}
}

trait Shown {
    fn show(&self) -> u32;
}

impl Shown for Wrapper {
    fn show(&self) -> u32 {
        1
    }
}

impl dyn Shown {
    #[traced]
    fn shown(&self) -> u32 {
        self.show()
    }
}

trait Listed {
    fn list(&self);
}

#[traced]
impl dyn Listed {
    fn listed(&self) {
        self.list();
    }
}

impl Listed for Wrapper {
    fn list(&self) {}
}

#[test]
fn names_of_raw_identifiers_associated_functions_and_dyn_impls() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        r#match(1);
        let wrapper = Wrapper::new();
        wrapper.r#loop();
        let shown: &dyn Shown = &wrapper;
        assert_eq!(shown.shown(), 1);
        let listed: &dyn Listed = &wrapper;
        listed.listed();
    });
    assert_eq!(
        collector.render(),
        "match type=\"raw\" in=1\nWrapper::new\nWrapper::loop\ndyn Shown::shown\ndyn Listed::listed\n"
    );
}

// Panics: tests/panic_hook.rs (the hook is process-wide, so it has a
// process of its own).
