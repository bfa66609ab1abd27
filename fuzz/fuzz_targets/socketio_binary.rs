#![no_main]
//! Fuzz target: see `microcoaster_realtime::fuzzing::socketio_binary`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    microcoaster_realtime::fuzzing::socketio_binary(data);
});
