#![no_main]
//! Fuzz target: see `microcoaster_realtime::fuzzing::native_frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    microcoaster_realtime::fuzzing::native_frame(data);
});
