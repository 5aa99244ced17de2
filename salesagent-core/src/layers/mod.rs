//! Port wrappers: one wrapper per concern, usable around any port.
//!
//! A [`Layered<P, L>`] wraps a port `P` and runs every call through a [`Layer`] `L` before
//! (and around) delegating to `P`. It implements every port trait `P` implements: [`Crm`],
//! [`Mailbox`], [`Drive`], [`Calendar`], [`Llm`], [`SpeechToText`], [`TextToSpeech`] and each
//! store trait (so a wrapped [`Store`] is a `Store`). Wrappers stack:
//! `WithTimeout::new(FaultInjecting::new(crm, faults), limit)` is a CRM too.
//!
//! | wrapper | concern | feature |
//! |---|---|---|
//! | [`WithTimeout<P>`] | each call bounded by a time limit; `Timeout` naming the operation | always |
//! | `FaultInjecting<P>` | latency and injected failures from a `Faults` knob | `testing` |
//! | `Recording<P>` | records each call's operation and key arguments | `testing` |
//!
//! Operations are named `<port>.<method>` (`crm.get_contact`, `mailbox.send`,
//! `store.claim`, `llm.complete`, `speech.transcribe`), the names `Faults` targets by prefix.
//!
//! `Arc<T>` of a (sized) port is a port too (it delegates), so a wrapper can hold a shared
//! fake: `FaultInjecting::new(crm.clone(), faults)` with `crm: Arc<FakeCrm>`, the test keeping
//! `crm` to look at what was written. A `Dyn…` port (`Arc<dyn …>`) is not wrapped this way:
//! wrap the concrete port before erasing its type.
//!
//! Adding a method to a port trait is one line in the port's list in `ports.rs` here.
//!
//! [`Crm`]: crate::ports::Crm
//! [`Mailbox`]: crate::ports::Mailbox
//! [`Drive`]: crate::ports::Drive
//! [`Calendar`]: crate::ports::Calendar
//! [`Llm`]: crate::ports::Llm
//! [`SpeechToText`]: crate::ports::SpeechToText
//! [`TextToSpeech`]: crate::ports::TextToSpeech
//! [`Store`]: crate::ports::Store

mod ports;
#[cfg(feature = "testing")]
mod recording;
mod timeout;

#[cfg(feature = "testing")]
pub use recording::{RecordedCall, Recorder, Recording};
pub use timeout::{TimeLimit, WithTimeout, bounded};

use crate::Result;
use std::fmt;
use std::future::Future;

/// One concern applied around every call of a wrapped port (see [`Layered`]).
pub trait Layer: Send + Sync + fmt::Debug + 'static {
    /// Runs `call`, the wrapped port's answer to operation `op` (`<port>.<method>`), under
    /// this layer. `args` renders the call's key arguments, for layers that record them.
    fn around<'a, T, F>(
        &'a self,
        op: &'static str,
        args: &'a (dyn Fn() -> String + Sync),
        call: F,
    ) -> impl Future<Output = Result<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Future<Output = Result<T>> + Send + 'a;
}

/// A port `P` whose every call goes through the layer `L` (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Layered<P, L> {
    inner: P,
    layer: L,
}

impl<P, L> Layered<P, L> {
    /// `inner` with every call going through `layer`.
    pub fn wrap(inner: P, layer: L) -> Self {
        Self { inner, layer }
    }

    /// The wrapped port.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The wrapped port, unwrapped.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

/// Renders key arguments for a [`Layer`]'s `args`: their `Debug` forms joined by `", "`.
fn render_args(args: &[&dyn fmt::Debug]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("{a:?}"));
    }
    out
}

#[cfg(feature = "testing")]
mod faults {
    use super::{Layer, Layered};
    use crate::Result;
    use crate::offline::Faults;
    use std::future::Future;

    /// A port whose calls first go through a [`Faults`] knob (latency, injected failures);
    /// feature `testing`. Build it with `FaultInjecting::new`.
    pub type FaultInjecting<P> = Layered<P, Faults>;

    impl<P> Layered<P, Faults> {
        /// `inner` with every call first asking `faults` (see [`Faults::before_call`]): the
        /// configured latency, then maybe an injected failure instead of the call.
        pub fn new(inner: P, faults: Faults) -> Self {
            Self::wrap(inner, faults)
        }

        /// The fault knob (clones share its state).
        pub fn faults(&self) -> &Faults {
            self.layer()
        }
    }

    impl Layer for Faults {
        async fn around<'a, T, F>(
            &'a self,
            op: &'static str,
            _args: &'a (dyn Fn() -> String + Sync),
            call: F,
        ) -> Result<T>
        where
            T: Send + 'a,
            F: Future<Output = Result<T>> + Send + 'a,
        {
            self.before_call(op).await?;
            call.await
        }
    }
}

#[cfg(feature = "testing")]
pub use faults::FaultInjecting;
