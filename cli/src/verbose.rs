//! `kq -v`: the providers' request events (tracing target `kq::requests`)
//! printed on stderr as kq prints everything else, one `kq: ` line each.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the request log: `-v` the requests, `-vv` retries too.
pub fn install(verbosity: u8) {
    if verbosity == 0 {
        return;
    }
    let level = if verbosity >= 2 {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    let _ = tracing_subscriber::registry()
        .with(RequestLines.with_filter(Targets::new().with_target("kq::requests", level)))
        .try_init();
}

struct RequestLines;

impl<S: Subscriber> Layer<S> for RequestLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let marker = if *event.metadata().level() == Level::DEBUG {
            "  "
        } else {
            ""
        };
        eprintln!("kq: {marker}{}", message.0);
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
