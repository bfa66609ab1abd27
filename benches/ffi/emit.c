/* FFI overhead from C: the round trip of one emit call through the C ABI, on a hub in
 * memory with no connection attached (persistence off).
 *   unchanged: mcrt_emit_module_online for a module already online (change detection
 *              says no; nothing is sent)
 *   changed:   mcrt_emit_telemetry_update alternating two values (a change every call,
 *              an event built and resolved to nobody)
 * Prints the median ns/call of 5 runs of N calls each. Run by `scripts/bench ffi`. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "microcoaster_realtime.h"

#define S(text) (text), strlen(text)
#define RUNS 5

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    McrtHub *hub = NULL;
    if (mcrt_hub_new(NULL, 0, &hub) != MCRT_STATUS_OK) return 1;
    McrtOutcome out;
    const char *info = "{\"type\":\"Station\",\"name\":\"Station principale\",\"userId\":123}";
    if (mcrt_emit_module_online(hub, S("MC-1234-STN"), S(info), &out) != MCRT_STATUS_OK) return 1;
    const char *values[2] = {"{\"speed\":12.5,\"tick\":0}", "{\"speed\":12.5,\"tick\":1}"};
    size_t lens[2] = {strlen(values[0]), strlen(values[1])};

    double unchanged[RUNS], changed[RUNS];
    for (int run = 0; run < RUNS; run++) {
        double start = now_ns();
        for (long i = 0; i < n; i++) mcrt_emit_module_online(hub, S("MC-1234-STN"), S(info), &out);
        unchanged[run] = (now_ns() - start) / (double)n;
        if (out.delivered) return 2;
        start = now_ns();
        for (long i = 0; i < n; i++)
            mcrt_emit_telemetry_update(hub, S("MC-1234-STN"), values[i & 1], lens[i & 1], &out);
        changed[run] = (now_ns() - start) / (double)n;
        if (!out.delivered) return 3;
    }
    qsort(unchanged, RUNS, sizeof(double), cmp);
    qsort(changed, RUNS, sizeof(double), cmp);
    printf("c/emit_unchanged            %8.0f ns/call (median of %d runs x %ld)\n", unchanged[RUNS / 2], RUNS, n);
    printf("c/emit_changed_no_subscriber %7.0f ns/call (median of %d runs x %ld)\n", changed[RUNS / 2], RUNS, n);
    mcrt_hub_free(hub);
    return 0;
}
