#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad input: {}", self.0)
    }
}

impl From<std::num::ParseIntError> for BadInput {
    fn from(error: std::num::ParseIntError) -> Self {
        Self(error.to_string())
    }
}

#[traced(err)]
fn parse(input: &str) -> Result<u32, BadInput> {
    if input.is_empty() {
        return Err(BadInput("empty".into()));
    }
    let value: u32 = input.parse()?;
    Ok(value)
}

#[traced(err)]
fn io_alias() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        assert_eq!(parse("7").unwrap(), 7);
        assert!(parse("").is_err());
        assert!(parse("x").is_err());
        io_alias().unwrap();
    });
    assert_eq!(
        collector.render(),
        "parse\nparse (error: bad input: empty)\nparse (error: bad input: invalid digit found in string)\nio_alias\n"
    );
}
