/* Shared by the C suite (tests/c): the CHECK macros and the frame recorder, which keeps
 * what the host-callback transport hands over (frames may arrive from the hub's delivery
 * thread, hence the lock and condition variable). */
#ifndef MCRT_TEST_SUPPORT_H
#define MCRT_TEST_SUPPORT_H

#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "microcoaster_realtime.h"

/* Checks run, summed over the suite. */
extern int checks;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        checks++;                                                                       \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n  last error: [%s] %s\n",         \
                    __FILE__, __LINE__, #cond, mcrt_last_error_code(),                  \
                    mcrt_last_error_message());                                         \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define OK(call) CHECK((call) == MCRT_STATUS_OK)
#define S(text) (text), strlen(text)

/* ----- frame recorder: what the host-callback transport hands over ----- */

#define MAX_FRAMES 64
#define MAX_IDS 16

typedef struct {
    uint64_t ids[MAX_IDS];
    size_t n;
    char *frame;
    size_t len;
} Frame;

typedef struct {
    /* Frames from library threads arrive on the hub's delivery thread. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    Frame frames[MAX_FRAMES];
    size_t count;
    uint64_t closed[MAX_IDS];
    char close_reason[64];
    size_t closes;
    int offline_audited;
} Recorder;

static inline void on_frame(void *user_data, const uint64_t *ids, size_t n, const char *frame, size_t len) {
    Recorder *rec = user_data;
    pthread_mutex_lock(&rec->lock);
    if (rec->count == MAX_FRAMES || n > MAX_IDS) {
        fprintf(stderr, "recorder overflow\n");
        exit(1);
    }
    Frame *f = &rec->frames[rec->count++];
    memcpy(f->ids, ids, n * sizeof *ids);
    f->n = n;
    f->frame = malloc(len + 1);
    f->len = len;
    memcpy(f->frame, frame, len);
    f->frame[len] = '\0';
    pthread_cond_broadcast(&rec->changed);
    pthread_mutex_unlock(&rec->lock);
}

/* An audit sink that notes the module_offline record the grace timer causes. */
static inline void audit_offline(void *user_data, const char *json, size_t len) {
    Recorder *rec = user_data;
    CHECK(strlen(json) == len);
    pthread_mutex_lock(&rec->lock);
    if (strstr(json, "\"action\":\"module_offline\"")) rec->offline_audited = 1;
    pthread_cond_broadcast(&rec->changed);
    pthread_mutex_unlock(&rec->lock);
}

static inline int wait_offline_audited(Recorder *rec) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&rec->lock);
    while (!rec->offline_audited) {
        if (pthread_cond_timedwait(&rec->changed, &rec->lock, &deadline) != 0) break;
    }
    int seen = rec->offline_audited;
    pthread_mutex_unlock(&rec->lock);
    return seen;
}

/* Waits (up to 5 s) until the recorder holds at least `count` frames. */
static inline int wait_frames(Recorder *rec, size_t count) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&rec->lock);
    while (rec->count < count) {
        if (pthread_cond_timedwait(&rec->changed, &rec->lock, &deadline) != 0) break;
    }
    int reached = rec->count >= count;
    pthread_mutex_unlock(&rec->lock);
    return reached;
}

static inline void on_close(void *user_data, uint64_t id, const char *reason, size_t reason_len) {
    Recorder *rec = user_data;
    rec->closed[rec->closes++] = id;
    snprintf(rec->close_reason, sizeof rec->close_reason, "%.*s", (int)reason_len, reason);
}

static inline void reset(Recorder *rec) {
    pthread_mutex_lock(&rec->lock);
    for (size_t i = 0; i < rec->count; i++) free(rec->frames[i].frame);
    memset(rec->frames, 0, sizeof rec->frames);
    rec->count = 0;
    rec->closes = 0;
    pthread_mutex_unlock(&rec->lock);
}

static inline void recorder_init(Recorder *rec) {
    memset(rec, 0, sizeof *rec);
    pthread_mutex_init(&rec->lock, NULL);
    pthread_cond_init(&rec->changed, NULL);
}

static inline void recorder_free(Recorder *rec) {
    reset(rec);
    pthread_mutex_destroy(&rec->lock);
    pthread_cond_destroy(&rec->changed);
}

/* Whether frame `i` is event `name` (a Socket.IO packet 2["name",...]). */
static inline int is_event(const Frame *f, const char *name) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "2[\"%s\",", name);
    return strncmp(f->frame, prefix, strlen(prefix)) == 0;
}

static inline int has_id(const Frame *f, uint64_t id) {
    for (size_t i = 0; i < f->n; i++)
        if (f->ids[i] == id) return 1;
    return 0;
}

/* test_host.c */
void test_host_transport_and_every_emit(void);
void test_frames_from_library_threads(void);
void test_binary_client_event_handler(void);

/* test_answer.c */
void test_answering_client_event_handler(void);

/* test_executor.c */
void test_executor_runs_originated_emits_on_the_host_thread(void);

#endif
