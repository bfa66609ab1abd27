//! The burst: 20,000 events to 50 admins, delivered whole with the defaults.

use std::time::Duration;

use futures_util::future::join_all;
use microcoaster_realtime::SlowConsumerCloses;
use serde_json::json;

use crate::support::{SENTINEL, builder, config, run, serve};
use crate::{alone, log_in_many, read_in_order};

/// 20,000 events as fast as a host thread can emit them, to 50 admins who read as they
/// come. With the default bounds (2 MiB, 10 s) every admin gets every event, in order,
/// and nobody is closed.
#[test]
fn a_burst_to_fifty_admins_is_delivered_completely_with_defaults() {
    const ADMINS: usize = 50;
    const EVENTS: u64 = 20_000;
    let _alone = alone();
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let admins = log_in_many(&server, ("admin", ADMINS), "admin", "admin").await;
        let hub = server.hub.clone();
        let emitter = std::thread::spawn(move || {
            for n in 0..EVENTS {
                hub.emit_to_admins("burst", &json!({"n": n})).unwrap();
            }
            hub.emit_to_admins(SENTINEL, &json!({"n": EVENTS})).unwrap();
        });
        let readers = admins.into_iter().map(|mut admin| {
            tokio::spawn(async move { read_in_order(&mut admin, "burst", EVENTS).await })
        });
        let read = tokio::time::timeout(Duration::from_secs(120), join_all(readers));
        for reader in read.await.expect("the burst was read within 120 s") {
            reader.expect("reader");
        }
        emitter.join().unwrap();
        assert_eq!(
            server.hub.metrics().slow_consumer_closes,
            SlowConsumerCloses::default()
        );
    });
}
