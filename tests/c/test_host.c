/* The host-callback transport from C: every emit and its outcome as frames (recipient
 * ids, one encoded frame per event), replies, closes on logout, every hook, and frames
 * produced on library threads. Part of the C suite (see test_ffi.c). */
#include "support.h"

/* ----- hooks ----- */

static int stats_calls = 0;
static int stats_value = 10;

static int32_t stats_provider(void *user_data, McrtReply *reply) {
    (void)user_data;
    stats_calls++;
    char json[64];
    snprintf(json, sizeof json, "{\"users\":%d,\"modules\":3}", stats_value);
    return mcrt_reply_set(reply, S(json)) == MCRT_STATUS_OK ? 0 : 1;
}

/* Accepts {"token":"c-user-7"} as user 7, refuses {"token":"bad"}, passes the rest on to
 * the built-in authenticators (sessions). */
static int32_t authenticator(void *user_data, const char *request, size_t request_len,
                             const char *context, size_t context_len, McrtReply *reply) {
    int *calls = user_data;
    (*calls)++;
    CHECK(strlen(request) == request_len);
    CHECK(strlen(context) == context_len);
    if (strstr(request, "\"token\":\"c-user-7\"")) {
        CHECK(strstr(context, "\"x-test\":\"yes\"") != NULL);
        const char *identity = "{\"userId\":7,\"role\":\"user\",\"sessionId\":\"c-sess-7\"}";
        mcrt_reply_set(reply, S(identity));
        return MCRT_AUTH_VERDICT_ACCEPT;
    }
    if (strstr(request, "\"token\":\"bad\"")) {
        mcrt_reply_set(reply, S("{\"code\":\"bad_token\",\"message\":\"no such token\"}"));
        return MCRT_AUTH_VERDICT_REFUSE;
    }
    return MCRT_AUTH_VERDICT_PASS;
}

static char last_client_event[512];

static void client_event(void *user_data, const char *json, size_t len) {
    (void)user_data;
    snprintf(last_client_event, sizeof last_client_event, "%.*s", (int)len, json);
}

static McrtHub *filter_hub = NULL;
static McrtStatus reentrant_status = MCRT_STATUS_OK;

static int32_t before_emit(void *user_data, const char *name, size_t name_len, const char *audience,
                           size_t audience_len, const char *payload, size_t payload_len,
                           McrtReply *reply) {
    (void)user_data; (void)audience; (void)audience_len; (void)payload; (void)payload_len;
    (void)reply;
    if (name_len == strlen("secret:drop") && memcmp(name, "secret:drop", name_len) == 0) {
        /* An emit from under the emit lock is refused, not deadlocked. */
        reentrant_status = mcrt_emit_to_admins(filter_hub, S("x:y"), S("{}"), NULL);
        return MCRT_FILTER_VERDICT_DROP;
    }
    return MCRT_FILTER_VERDICT_KEEP;
}

static int audit_records = 0;

static void audit_sink(void *user_data, const char *json, size_t len) {
    (void)user_data;
    CHECK(strlen(json) == len && json[0] == '{');
    audit_records++;
}

/* ----- tests ----- */

static McrtHub *host_hub(Recorder *rec, int *auth_calls) {
    McrtBuilder *b = NULL;
    OK(mcrt_builder_new(S("{\"deviceOfflineGraceMs\":0}"), &b));
    CHECK(mcrt_builder_set_host_transport(b, 7, on_frame, on_close, rec) == MCRT_STATUS_INVALID_ARGUMENT);
    OK(mcrt_builder_set_host_transport(b, MCRT_WIRE_FORMAT_SOCKET_IO, on_frame, on_close, rec));
    CHECK(mcrt_builder_set_host_transport(b, MCRT_WIRE_FORMAT_SOCKET_IO, on_frame, on_close, rec) ==
          MCRT_STATUS_INVALID_ARGUMENT);
    OK(mcrt_builder_set_stats_provider(b, stats_provider, NULL));
    OK(mcrt_builder_set_authenticator(b, authenticator, auth_calls));
    OK(mcrt_builder_set_client_event_handler(b, client_event, NULL));
    OK(mcrt_builder_add_before_emit(b, before_emit, NULL));
    OK(mcrt_builder_add_audit_sink(b, audit_sink, NULL));
    CHECK(mcrt_builder_set_stats_provider(b, NULL, NULL) == MCRT_STATUS_NULL_POINTER);
    McrtHub *hub = NULL;
    OK(mcrt_builder_build(b, &hub));
    return hub;
}

static uint64_t attach(McrtHub *hub) {
    uint64_t id = 0;
    OK(mcrt_host_attach(hub, S("{\"headers\":{\"X-Test\":\"yes\"},\"remoteAddr\":\"127.0.0.1:5000\"}"), &id));
    CHECK(id > 0);
    return id;
}

static void authenticate(McrtHub *hub, Recorder *rec, uint64_t id, const char *payload) {
    size_t before = rec->count;
    char *ack = NULL;
    OK(mcrt_host_message(hub, id, S("client:authenticate"), S(payload), &ack));
    CHECK(ack != NULL && strstr(ack, "\"userId\"") != NULL);
    mcrt_string_free(ack);
    /* auth:ok then page:snapshot, each to that connection only. */
    CHECK(rec->count >= before + 2);
    CHECK(is_event(&rec->frames[before], "auth:ok"));
    CHECK(rec->frames[before].n == 1 && rec->frames[before].ids[0] == id);
    CHECK(is_event(&rec->frames[before + 1], "page:snapshot"));
}

static McrtOutcome outcome;

void test_host_transport_and_every_emit(void) {
    Recorder rec;
    recorder_init(&rec);
    int auth_calls = 0;
    McrtHub *hub = host_hub(&rec, &auth_calls);
    filter_hub = hub;

    OK(mcrt_emit_user_logged_in(hub, S("{\"id\":123,\"name\":\"Ada\"}"), S("sess-ada"), &outcome));
    OK(mcrt_emit_user_logged_in(hub, S("{\"id\":456,\"name\":\"Bob\"}"), S("sess-bob"), &outcome));
    OK(mcrt_emit_user_logged_in(hub, S("{\"id\":1,\"name\":\"Root\",\"userType\":\"admin\"}"), S("sess-root"), NULL));

    uint64_t ada1 = attach(hub), ada2 = attach(hub), bob = attach(hub), admin = attach(hub);
    uint64_t stranger = attach(hub);
    authenticate(hub, &rec, ada1, "{\"userId\":123,\"userType\":\"user\",\"page\":\"modules\",\"sessionId\":\"sess-ada\"}");
    authenticate(hub, &rec, ada2, "{\"userId\":123,\"page\":\"modules\",\"sessionId\":\"sess-ada\"}");
    authenticate(hub, &rec, bob, "{\"userId\":456,\"page\":\"modules\",\"sessionId\":\"sess-bob\"}");
    authenticate(hub, &rec, admin, "{\"userId\":1,\"userType\":\"admin\",\"page\":\"admin\",\"sessionId\":\"sess-root\"}");
    CHECK(auth_calls == 4); /* the host authenticator saw each and passed */

    /* A user claiming admin is refused with an ack body and an auth:error frame. */
    char *ack = NULL;
    reset(&rec);
    CHECK(mcrt_host_message(hub, stranger, S("client:authenticate"),
                            S("{\"userId\":456,\"userType\":\"admin\",\"sessionId\":\"sess-bob\"}"), &ack) ==
          MCRT_STATUS_REFUSED);
    CHECK(ack != NULL && strstr(ack, "\"code\"") != NULL);
    mcrt_string_free(ack);
    CHECK(rec.count == 1 && is_event(&rec.frames[0], "auth:error") && rec.frames[0].ids[0] == stranger);

    /* Module online: one frame for the owner's two tabs and the admin, none for Bob. */
    reset(&rec);
    const char *info = "{\"type\":\"Station\",\"name\":\"Station principale\",\"userId\":123}";
    OK(mcrt_emit_module_online(hub, S("MC-1234-STN"), S(info), &outcome));
    CHECK(outcome.delivered && outcome.connections == 3);
    CHECK(rec.count == 1 && is_event(&rec.frames[0], "module:status:changed"));
    CHECK(rec.frames[0].n == 3 && has_id(&rec.frames[0], ada1) && has_id(&rec.frames[0], ada2) &&
          has_id(&rec.frames[0], admin) && !has_id(&rec.frames[0], bob) && !has_id(&rec.frames[0], stranger));
    CHECK(strstr(rec.frames[0].frame, "\"online\":true") != NULL);

    /* Unchanged: nothing is handed over. */
    reset(&rec);
    OK(mcrt_emit_module_online(hub, S("MC-1234-STN"), S(info), &outcome));
    CHECK(!outcome.delivered && outcome.connections == 0 && rec.count == 0);

    OK(mcrt_emit_telemetry_update(hub, S("MC-1234-STN"), S("{\"speed\":12.5}"), &outcome));
    CHECK(outcome.delivered && outcome.connections == 2);
    CHECK(rec.count == 1 && is_event(&rec.frames[0], "module:telemetry:updated") && rec.frames[0].n == 2);
    OK(mcrt_emit_telemetry_update(hub, S("MC-1234-STN"), S("{\"speed\":12.5}"), &outcome));
    CHECK(!outcome.delivered && rec.count == 1);

    OK(mcrt_emit_module_offline(hub, S("MC-1234-STN"), S("{}"), &outcome));
    CHECK(outcome.delivered && rec.count == 2 && is_event(&rec.frames[1], "module:status:changed"));
    OK(mcrt_emit_module_offline(hub, S("MC-1234-STN"), S("{}"), &outcome));
    CHECK(!outcome.delivered && rec.count == 2);

    /* Added: user:module:added to the owner, admin:module:added to admins: two events. */
    reset(&rec);
    const char *module = "{\"id\":\"MC-9-LFT\",\"userId\":456,\"name\":\"Lift\",\"type\":\"Lift\"}";
    OK(mcrt_emit_module_added(hub, S(module), &outcome));
    CHECK(outcome.delivered && outcome.connections == 2 && rec.count == 2);
    CHECK(is_event(&rec.frames[0], "user:module:added") && rec.frames[0].n == 1 && rec.frames[0].ids[0] == bob);
    CHECK(is_event(&rec.frames[1], "admin:module:added") && rec.frames[1].n == 1 && rec.frames[1].ids[0] == admin);
    OK(mcrt_emit_module_added(hub, S(module), &outcome));
    CHECK(!outcome.delivered && rec.count == 2);
    OK(mcrt_emit_module_removed(hub, S(module), &outcome));
    CHECK(outcome.delivered && rec.count == 4 && is_event(&rec.frames[2], "user:module:removed") &&
          is_event(&rec.frames[3], "admin:module:removed"));
    OK(mcrt_emit_module_removed(hub, S(module), &outcome));
    CHECK(!outcome.delivered && rec.count == 4);

    reset(&rec);
    OK(mcrt_emit_user_profile_updated(hub, S("{\"id\":123,\"name\":\"Ada\"}"),
                                      S("{\"id\":123,\"name\":\"Ada L.\"}"), &outcome));
    CHECK(outcome.delivered && rec.count == 1 && is_event(&rec.frames[0], "user:profile:updated"));
    CHECK(rec.frames[0].n == 2 && has_id(&rec.frames[0], ada1) && has_id(&rec.frames[0], ada2));
    OK(mcrt_emit_user_profile_updated(hub, S("{\"id\":123,\"name\":\"Ada L.\"}"),
                                      S("{\"id\":123,\"name\":\"Ada L.\"}"), &outcome));
    CHECK(!outcome.delivered && rec.count == 1);

    reset(&rec);
    OK(mcrt_emit_user_registered(hub, S("{\"id\":789,\"name\":\"Cy\"}"), &outcome));
    CHECK(outcome.delivered && rec.count == 1 && is_event(&rec.frames[0], "admin:user:registered") &&
          rec.frames[0].n == 1 && rec.frames[0].ids[0] == admin);

    reset(&rec);
    /* NULL stats: the one stats call asks the provider, whose value is what admins get. */
    OK(mcrt_emit_stats_update(hub, NULL, 0, &outcome));
    CHECK(stats_calls == 1 && outcome.outcome == MCRT_OUTCOME_KIND_DELIVERED && outcome.connections == 1);
    CHECK(rec.count == 1 && is_event(&rec.frames[0], "admin:stats:updated"));
    CHECK(strstr(rec.frames[0].frame, "\"stats\":{") != NULL && strstr(rec.frames[0].frame, "\"users\":10") != NULL &&
          strstr(rec.frames[0].frame, "\"modules\":3") != NULL);
    CHECK(strstr(rec.frames[0].frame, "\"timestamp\":") != NULL);
    OK(mcrt_emit_stats_update(hub, NULL, 0, &outcome));
    CHECK(stats_calls == 2 && outcome.outcome == MCRT_OUTCOME_KIND_UNCHANGED && outcome.connections == 0 &&
          rec.count == 1);
    /* Given stats: the provider is not asked. */
    OK(mcrt_emit_stats_update(hub, S("{\"users\":11}"), &outcome));
    CHECK(stats_calls == 2 && outcome.delivered && rec.count == 2);
    CHECK(strstr(rec.frames[1].frame, "\"stats\":{\"users\":11}") != NULL);
    /* The old name is an alias of the call with stats. */
    OK(mcrt_emit_stats_update_with(hub, S("{\"users\":12}"), &outcome));
    CHECK(stats_calls == 2 && outcome.delivered && rec.count == 3);

    reset(&rec);
    OK(mcrt_emit_admin_action(hub, S("1"), S("user_promoted"), S("{\"userId\":456}"), &outcome));
    CHECK(outcome.delivered && rec.count == 1 && is_event(&rec.frames[0], "admin:action") && rec.frames[0].ids[0] == admin);

    reset(&rec);
    OK(mcrt_emit_maintenance_mode(hub, true, S("Mise à jour"), S("1"), &outcome));
    CHECK(outcome.delivered && outcome.connections == 4 && rec.count == 1 && rec.frames[0].n == 4);
    CHECK(is_event(&rec.frames[0], "system:maintenance") && !has_id(&rec.frames[0], stranger));
    OK(mcrt_emit_maintenance_mode(hub, true, S("Mise à jour"), S("1"), &outcome));
    CHECK(!outcome.delivered && rec.count == 1);
    OK(mcrt_emit_maintenance_mode(hub, false, S(""), S("1"), &outcome));
    CHECK(outcome.delivered);

    reset(&rec);
    OK(mcrt_emit_to_user(hub, S("\"123\""), S("cart:changed"), S("{\"items\":2}"), &outcome));
    CHECK(outcome.delivered && rec.count == 1 && rec.frames[0].n == 2 && is_event(&rec.frames[0], "cart:changed"));
    OK(mcrt_emit_to_admins(hub, S("ops:alert"), S("{\"level\":\"high\"}"), &outcome));
    CHECK(outcome.delivered && rec.count == 2 && rec.frames[1].ids[0] == admin);
    /* Everyone: every authenticated connection in one frame, the stranger left out, and
     * the timestamp the host put in its data kept. */
    OK(mcrt_emit_to_everyone(hub, S("park:closing"), S("{\"timestamp\":7}"), &outcome));
    CHECK(outcome.delivered && rec.count == 3 && is_event(&rec.frames[2], "park:closing"));
    CHECK(rec.frames[2].n == outcome.connections && has_id(&rec.frames[2], ada1) && has_id(&rec.frames[2], ada2) &&
          has_id(&rec.frames[2], admin) && has_id(&rec.frames[2], bob) && !has_id(&rec.frames[2], stranger));
    CHECK(strstr(rec.frames[2].frame, "\"timestamp\":7") != NULL);
    CHECK(mcrt_emit_to_everyone(hub, S("system:fake"), S("{}"), &outcome) == MCRT_STATUS_REFUSED);
    CHECK(strcmp(mcrt_last_error_code(), "reserved_event") == 0 && rec.count == 3);
    CHECK(mcrt_emit_to_user(hub, S("123"), S("admin:fake"), S("{}"), &outcome) == MCRT_STATUS_REFUSED);
    CHECK(strcmp(mcrt_last_error_code(), "reserved_event") == 0);

    /* A binary host emit: its packet announces one attachment, which follows as the
     * next frame call for the same recipients, copied before the emit returned. */
    reset(&rec);
    {
        uint8_t image[] = {1, 2, 0, 255};
        McrtBytes values[] = {{image, sizeof image}};
        const char *photo = "{\"img\":{\"_placeholder\":true,\"num\":0}}";
        OK(mcrt_emit_binary_to_user(hub, S("123"), S("photo"), S(photo), values, 1, &outcome));
        image[0] = 9;
        CHECK(outcome.delivered && outcome.connections == 2 && rec.count == 2);
        CHECK(strncmp(rec.frames[0].frame, "51-[\"photo\",", 12) == 0 && rec.frames[0].n == 2);
        CHECK(rec.frames[1].len == 4 && memcmp(rec.frames[1].frame, "\x01\x02\x00\xff", 4) == 0);
        CHECK(rec.frames[1].n == 2 && has_id(&rec.frames[1], ada1) && has_id(&rec.frames[1], ada2));
        /* A placeholder past the values, NULL values with a count, a NULL value. */
        const char *past = "{\"img\":{\"_placeholder\":true,\"num\":1}}";
        CHECK(mcrt_emit_binary_to_user(hub, S("123"), S("photo"), S(past), values, 1, &outcome) ==
              MCRT_STATUS_INVALID_ARGUMENT);
        CHECK(mcrt_emit_binary_to_admins(hub, S("photo"), S("[]"), NULL, 1, &outcome) ==
              MCRT_STATUS_INVALID_ARGUMENT);
        McrtBytes null_value[] = {{NULL, 3}};
        CHECK(mcrt_emit_binary_to_admins(hub, S("photo"), S("[]"), null_value, 1, &outcome) ==
              MCRT_STATUS_INVALID_ARGUMENT);
        CHECK(rec.count == 2);
    }

    /* A before-emit filter drops an event; its emit from under the lock was refused. */
    reset(&rec);
    OK(mcrt_emit_to_admins(hub, S("secret:drop"), S("{}"), &outcome));
    CHECK(outcome.delivered && outcome.connections == 0 && rec.count == 0);
    CHECK(reentrant_status == MCRT_STATUS_REENTRANT);

    /* A forwarded client event reaches the handler with the verified identity. */
    OK(mcrt_host_message(hub, bob, S("ride:start"), S("{\"lap\":1}"), NULL));
    CHECK(strstr(last_client_event, "\"event\":\"ride:start\"") && strstr(last_client_event, "\"userId\":\"456\""));
    OK(mcrt_host_message(hub, bob, S("client:page"), S("{\"page\":\"dashboard\"}"), NULL));

    /* A binary client event: placeholders in data, the values in base64 beside it. */
    {
        uint8_t upload[] = {1, 2, 0, 255};
        McrtBytes values[] = {{upload, sizeof upload}};
        const char *file = "{\"file\":{\"_placeholder\":true,\"num\":0}}";
        OK(mcrt_host_message_binary(hub, bob, S("upload"), S(file), values, 1, NULL));
        CHECK(strstr(last_client_event, "\"event\":\"upload\"") &&
              strstr(last_client_event, "\"attachments\":[\"AQIA/w==\"]") &&
              strstr(last_client_event, "\"_placeholder\":true"));
        const char *past = "{\"file\":{\"_placeholder\":true,\"num\":2}}";
        CHECK(mcrt_host_message_binary(hub, bob, S("upload"), S(past), values, 1, NULL) ==
              MCRT_STATUS_INVALID_ARGUMENT);
        CHECK(mcrt_host_message_binary(hub, bob, S("upload"), S(file), NULL, 1, NULL) ==
              MCRT_STATUS_INVALID_ARGUMENT);
    }

    /* A host authenticator accepts its own token, reading the handshake headers. */
    reset(&rec);
    uint64_t seven = attach(hub);
    OK(mcrt_host_authenticate(hub, seven, S("{\"token\":\"c-user-7\"}"), &ack));
    CHECK(ack != NULL && strstr(ack, "\"7\"") != NULL);
    mcrt_string_free(ack);
    CHECK(rec.count == 2 && is_event(&rec.frames[0], "auth:ok"));
    uint64_t refused = attach(hub);
    CHECK(mcrt_host_authenticate(hub, refused, S("{\"token\":\"bad\"}"), &ack) == MCRT_STATUS_REFUSED);
    CHECK(ack != NULL && strstr(ack, "bad_token") != NULL);
    mcrt_string_free(ack);
    CHECK(rec.count == 2); /* a refusal at connect sends nothing */

    /* A raw native frame. */
    OK(mcrt_host_receive(hub, bob, S("{\"event\":\"client:page\",\"data\":{\"page\":\"modules\"}}"), NULL));
    CHECK(mcrt_host_receive(hub, bob, S("{\"event\":"), NULL) == MCRT_STATUS_INVALID_ARGUMENT);

    /* Logout: user:session:ended to that session, then the close callback for each. */
    reset(&rec);
    OK(mcrt_emit_user_logged_out(hub, S("{\"id\":123}"), S("sess-ada"), &outcome));
    CHECK(outcome.delivered);
    CHECK(rec.count == 2 && is_event(&rec.frames[0], "user:session:ended") && rec.frames[0].n == 2);
    CHECK(is_event(&rec.frames[1], "admin:user:logged_out"));
    CHECK(rec.closes == 2 && strcmp(rec.close_reason, "logged_out") == 0);
    OK(mcrt_host_detach(hub, rec.closed[0]));
    OK(mcrt_host_detach(hub, rec.closed[1]));
    CHECK(mcrt_host_detach(hub, rec.closed[1]) == MCRT_STATUS_NOT_FOUND);
    CHECK(mcrt_host_message(hub, ada1, S("client:page"), S("{}"), NULL) == MCRT_STATUS_NOT_FOUND);

    CHECK(audit_records > 10);
    mcrt_hub_free(hub);
    recorder_free(&rec);
    filter_hub = NULL;
}

/* A device's module goes offline when its grace period ends: the timer thread emits, and
 * the frame reaches the host through the hub's delivery thread, before later frames. */
void test_frames_from_library_threads(void) {
    Recorder rec;
    recorder_init(&rec);
    McrtBuilder *b = NULL;
    McrtHub *hub = NULL;
    OK(mcrt_builder_new(S("{\"deviceOfflineGraceMs\":20}"), &b));
    OK(mcrt_builder_set_host_transport(b, MCRT_WIRE_FORMAT_NATIVE, on_frame, on_close, &rec));
    OK(mcrt_builder_add_audit_sink(b, audit_offline, &rec));
    OK(mcrt_builder_build(b, &hub));
    OK(mcrt_emit_user_logged_in(hub, S("{\"id\":123}"), S("sess-ada"), NULL));
    uint64_t tab = attach(hub), board = attach(hub);
    OK(mcrt_host_message(hub, tab, S("client:authenticate"), S("{\"userId\":123,\"sessionId\":\"sess-ada\"}"), NULL));
    OK(mcrt_hub_register_device_key(hub, S("MC-5-SWT"), S("123"), S("a-device-key-of-16+chars")));
    CHECK(mcrt_hub_register_device_key(hub, S("MC-5-SWT"), S("123"), S("short")) == MCRT_STATUS_INVALID_ARGUMENT);
    reset(&rec);
    OK(mcrt_host_message(hub, board, S("client:authenticate"),
                         S("{\"moduleId\":\"MC-5-SWT\",\"deviceKey\":\"a-device-key-of-16+chars\"}"), NULL));
    /* The board's own auth:ok, then its module online for the tab (a device gets no
     * snapshot). */
    CHECK(rec.count == 2 && strstr(rec.frames[0].frame, "{\"event\":\"auth:ok\"") == rec.frames[0].frame);
    CHECK(rec.frames[0].ids[0] == board);
    CHECK(strstr(rec.frames[1].frame, "{\"event\":\"module:status:changed\"") == rec.frames[1].frame);
    CHECK(strstr(rec.frames[1].frame, "\"online\":true") != NULL && rec.frames[1].ids[0] == tab);
    OK(mcrt_host_detach(hub, board));
    CHECK(wait_frames(&rec, 3));
    CHECK(strstr(rec.frames[2].frame, "\"online\":false") != NULL && rec.frames[2].ids[0] == tab);
    CHECK(wait_offline_audited(&rec)); /* from the hub's audit thread */
    OK(mcrt_emit_to_user(hub, S("123"), S("after:offline"), S("{}"), NULL));
    CHECK(wait_frames(&rec, 4));
    CHECK(strstr(rec.frames[3].frame, "after:offline") != NULL);
    bool revoked = false;
    OK(mcrt_hub_revoke_device_key(hub, S("MC-5-SWT"), &revoked));
    CHECK(revoked);
    OK(mcrt_hub_revoke_device_key(hub, S("MC-5-SWT"), &revoked));
    CHECK(!revoked);
    mcrt_hub_free(hub);
    recorder_free(&rec);
}

/* The binary client-event handler: a binary event's values arrive as bytes, byte-exact,
 * with placeholders in data and no base64 copy; a plain event arrives with none. */
static uint8_t got_bytes[64];
static size_t got_len = 0, got_count = 0, got_events = 0;
static char got_json[512];

static void binary_client_event(void *user_data, const char *json, size_t len,
                                const McrtBytes *attachments, size_t count) {
    (void)user_data;
    got_events++;
    snprintf(got_json, sizeof got_json, "%.*s", (int)len, json);
    got_count = count;
    got_len = 0;
    CHECK((count == 0) == (attachments == NULL));
    if (count > 0 && attachments[0].len <= sizeof got_bytes) {
        memcpy(got_bytes, attachments[0].data, attachments[0].len);
        got_len = attachments[0].len;
    }
}

void test_binary_client_event_handler(void) {
    Recorder rec;
    recorder_init(&rec);
    McrtBuilder *b = NULL;
    McrtHub *hub = NULL;
    OK(mcrt_builder_new(S("{}"), &b));
    OK(mcrt_builder_set_host_transport(b, MCRT_WIRE_FORMAT_SOCKET_IO, on_frame, on_close, &rec));
    CHECK(mcrt_builder_set_binary_client_event_handler(b, NULL, NULL) == MCRT_STATUS_NULL_POINTER);
    CHECK(mcrt_builder_set_binary_client_event_handler(NULL, binary_client_event, NULL) ==
          MCRT_STATUS_NULL_POINTER);
    OK(mcrt_builder_set_binary_client_event_handler(b, binary_client_event, NULL));
    OK(mcrt_builder_build(b, &hub));
    OK(mcrt_emit_user_logged_in(hub, S("{\"id\":7,\"name\":\"Eve\"}"), S("sess-eve"), NULL));
    uint64_t eve = attach(hub);
    authenticate(hub, &rec, eve, "{\"userId\":7,\"page\":\"modules\",\"sessionId\":\"sess-eve\"}");

    uint8_t upload[] = {0, 1, 2, 255, 0};
    McrtBytes values[] = {{upload, sizeof upload}};
    const char *file = "{\"file\":{\"_placeholder\":true,\"num\":0}}";
    OK(mcrt_host_message_binary(hub, eve, S("upload"), S(file), values, 1, NULL));
    CHECK(got_events == 1 && got_count == 1 && got_len == sizeof upload &&
          memcmp(got_bytes, upload, sizeof upload) == 0);
    CHECK(strstr(got_json, "\"event\":\"upload\"") && strstr(got_json, "\"_placeholder\":true") &&
          strstr(got_json, "\"attachments\"") == NULL);

    OK(mcrt_host_message(hub, eve, S("ride:start"), S("{\"lap\":1}"), NULL));
    CHECK(got_events == 2 && got_count == 0 && strstr(got_json, "\"event\":\"ride:start\""));

    mcrt_hub_free(hub);
    recorder_free(&rec);
}
