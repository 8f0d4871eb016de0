//! Each isolate's samples (its requests through [`crate::serve`], its service's
//! decisions through the kit's `Metrics` port) gather here and are shipped to the
//! monitoring Worker, batched and off the request path: the first request after a
//! shipment schedules the next one [`BATCH_MS`] later in `waitUntil`; the samples of
//! every request answered meanwhile join it. A shipment that fails is merged back and
//! goes with the next.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use agency_monitor::Registry;
use worker::Env;

/// How long samples gather before they are shipped.
pub const BATCH_MS: u64 = 1_000;

/// Where a shipment goes: by default the monitoring Worker over the `MONITORING`
/// service binding; the monitoring Worker stores its own directly ([`store_with`]).
pub type Sink = fn(Env, Registry) -> Pin<Box<dyn Future<Output = Result<(), String>>>>;

thread_local! {
    static SAMPLES: RefCell<Registry> = RefCell::new(Registry::default());
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
    static SINK: Cell<Sink> = const { Cell::new(to_binding) };
}

/// Records into this isolate's samples.
pub fn record(f: &mut dyn FnMut(&mut Registry)) {
    SAMPLES.with(|r| f(&mut r.borrow_mut()));
}

/// This isolate's samples not shipped yet.
pub fn pending() -> Registry {
    SAMPLES.with(|r| r.borrow().clone())
}

/// Ships through `sink` instead of the `MONITORING` binding (the monitoring Worker).
pub fn store_with(sink: Sink) {
    SINK.with(|s| s.set(sink));
}

/// The shipment to hand to `waitUntil`, when one is due and none is scheduled.
pub fn shipment(env: &Env) -> Option<impl Future<Output = ()> + 'static> {
    let empty = SAMPLES.with(|r| r.borrow().is_empty());
    if empty || SCHEDULED.with(|s| s.replace(true)) {
        return None;
    }
    let env = env.clone();
    Some(async move {
        worker::Delay::from(Duration::from_millis(BATCH_MS)).await;
        SCHEDULED.with(|s| s.set(false));
        let batch = SAMPLES.with(|r| std::mem::take(&mut *r.borrow_mut()));
        if batch.is_empty() {
            return;
        }
        let sink = SINK.with(Cell::get);
        if let Err(e) = sink(env, batch.clone()).await {
            worker::console_error!("shipping samples: {e}");
            SAMPLES.with(|r| r.borrow_mut().merge(&batch));
        }
    })
}

fn to_binding(env: Env, batch: Registry) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
    Box::pin(async move {
        // A deployment without the monitoring Worker keeps no samples.
        if env.service(agency_kit::Part::Monitoring.binding()).is_err() {
            return Ok(());
        }
        let body = serde_json::to_value(&batch).map_err(|e| e.to_string())?;
        let path = "/internal/samples";
        match crate::peer(
            &env,
            agency_kit::Part::Monitoring,
            http::Method::POST,
            path,
            &body,
        )
        .await
        {
            Ok((200..=299, _)) => Ok(()),
            Ok((status, _)) => Err(format!("the monitoring Worker answered {status}")),
            Err(e) => Err(e.to_string()),
        }
    })
}
