/* The host executor (mcrt_builder_set_executor / mcrt_run_pending): an emit the library
 * originates on one of its threads (here the device grace timer) is queued, the wake
 * callback says so from that thread, and the emit — its before-emit filter and its
 * frame — runs on the host thread inside mcrt_run_pending, after what the host emitted
 * meanwhile. Jobs still queued when the hub is freed are dropped without a leak. A filter
 * answering MCRT_FILTER_VERDICT_FAILED drops its event and counts in hook_panics. */
#include "support.h"

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t woken;
    int wakes;
    pthread_t last_waker;
} Waker;

static void on_wake(void *user_data) {
    Waker *w = user_data;
    pthread_mutex_lock(&w->lock);
    w->wakes++;
    w->last_waker = pthread_self();
    pthread_cond_broadcast(&w->woken);
    pthread_mutex_unlock(&w->lock);
}

/* Waits (up to 5 s) for the wake count to reach `count`. */
static int wait_wakes(Waker *w, int count) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&w->lock);
    while (w->wakes < count) {
        if (pthread_cond_timedwait(&w->woken, &w->lock, &deadline) != 0) break;
    }
    int reached = w->wakes >= count;
    pthread_mutex_unlock(&w->lock);
    return reached;
}

/* The filter notes whether it ever ran off the host (main) thread. */
static pthread_t host_thread;
static int filter_calls = 0;
static int filter_off_host = 0;

static int32_t filter_on_host(void *user_data, const char *name, size_t name_len, const char *audience,
                              size_t audience_len, const char *payload, size_t payload_len, McrtReply *reply) {
    (void)user_data, (void)audience, (void)audience_len;
    (void)payload, (void)payload_len, (void)reply;
    filter_calls++;
    if (!pthread_equal(pthread_self(), host_thread)) filter_off_host++;
    if (name_len == strlen("test:fail") && memcmp(name, "test:fail", name_len) == 0) return MCRT_FILTER_VERDICT_FAILED;
    return MCRT_FILTER_VERDICT_KEEP;
}

static void connect_board(McrtHub *hub, uint64_t board) {
    OK(mcrt_host_message(hub, board, S("client:authenticate"),
                         S("{\"moduleId\":\"MC-5-SWT\",\"deviceKey\":\"a-device-key-of-16+chars\"}"), NULL));
}

void test_executor_runs_originated_emits_on_the_host_thread(void) {
    host_thread = pthread_self();
    Recorder rec;
    recorder_init(&rec);
    Waker waker;
    memset(&waker, 0, sizeof waker);
    pthread_mutex_init(&waker.lock, NULL);
    pthread_cond_init(&waker.woken, NULL);

    McrtBuilder *b = NULL;
    McrtHub *hub = NULL;
    OK(mcrt_builder_new(S("{\"deviceOfflineGraceMs\":20}"), &b));
    CHECK(mcrt_builder_set_executor(b, NULL, &waker) == MCRT_STATUS_NULL_POINTER);
    CHECK(mcrt_builder_set_executor(NULL, on_wake, &waker) == MCRT_STATUS_NULL_POINTER);
    OK(mcrt_builder_set_executor(b, on_wake, &waker));
    CHECK(mcrt_builder_set_executor(b, on_wake, &waker) == MCRT_STATUS_INVALID_ARGUMENT);
    OK(mcrt_builder_set_host_transport(b, MCRT_WIRE_FORMAT_NATIVE, on_frame, on_close, &rec));
    OK(mcrt_builder_add_before_emit(b, filter_on_host, NULL));
    OK(mcrt_builder_build(b, &hub));
    CHECK(mcrt_run_pending(NULL, NULL) == MCRT_STATUS_NULL_POINTER);

    OK(mcrt_emit_user_logged_in(hub, S("{\"id\":123}"), S("sess-ada"), NULL));
    uint64_t tab = 0, board = 0;
    OK(mcrt_host_attach(hub, S("{}"), &tab));
    OK(mcrt_host_attach(hub, S("{}"), &board));
    OK(mcrt_host_message(hub, tab, S("client:authenticate"), S("{\"userId\":123,\"sessionId\":\"sess-ada\"}"), NULL));
    OK(mcrt_hub_register_device_key(hub, S("MC-5-SWT"), S("123"), S("a-device-key-of-16+chars")));
    reset(&rec);

    /* On the host thread, inside a mcrt_ call: the device's online emit runs in place. */
    connect_board(hub, board);
    CHECK(rec.count == 2 && strstr(rec.frames[1].frame, "\"online\":true") != NULL);
    CHECK(waker.wakes == 0);

    /* The grace timer's offline emit is queued; the wake comes from the timer thread. */
    OK(mcrt_host_detach(hub, board));
    CHECK(wait_wakes(&waker, 1));
    CHECK(!pthread_equal(waker.last_waker, host_thread));
    /* Nothing reached the tab meanwhile: the host's own sentinel is next. */
    OK(mcrt_emit_to_user(hub, S("123"), S("test:sentinel"), S("{}"), NULL));
    CHECK(rec.count == 3 && strstr(rec.frames[2].frame, "test:sentinel") != NULL);

    size_t ran = 99;
    OK(mcrt_run_pending(hub, &ran));
    CHECK(ran == 1);
    /* Delivered inside mcrt_run_pending, on this thread (no wait needed). */
    CHECK(rec.count == 4 && strstr(rec.frames[3].frame, "\"online\":false") != NULL);
    CHECK(rec.frames[3].ids[0] == tab);
    OK(mcrt_run_pending(hub, &ran));
    CHECK(ran == 0);
    OK(mcrt_run_pending(hub, NULL));
    CHECK(filter_calls >= 4 && filter_off_host == 0);

    /* A filter reporting a failure: the event is dropped and counted in hook_panics. */
    McrtOutcome outcome;
    OK(mcrt_emit_to_user(hub, S("123"), S("test:fail"), S("{}"), &outcome));
    CHECK(outcome.delivered && outcome.connections == 0 && rec.count == 4);
    char *metrics = NULL;
    OK(mcrt_hub_metrics(hub, &metrics));
    CHECK(strstr(metrics, "\"hook_panics\":1") != NULL);
    mcrt_string_free(metrics);

    /* A second batch wakes again; freeing the hub drops it unrun, without a leak. */
    OK(mcrt_host_attach(hub, S("{}"), &board));
    connect_board(hub, board);
    OK(mcrt_host_detach(hub, board));
    CHECK(wait_wakes(&waker, 2));
    size_t frames_before_free = rec.count;
    mcrt_hub_free(hub);
    CHECK(rec.count == frames_before_free);
    CHECK(filter_off_host == 0);

    /* Without an executor, mcrt_run_pending says so. */
    OK(mcrt_hub_new(NULL, 0, &hub));
    CHECK(mcrt_run_pending(hub, &ran) == MCRT_STATUS_NOT_CONFIGURED);
    CHECK(strcmp(mcrt_last_error_code(), "no_executor") == 0);
    mcrt_hub_free(hub);

    recorder_free(&rec);
    pthread_mutex_destroy(&waker.lock);
    pthread_cond_destroy(&waker.woken);
}
