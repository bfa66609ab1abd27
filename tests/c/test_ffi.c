/* The C suite of the C ABI: every emit and its outcome, host-callback transport frames
 * (recipient ids and one encoded frame per event) and hooks in test_host.c; null
 * pointers / invalid UTF-8 / invalid JSON, string ownership, persistence and serving
 * here. Compiled by scripts/c-test with gcc -Wall -Wextra -Werror against
 * include/microcoaster_realtime.h and run under valgrind --leak-check=full. */
#include "support.h"

int checks = 0;

static McrtOutcome outcome;

static void test_version_and_errors(void) {
    CHECK(strlen(mcrt_version()) >= 5);
    McrtHub *hub = NULL;
    CHECK(mcrt_hub_new(S("{not json"), &hub) == MCRT_STATUS_INVALID_JSON);
    CHECK(hub == NULL);
    CHECK(strcmp(mcrt_last_error_code(), "invalid_json") == 0);
    CHECK(strstr(mcrt_last_error_message(), "config_json is not valid JSON") != NULL);
    CHECK(mcrt_hub_new("\xff\xfe", 2, &hub) == MCRT_STATUS_INVALID_UTF8);
    CHECK(strstr(mcrt_last_error_message(), "not valid UTF-8") != NULL);
    CHECK(mcrt_hub_new(S("{\"queueCapacty\":3}"), &hub) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(mcrt_last_error_message(), "queueCapacty") != NULL);
    CHECK(mcrt_hub_new(S("{}"), NULL) == MCRT_STATUS_NULL_POINTER);
    CHECK(strcmp(mcrt_last_error_code(), "null_pointer") == 0);
    CHECK(mcrt_builder_build(NULL, &hub) == MCRT_STATUS_NULL_POINTER);
    mcrt_string_free(NULL);
    mcrt_hub_free(NULL);
    mcrt_builder_free(NULL);
    mcrt_server_free(NULL);
}

static void test_bad_arguments(void) {
    McrtHub *hub = NULL;
    OK(mcrt_hub_new(NULL, 0, &hub));
    CHECK(mcrt_emit_module_online(NULL, S("M1"), S("{}"), &outcome) == MCRT_STATUS_NULL_POINTER);
    CHECK(strstr(mcrt_last_error_message(), "hub is NULL") != NULL);
    CHECK(mcrt_emit_module_online(hub, NULL, 2, S("{\"userId\":1}"), &outcome) == MCRT_STATUS_NULL_POINTER);
    CHECK(strstr(mcrt_last_error_message(), "module_id is NULL") != NULL);
    CHECK(mcrt_emit_module_online(hub, "M\xc3\x28", 3, S("{\"userId\":1}"), &outcome) == MCRT_STATUS_INVALID_UTF8);
    CHECK(mcrt_emit_module_online(hub, S("M1"), S("{\"userId\":"), &outcome) == MCRT_STATUS_INVALID_JSON);
    CHECK(strstr(mcrt_last_error_message(), "info_json is not valid JSON") != NULL);
    CHECK(mcrt_emit_module_online(hub, S("M1"), S("[1,2]"), &outcome) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(mcrt_emit_module_online(hub, S("M1"), S("{}"), &outcome) == MCRT_STATUS_REFUSED);
    CHECK(strcmp(mcrt_last_error_code(), "missing_owner") == 0);
    CHECK(mcrt_emit_telemetry_update(hub, S("nope"), S("{}"), &outcome) == MCRT_STATUS_REFUSED);
    CHECK(strcmp(mcrt_last_error_code(), "unknown_module") == 0);
    CHECK(mcrt_emit_module_added(hub, NULL, 0, &outcome) == MCRT_STATUS_NULL_POINTER);
    CHECK(mcrt_emit_module_removed(hub, S("{"), &outcome) == MCRT_STATUS_INVALID_JSON);
    CHECK(mcrt_emit_user_logged_in(hub, S("{\"id\":1}"), NULL, 0, &outcome) == MCRT_STATUS_NULL_POINTER);
    CHECK(mcrt_emit_user_logged_out(hub, S("{\"id\":true}"), S("s"), &outcome) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(mcrt_emit_user_profile_updated(hub, S("{}"), "\xff", 1, &outcome) == MCRT_STATUS_INVALID_UTF8);
    CHECK(mcrt_emit_user_registered(hub, S("null"), &outcome) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(mcrt_emit_stats_update(hub, NULL, 0, &outcome) == MCRT_STATUS_NOT_CONFIGURED);
    CHECK(mcrt_emit_stats_update(hub, S("[]"), &outcome) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(mcrt_emit_stats_update_with(hub, S("[]"), &outcome) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(mcrt_emit_stats_update_with(hub, NULL, 0, &outcome) == MCRT_STATUS_NULL_POINTER);
    CHECK(mcrt_emit_admin_action(hub, S("1"), NULL, 0, S("{}"), &outcome) == MCRT_STATUS_NULL_POINTER);
    CHECK(mcrt_emit_maintenance_mode(hub, true, S("m"), S("{}"), &outcome) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(mcrt_emit_to_user(hub, S("1"), S("x"), S("{"), &outcome) == MCRT_STATUS_INVALID_JSON);
    CHECK(mcrt_emit_to_admins(hub, S(""), S("{}"), &outcome) == MCRT_STATUS_INVALID_ARGUMENT);
    /* No host transport on this hub. */
    uint64_t id = 0;
    CHECK(mcrt_host_attach(hub, NULL, 0, &id) == MCRT_STATUS_NOT_CONFIGURED);
    CHECK(mcrt_hub_audit_query(hub, NULL, 0, NULL) == MCRT_STATUS_NULL_POINTER);
    char *json = NULL;
    CHECK(mcrt_hub_audit_query(hub, NULL, 0, &json) == MCRT_STATUS_NOT_CONFIGURED && json == NULL);

    /* The hub keeps serving, and the bad inputs are counted. */
    OK(mcrt_emit_module_online(hub, S("M1"), S("{\"userId\":1}"), &outcome));
    CHECK(outcome.delivered && outcome.connections == 0);
    OK(mcrt_hub_metrics(hub, &json));
    CHECK(strstr(json, "\"invalid_utf8\"") && strstr(json, "\"ffi\"") && strstr(json, "\"null_pointer\""));
    CHECK(strstr(json, "\"emits_changed\":1") != NULL);
    mcrt_string_free(json);
    mcrt_hub_free(hub);
}

/* The one configuration schema (src/config.rs): the same keys and defaults as Node
 * (bindings/node/test/config.test.js) and Python (bindings/python/tests/test_config.py). */
static const char HUB_DEFAULTS[] =
    "{\"jwtSecret\":null,\"jwt\":null,\"pages\":[\"modules\",\"admin\",\"dashboard\"],\"routes\":[],"
    "\"queueCapacity\":65536,\"queueMaxBytes\":2097152,\"maxAuthFailures\":5,\"maxConnectionsPerUser\":100,"
    "\"maxMessageBytes\":65536,"
    "\"snapshotPageSize\":500,\"deviceOfflineGraceMs\":5000,\"persist\":null,\"redis\":null,\"nodeId\":null}";
static const char SERVE_DEFAULTS[] =
    "{\"workerThreads\":0,\"pingIntervalMs\":25000,\"pingTimeoutMs\":20000,\"maxPayload\":1000000,"
    "\"maxMessageBytes\":65536,\"maxAttachments\":10,\"authDeadlineMs\":10000,\"connectTimeoutMs\":45000,"
    "\"maxConnections\":100000,\"maxConnectionsPerIp\":0,"
    "\"socketioPath\":\"/socket.io/\",\"nativePath\":\"/ws\",\"shutdownDeadlineMs\":5000,"
    "\"writeCoalesceMs\":2,\"slowConsumerTimeoutMs\":10000,\"apiKey\":null,\"allowedOrigins\":[],"
    "\"handshakesPerSecond\":0,\"maxHeaderBytes\":32768,\"headerTimeoutMs\":10000,\"trustedProxies\":[],\"raiseFdLimit\":true}";

static void test_config_schema(void) {
    char *json = NULL;
    OK(mcrt_hub_config_normalize(NULL, 0, &json));
    CHECK(strcmp(json, HUB_DEFAULTS) == 0);
    mcrt_string_free(json);
    OK(mcrt_serve_config_normalize(S("{}"), &json));
    CHECK(strcmp(json, SERVE_DEFAULTS) == 0);
    mcrt_string_free(json);
    /* Python's forms are documented aliases of the same keys. */
    OK(mcrt_hub_config_normalize(S("{\"limits\":{\"queue_capacity\":16},\"device_grace\":0.25,"
                                   "\"routes\":{\"cart:moved\":{\"users\":[\"dashboard\"]}}}"), &json));
    CHECK(strstr(json, "\"queueCapacity\":16") && strstr(json, "\"deviceOfflineGraceMs\":250") &&
          strstr(json, "[{\"event\":\"cart:moved\",\"userPages\":[\"dashboard\"],\"adminPages\":[]}]"));
    mcrt_string_free(json);
    OK(mcrt_serve_config_normalize(S("{\"ping_interval\":1.5,\"api_key\":\"k\"}"), &json));
    CHECK(strstr(json, "\"pingIntervalMs\":1500") && strstr(json, "\"apiKey\":\"k\""));
    mcrt_string_free(json);

    /* An unknown key is refused, naming it: by the normalizers, the builder and mcrt_serve. */
    json = NULL;
    CHECK(mcrt_hub_config_normalize(S("{\"persist\":{\"path\":\"x\",\"durabilty\":\"sync\"}}"), &json) ==
          MCRT_STATUS_INVALID_ARGUMENT && json == NULL);
    CHECK(strstr(mcrt_last_error_message(), "\"persist.durabilty\"") != NULL);
    McrtBuilder *builder = NULL;
    CHECK(mcrt_builder_new(S("{\"jwtSecert\":\"x\"}"), &builder) == MCRT_STATUS_INVALID_ARGUMENT && builder == NULL);
    CHECK(strstr(mcrt_last_error_message(), "\"jwtSecert\"") != NULL);
    CHECK(mcrt_serve_config_normalize(S("{\"pingIntervalSecs\":1}"), &json) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(mcrt_last_error_message(), "\"pingIntervalSecs\"") != NULL);
    McrtHub *hub = NULL;
    McrtServer *server = NULL;
    OK(mcrt_hub_new(NULL, 0, &hub));
    CHECK(mcrt_serve(hub, S("127.0.0.1:0"), S("{\"pingIntervalSecs\":1}"), &server) == MCRT_STATUS_INVALID_ARGUMENT &&
          server == NULL);
    CHECK(strstr(mcrt_last_error_message(), "\"pingIntervalSecs\"") != NULL);
    mcrt_hub_free(hub);

    /* A bad value names the key, what was expected and what arrived. */
    CHECK(mcrt_hub_config_normalize(S("{\"queueCapacity\":\"many\"}"), &json) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(mcrt_last_error_message(), "queueCapacity: expected") &&
          strstr(mcrt_last_error_message(), "got string \"many\""));

    /* The broker keys: a Redis URL of another scheme is refused by name; a Redis that
     * does not answer fails the hub's creation with MCRT_STATUS_IO. */
    CHECK(mcrt_hub_new(S("{\"redis\":\"http://127.0.0.1:6379\"}"), &hub) == MCRT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(mcrt_last_error_message(), "redis: expected") != NULL);
    hub = NULL;
    CHECK(mcrt_hub_new(S("{\"redis\":\"redis://127.0.0.1:1\",\"nodeId\":\"c-1\"}"), &hub) == MCRT_STATUS_IO &&
          hub == NULL);
    CHECK(strstr(mcrt_last_error_message(), "broker:") != NULL);
}

/* Optional JSON arguments may be NULL (JSON null, as an omitted argument in Rust, Python
 * and Node), and the outcome is {outcome, connections} with `delivered` kept as an alias. */
static void test_optional_arguments_and_outcome(void) {
    McrtHub *hub = NULL;
    OK(mcrt_hub_new(NULL, 0, &hub));
    OK(mcrt_emit_module_online(hub, S("M1"), S("{\"userId\":1}"), &outcome));
    CHECK(outcome.outcome == MCRT_OUTCOME_KIND_DELIVERED && outcome.delivered && outcome.connections == 0);
    OK(mcrt_emit_module_online(hub, S("M1"), NULL, 0, &outcome));
    CHECK(outcome.outcome == MCRT_OUTCOME_KIND_UNCHANGED && !outcome.delivered && outcome.connections == 0);
    OK(mcrt_emit_module_offline(hub, S("M1"), NULL, 0, &outcome));
    CHECK(outcome.outcome == MCRT_OUTCOME_KIND_DELIVERED && outcome.delivered);
    OK(mcrt_emit_admin_action(hub, S("1"), S("purge"), NULL, 0, &outcome));
    CHECK(outcome.outcome == MCRT_OUTCOME_KIND_DELIVERED);
    OK(mcrt_emit_to_user(hub, S("1"), S("cart:moved"), NULL, 0, &outcome));
    CHECK(outcome.outcome == MCRT_OUTCOME_KIND_DELIVERED);
    OK(mcrt_emit_to_admins(hub, S("cart:moved"), NULL, 0, NULL));
    /* Required JSON stays required. */
    CHECK(mcrt_emit_telemetry_update(hub, S("M1"), NULL, 0, &outcome) == MCRT_STATUS_NULL_POINTER);
    mcrt_hub_free(hub);
}

static void test_persistence_and_audit(void) {
    char path[] = "/tmp/mcrt-c-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    char config[256];
    snprintf(config, sizeof config, "{\"persist\":{\"path\":\"%s\",\"durability\":\"sync\"}}", path);
    McrtHub *hub = NULL;
    OK(mcrt_hub_new(S(config), &hub));
    OK(mcrt_emit_module_online(hub, S("MC-1"), S("{\"userId\":5}"), &outcome));
    char *rows = NULL;
    OK(mcrt_hub_audit_query(hub, S("{\"moduleId\":\"MC-1\",\"kind\":\"emit\"}"), &rows));
    CHECK(strstr(rows, "\"module_online\"") != NULL);
    mcrt_string_free(rows);
    CHECK(mcrt_hub_audit_query(hub, S("{\"kind\":\"nope\"}"), &rows) == MCRT_STATUS_INVALID_ARGUMENT);
    OK(mcrt_hub_shutdown(hub, 1000));
    mcrt_hub_free(hub);
    char side[300];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void test_serve(void) {
    McrtHub *hub = NULL;
    OK(mcrt_hub_new(NULL, 0, &hub));
    McrtServer *server = NULL;
    CHECK(mcrt_serve(hub, S("not an address"), NULL, 0, &server) == MCRT_STATUS_IO);
    CHECK(mcrt_serve(hub, S("127.0.0.1:0"), S("{\"pingIntervalMs\":\"x\"}"), &server) == MCRT_STATUS_INVALID_ARGUMENT);
    OK(mcrt_serve(hub, S("127.0.0.1:0"), S("{\"workerThreads\":1}"), &server));
    uint16_t port = 0;
    OK(mcrt_server_port(server, &port));
    CHECK(port > 0);
    mcrt_server_free(server);
    mcrt_hub_free(hub);
}

int main(void) {
    test_version_and_errors();
    test_host_transport_and_every_emit();
    test_frames_from_library_threads();
    test_binary_client_event_handler();
    test_answering_client_event_handler();
    test_executor_runs_originated_emits_on_the_host_thread();
    test_bad_arguments();
    test_config_schema();
    test_optional_arguments_and_outcome();
    test_persistence_and_audit();
    test_serve();
    printf("C suite: %d checks passed (microcoaster-realtime %s)\n", checks, mcrt_version());
    return 0;
}
