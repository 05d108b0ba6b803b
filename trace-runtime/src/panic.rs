//! Captures panic messages so spans closed while unwinding can record them.
//!
//! A span guard dropped during unwinding cannot see the panic payload, so a
//! panic hook (installed once, chained before the hook that was there)
//! leaves the message in a thread-local for the guards to read.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".to_owned());
            let _ = LAST_PANIC.try_with(|slot| slot.replace(Some(message)));
            previous(info);
        }));
    });
}

/// The status message for a span closed while this thread unwinds.
pub(crate) fn unwinding_message() -> String {
    let message = LAST_PANIC
        .try_with(|slot| slot.borrow().clone())
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("panicked: {message}")
}
