#![no_main]
//! Fuzz target: see `microcoaster_realtime::fuzzing::engineio_payload`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    microcoaster_realtime::fuzzing::engineio_payload(data);
});
