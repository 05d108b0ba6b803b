#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[derive(Debug, Default)]
struct Account {
    balance: i64,
}

trait Ledger {
    fn post(&mut self, amount: i64) -> i64;
}

impl Account {
    #[traced]
    fn new() -> Self {
        Self::default()
    }

    #[traced(args(self))]
    fn balance(&self) -> i64 {
        self.balance
    }

    #[traced]
    fn close(self) -> i64 {
        self.balance
    }
}

impl Ledger for Account {
    #[traced(args)]
    fn post(&mut self, amount: i64) -> i64 {
        self.balance += amount;
        self.balance
    }
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let mut account = Account::new();
        account.post(5);
        assert_eq!(account.balance(), 5);
        assert_eq!(account.close(), 5);
    });
    assert_eq!(
        collector.render(),
        "Account::new\nAccount::post amount=5\nAccount::balance self=\"Account { balance: 5 }\"\nAccount::close\n"
    );
}
