/* Acks answered by a C client-event handler, through the host transport: the answer's
 * JSON and binary values come back byte-exact in an McrtAck; refused answers (NULL,
 * bad JSON, a placeholder past the values) are typed, counted in the ffi metrics and
 * leave the ack unanswered; the text-only calls keep working. Part of the C suite (see
 * test_ffi.c), run under valgrind. */
#include "support.h"

static int answered_events = 0;
static McrtStatus refused[4];

/* "echo" answers {"back": <its first value>, "n": 1}; "refuse" tries four bad answers and
 * then none; "twice" answers twice (the second stands); anything else is not answered. */
static void answering_event(void *user_data, const char *json, size_t len,
                            const McrtBytes *attachments, size_t count, McrtAnswer *answer) {
    (void)user_data;
    answered_events++;
    CHECK(strlen(json) == len);
    CHECK((count == 0) == (attachments == NULL));
    if (strstr(json, "\"event\":\"echo\"")) {
        CHECK(count == 1);
        OK(mcrt_answer_set(answer, S("{\"back\":{\"_placeholder\":true,\"num\":0},\"n\":1}"),
                           attachments, 1));
    } else if (strstr(json, "\"event\":\"refuse\"")) {
        McrtBytes value = {(const uint8_t *)"x", 1};
        refused[0] = mcrt_answer_set(NULL, S("1"), NULL, 0);
        refused[1] = mcrt_answer_set(answer, S("{not json"), NULL, 0);
        refused[2] = mcrt_answer_set(answer, S("{\"_placeholder\":true,\"num\":1}"), &value, 1);
        refused[3] = mcrt_answer_set(answer, S("[1]"), NULL, 2);
    } else if (strstr(json, "\"event\":\"twice\"")) {
        OK(mcrt_answer_set(answer, S("\"first\""), NULL, 0));
        OK(mcrt_answer_set(answer, S("\"second\""), NULL, 0));
    }
}

static uint64_t attach_authenticated(McrtHub *hub) {
    uint64_t id = 0;
    OK(mcrt_host_attach(hub, NULL, 0, &id));
    OK(mcrt_host_message(hub, id, S("client:authenticate"),
                         S("{\"userId\":7,\"page\":\"modules\",\"sessionId\":\"sess-eve\"}"), NULL));
    return id;
}

/* The ffi metrics' count for `status` (e.g. "invalid_json"). */
static long ffi_failures(McrtHub *hub, const char *status) {
    char *metrics = NULL;
    OK(mcrt_hub_metrics(hub, &metrics));
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", status);
    const char *ffi = strstr(metrics, "\"ffi\":");
    CHECK(ffi != NULL);
    const char *at = strstr(ffi, key);
    CHECK(at != NULL);
    long value = strtol(at + strlen(key), NULL, 10);
    mcrt_string_free(metrics);
    return value;
}

void test_answering_client_event_handler(void) {
    Recorder rec;
    recorder_init(&rec);
    McrtBuilder *b = NULL;
    McrtHub *hub = NULL;
    OK(mcrt_builder_new(S("{}"), &b));
    OK(mcrt_builder_set_host_transport(b, MCRT_WIRE_FORMAT_SOCKET_IO, on_frame, on_close, &rec));
    CHECK(mcrt_builder_set_answering_client_event_handler(b, NULL, NULL) == MCRT_STATUS_NULL_POINTER);
    CHECK(mcrt_builder_set_answering_client_event_handler(NULL, answering_event, NULL) ==
          MCRT_STATUS_NULL_POINTER);
    OK(mcrt_builder_set_answering_client_event_handler(b, answering_event, NULL));
    OK(mcrt_builder_build(b, &hub));
    OK(mcrt_emit_user_logged_in(hub, S("{\"id\":7,\"name\":\"Eve\"}"), S("sess-eve"), NULL));
    uint64_t eve = attach_authenticated(hub);

    /* A binary value sent in the event comes back byte-exact in the ack. */
    uint8_t upload[] = {0, 1, 2, 255, 0, 128};
    McrtBytes values[] = {{upload, sizeof upload}};
    McrtAck *ack = NULL;
    OK(mcrt_host_message_with_ack(hub, eve, S("echo"), S("{\"_placeholder\":true,\"num\":0}"),
                                  values, 1, &ack));
    CHECK(ack != NULL && ack->count == 1 && ack->attachments != NULL);
    CHECK(strlen(ack->json) == ack->json_len);
    CHECK(strcmp(ack->json, "{\"back\":{\"_placeholder\":true,\"num\":0},\"n\":1}") == 0);
    CHECK(ack->attachments[0].len == sizeof upload &&
          memcmp(ack->attachments[0].data, upload, sizeof upload) == 0);
    mcrt_ack_free(ack);
    mcrt_ack_free(NULL);

    /* The text-only call gets the JSON of the same answer (placeholders kept). */
    char *text = NULL;
    OK(mcrt_host_message_binary(hub, eve, S("echo"), S("{\"_placeholder\":true,\"num\":0}"), values, 1,
                                &text));
    CHECK(text != NULL && strstr(text, "\"_placeholder\":true") != NULL);
    mcrt_string_free(text);

    /* Refused answers: typed statuses, counted, and the ack stays unanswered. */
    long json_before = ffi_failures(hub, "invalid_json");
    long argument_before = ffi_failures(hub, "invalid_argument");
    long null_before = ffi_failures(hub, "null_pointer");
    ack = (McrtAck *)&ack; /* overwritten with NULL by the call */
    OK(mcrt_host_message_with_ack(hub, eve, S("refuse"), NULL, 0, NULL, 0, &ack));
    CHECK(ack == NULL);
    CHECK(refused[0] == MCRT_STATUS_NULL_POINTER && refused[1] == MCRT_STATUS_INVALID_JSON);
    CHECK(refused[2] == MCRT_STATUS_INVALID_ARGUMENT && refused[3] == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(ffi_failures(hub, "invalid_json") == json_before + 1);
    CHECK(ffi_failures(hub, "invalid_argument") == argument_before + 2);
    CHECK(ffi_failures(hub, "null_pointer") == null_before + 1);

    /* A second answer replaces the first; no answer means no ack body. */
    OK(mcrt_host_message_with_ack(hub, eve, S("twice"), NULL, 0, NULL, 0, &ack));
    CHECK(ack != NULL && ack->count == 0 && ack->attachments == NULL);
    CHECK(strcmp(ack->json, "\"second\"") == 0);
    mcrt_ack_free(ack);
    OK(mcrt_host_message_with_ack(hub, eve, S("silent"), S("{\"lap\":1}"), NULL, 0, &ack));
    CHECK(ack == NULL);
    CHECK(answered_events == 5);

    /* An unauthenticated connection is refused with a {code, message} ack. */
    uint64_t stranger = 0;
    OK(mcrt_host_attach(hub, NULL, 0, &stranger));
    CHECK(mcrt_host_message_with_ack(hub, stranger, S("echo"), S("1"), NULL, 0, &ack) ==
          MCRT_STATUS_REFUSED);
    CHECK(ack != NULL && ack->count == 0 && strstr(ack->json, "\"code\"") != NULL);
    mcrt_ack_free(ack);
    CHECK(answered_events == 5);
    /* Bad arguments are refused before the handler runs. */
    CHECK(mcrt_host_message_with_ack(hub, eve, S("echo"), S("{\"_placeholder\":true,\"num\":0}"), NULL, 1,
                                     &ack) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(ack == NULL && answered_events == 5);
    CHECK(mcrt_host_message_with_ack(hub, 999, S("echo"), NULL, 0, NULL, 0, &ack) ==
          MCRT_STATUS_NOT_FOUND);

    mcrt_hub_free(hub);
    recorder_free(&rec);
}
