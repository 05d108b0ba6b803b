//! Captures panic messages so spans closed while unwinding can record them.
//!
//! A span guard dropped during unwinding cannot see the panic payload, so a
//! panic hook (installed once by [`TracerBuilder::build`], chained before
//! the hook that was there) leaves the message in a thread-local for the
//! guards to read. The hook overwrites the message at every panic, so it is
//! always the current panic's, as long as the hook runs. If the application
//! later replaces the hook without calling ours (`std::panic::set_hook`
//! with a hook that does not chain, as some error reporters do), std drops
//! ours; from then on spans record "panicked" with no message rather than
//! the text of an earlier panic.
//!
//! [`TracerBuilder::build`]: crate::TracerBuilder::build

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// The message of the last panic on this thread that the hook saw.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Whether our hook is installed and so sees every panic.
static HOOK_INSTALLED: AtomicBool = AtomicBool::new(false);

/// Lives inside the hook: std drops it with the hook when the hook is
/// replaced, and from then on the stored messages may be stale.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        HOOK_INSTALLED.store(false, Ordering::Release);
    }
}

pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        let installed = Installed;
        HOOK_INSTALLED.store(true, Ordering::Release);
        std::panic::set_hook(Box::new(move |info| {
            let _alive = &installed;
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            let _ = LAST_PANIC.try_with(|slot| slot.replace(message));
            previous(info);
        }));
    });
}

/// The status message for a span closed while this thread unwinds:
/// `panicked: <message>` when the hook saw this panic, else `panicked`.
pub(crate) fn unwinding_message() -> String {
    let message = if HOOK_INSTALLED.load(Ordering::Acquire) {
        LAST_PANIC.try_with(|slot| slot.borrow().clone()).ok().flatten()
    } else {
        None
    };
    match message {
        Some(message) => format!("panicked: {message}"),
        None => "panicked".to_owned(),
    }
}
