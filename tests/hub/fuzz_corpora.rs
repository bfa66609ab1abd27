//! Replays every checked-in fuzz corpus input through the same entry points the
//! cargo-fuzz targets use, so CI guards against regressions without cargo-fuzz.

use std::fs;
use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for file in fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display())) {
        let path = file.expect("corpus entry").path();
        entry(&fs::read(&path).expect("corpus file"));
        count += 1;
    }
    assert!(count > 0, "corpus {} is empty", dir.display());
}

#[test]
fn native_frame_corpus_replays_cleanly() {
    replay("native_frame", microcoaster_realtime::fuzzing::native_frame);
}

#[test]
fn auth_payload_corpus_replays_cleanly() {
    replay("auth_payload", microcoaster_realtime::fuzzing::auth_payload);
}

#[test]
fn engineio_payload_corpus_replays_cleanly() {
    replay(
        "engineio_payload",
        microcoaster_realtime::fuzzing::engineio_payload,
    );
}

#[test]
fn socketio_packet_corpus_replays_cleanly() {
    replay(
        "socketio_packet",
        microcoaster_realtime::fuzzing::socketio_packet,
    );
}

#[test]
fn socketio_binary_corpus_replays_cleanly() {
    replay(
        "socketio_binary",
        microcoaster_realtime::fuzzing::socketio_binary,
    );
}
