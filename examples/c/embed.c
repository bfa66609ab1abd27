/* Embedding microcoaster-realtime in a C program: a hub with a host authenticator and a
 * stats provider, served on a port (Socket.IO at /socket.io/, native JSON at /ws), then
 * driven by the program's own events.
 *
 *   scripts/c-test builds and runs it; by hand:
 *   cargo build --release && gcc -Wall -Wextra -Werror -Iinclude examples/c/embed.c \
 *       -Ltarget/release -lmicrocoaster_realtime -o embed && LD_LIBRARY_PATH=target/release ./embed
 *
 * Usage: embed [port] [seconds]   (default 3000, and 0 seconds: emit once and stop)
 * A browser connects with io("http://127.0.0.1:3000", {auth: {token: "demo-ada"}}). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "microcoaster_realtime.h"

#define S(text) (text), strlen(text)

static int fail(const char *what) {
    fprintf(stderr, "%s failed: [%s] %s\n", what, mcrt_last_error_code(), mcrt_last_error_message());
    return 1;
}

/* The host's own credential check: "demo-ada" is user 123. Anything else goes on to the
 * built-in authenticators (JWT, sessions from mcrt_emit_user_logged_in). Runs on a server
 * thread; this one touches no shared state. */
static int32_t authenticate(void *user_data, const char *request, size_t request_len,
                            const char *context, size_t context_len, McrtReply *reply) {
    (void)user_data; (void)request_len; (void)context; (void)context_len;
    if (strstr(request, "\"token\":\"demo-ada\"") == NULL) return MCRT_AUTH_VERDICT_PASS;
    mcrt_reply_set(reply, S("{\"userId\":123,\"role\":\"user\"}"));
    return MCRT_AUTH_VERDICT_ACCEPT;
}

/* The host's database would count these; runs on the thread calling mcrt_emit_stats_update. */
static int32_t stats(void *user_data, McrtReply *reply) {
    const int *modules = user_data;
    char json[96];
    snprintf(json, sizeof json, "{\"users\":1,\"modules\":%d}", *modules);
    return mcrt_reply_set(reply, S(json)) == MCRT_STATUS_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 3000;
    int seconds = argc > 2 ? atoi(argv[2]) : 0;
    int modules = 1;

    McrtBuilder *builder = NULL;
    McrtHub *hub = NULL;
    McrtServer *server = NULL;
    if (mcrt_builder_new(S("{\"jwtSecret\":\"change me\"}"), &builder) != MCRT_STATUS_OK) return fail("builder");
    if (mcrt_builder_set_authenticator(builder, authenticate, NULL) != MCRT_STATUS_OK) return fail("authenticator");
    if (mcrt_builder_set_stats_provider(builder, stats, &modules) != MCRT_STATUS_OK) return fail("stats provider");
    if (mcrt_builder_build(builder, &hub) != MCRT_STATUS_OK) return fail("build");

    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    if (mcrt_serve(hub, S(addr), NULL, 0, &server) != MCRT_STATUS_OK) {
        mcrt_hub_free(hub);
        return fail("serve");
    }
    uint16_t bound = 0;
    mcrt_server_port(server, &bound);
    printf("serving on 127.0.0.1:%u (microcoaster-realtime %s)\n", bound, mcrt_version());

    McrtOutcome outcome;
    const char *info = "{\"type\":\"Station\",\"name\":\"Station principale\",\"userId\":123}";
    if (mcrt_emit_module_online(hub, S("MC-1234-STN"), S(info), &outcome) != MCRT_STATUS_OK) return fail("online");
    printf("module_online: %s, %zu connections\n", outcome.delivered ? "delivered" : "unchanged", outcome.connections);
    mcrt_emit_module_online(hub, S("MC-1234-STN"), S(info), &outcome);
    printf("module_online again: %s\n", outcome.delivered ? "delivered" : "unchanged");
    if (mcrt_emit_stats_update(hub, NULL, 0, &outcome) != MCRT_STATUS_OK) return fail("stats update");
    printf("stats_update: %s\n", outcome.delivered ? "delivered" : "unchanged");

    for (int tick = 0; tick < seconds; tick++) {
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
        char telemetry[64];
        snprintf(telemetry, sizeof telemetry, "{\"speed\":%d,\"tick\":%d}", 10 + tick % 5, tick);
        mcrt_emit_telemetry_update(hub, S("MC-1234-STN"), S(telemetry), &outcome);
    }

    char *metrics = NULL;
    if (mcrt_hub_metrics(hub, &metrics) == MCRT_STATUS_OK) {
        printf("metrics: %.120s...\n", metrics);
        mcrt_string_free(metrics);
    }
    mcrt_server_free(server);
    mcrt_hub_free(hub);
    return 0;
}
