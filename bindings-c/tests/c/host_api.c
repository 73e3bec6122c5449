/*
 * The calls for hosts that do not see every response through the session: whether a
 * URL is the resource's (`bf_session_covers`), a request handed to another HTTP stack
 * (`bf_session_finish_request`, `bf_session_handle_unauthorized`), and an authorization
 * finished by another instance of the session (`bf_session_pending_authorization`,
 * `bf_session_resume_authorization`).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CONFIG[] =
    "{\"resource_url\": \"https://mcp.example.com/mcp\", \"credential\": {\"kind\": \"oauth\", "
    "\"client\": {\"client_id\": \"client-1\", \"auth_method\": \"none\"}, "
    "\"redirect_uri\": \"http://127.0.0.1:8976/callback\"}}";

static const char TOKEN_CONFIG[] =
    "{\"resource_url\": \"https://mcp.example.com/mcp\", \"credential\": {\"kind\": \"oauth\", "
    "\"client\": {\"client_id\": \"client-1\", \"auth_method\": \"none\"}, "
    "\"token_endpoint\": \"https://auth.example.com/token\", "
    "\"issuer\": \"https://auth.example.com\"}}";

static const char PRM_LINE[] =
    "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"";

static const char PRM[] =
    "{\"resource\":\"https://mcp.example.com/mcp\",\"authorization_servers\":[\"https://auth.example.com\"]}";

static const char AS_META[] =
    "{\"issuer\":\"https://auth.example.com\",\"authorization_endpoint\":\"https://auth.example.com/authorize\","
    "\"token_endpoint\":\"https://auth.example.com/token\",\"code_challenge_methods_supported\":[\"S256\"],"
    "\"authorization_response_iss_parameter_supported\":true,\"response_types_supported\":[\"code\"]}";

static const uint8_t SEED[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

static bf_session *new_session(const char *config) {
    bf_session *s = NULL;
    if (bf_session_new(config, strlen(config), SEED, sizeof SEED, 0, &s) != BF_STATUS_OK) {
        return NULL;
    }
    return s;
}

/* Whether `len` bytes at `hay` contain `needle`. */
static bool contains(const uint8_t *hay, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; hay != NULL && i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool drain(bf_session *s) {
    bf_action a;
    do {
        if (bf_session_poll_action(s, &a) != BF_STATUS_OK) {
            return false;
        }
    } while (a.kind != BF_ACTION_KIND_NONE);
    return true;
}

static void covers_only_the_resource_origin(void *arg) {
    (void)arg;
    bf_session *s = new_session(TOKEN_CONFIG);
    CHECK(s != NULL, "bf_session_new failed");
    bool covered = false;
    CHECK_OK(bf_session_covers(s, str_of("https://mcp.example.com/other/path?x=1"), &covered));
    CHECK(covered, "another path of the resource's origin is covered");
    covered = true;
    CHECK_OK(bf_session_covers(s, str_of("https://evil.example.com/mcp"), &covered));
    CHECK(!covered, "another host is not covered");
    covered = true;
    CHECK_OK(bf_session_covers(s, str_of("http://mcp.example.com/mcp"), &covered));
    CHECK(!covered, "another scheme is not covered");
    covered = true;
    CHECK_OK(bf_session_covers(s, str_of("https://mcp.example.com:8443/mcp"), &covered));
    CHECK(!covered, "another port is not covered");
    covered = true;
    CHECK_OK(bf_session_covers(s, str_of("not a url"), &covered));
    CHECK(!covered, "an unreadable URL is not covered");
    CHECK_STATUS(bf_session_covers(s, str_of("https://mcp.example.com/"), NULL), BF_STATUS_NULL_POINTER);
    const char bad[] = {'h', 't', 't', 'p', (char)0xff};
    bf_str b = {bad, sizeof bad};
    CHECK_STATUS(bf_session_covers(s, b, &covered), BF_STATUS_INVALID_UTF8);
    bf_session_free(s);
}

/* A host that hands the token over: begin, take the send, finish; a 401 is told by
 * generation. */
static void handed_over_requests_and_their_401s(void *arg) {
    (void)arg;
    bf_session *s = new_session(TOKEN_CONFIG);
    CHECK(s != NULL, "bf_session_new failed");
    uint64_t ttl = 3600;
    bf_str refresh = str_of("rt-1");
    CHECK_OK(bf_session_set_tokens(s, str_of("at-1"), &refresh, &ttl, NULL, 0));
    CHECK(drain(s), "drain failed");
    uint64_t id = 0;
    CHECK_OK(bf_session_begin_request(s, 10, &id));
    bf_action a;
    CHECK_OK(bf_session_poll_action(s, &a));
    CHECK(a.kind == BF_ACTION_KIND_SEND, "a send, got kind %u", (unsigned)a.kind);
    uint64_t generation = a.send.generation;
    CHECK(generation >= 1, "the send carries the token's generation");
    CHECK_OK(bf_session_finish_request(s, id));
    size_t pending = 99;
    CHECK_OK(bf_session_pending_requests(s, &pending));
    CHECK(pending == 0, "a finished request is no longer pending (%zu)", pending);
    CHECK_OK(bf_session_poll_action(s, &a));
    CHECK(a.kind == BF_ACTION_KIND_NONE, "nothing follows a finished request");
    /* Finishing it again, or an unknown id, changes nothing. */
    CHECK_OK(bf_session_finish_request(s, id));
    CHECK_OK(bf_session_finish_request(s, 12345));

    /* A 401 for an older generation is stale: nothing happens. */
    CHECK_OK(bf_session_set_tokens(s, str_of("at-2"), &refresh, &ttl, NULL, 20));
    CHECK(drain(s), "drain failed");
    CHECK_OK(bf_session_handle_unauthorized(s, generation, NULL, 0, 30));
    CHECK_OK(bf_session_poll_action(s, &a));
    CHECK(a.kind == BF_ACTION_KIND_NONE, "a stale 401 starts nothing, got kind %u", (unsigned)a.kind);
    bf_phase phase;
    CHECK_OK(bf_session_phase(s, 30, &phase));
    CHECK(phase == BF_PHASE_FRESH, "still fresh after a stale 401");

    /* A 401 for the current one: refused, and refreshed. */
    CHECK_OK(bf_session_begin_request(s, 40, &id));
    CHECK_OK(bf_session_poll_action(s, &a));
    CHECK(a.kind == BF_ACTION_KIND_SEND, "a send");
    uint64_t current = a.send.generation;
    CHECK(current > generation, "the new tokens have a newer generation");
    CHECK_OK(bf_session_finish_request(s, id));
    bf_str line = str_of("Bearer error=\"invalid_token\"");
    CHECK_OK(bf_session_handle_unauthorized(s, current, &line, 1, 50));
    CHECK_OK(bf_session_poll_action(s, &a));
    CHECK(a.kind == BF_ACTION_KIND_FETCH && a.fetch.purpose == BF_FETCH_PURPOSE_REFRESH,
          "a refresh, got kind %u", (unsigned)a.kind);
    /* The next request waits for the new credential. */
    CHECK_OK(bf_session_begin_request(s, 60, &id));
    CHECK_OK(bf_session_poll_action(s, &a));
    CHECK(a.kind == BF_ACTION_KIND_NONE, "the next request waits, got kind %u", (unsigned)a.kind);
    bf_stats st;
    CHECK_OK(bf_session_stats(s, &st));
    CHECK(st.unauthorized_seen == 2, "both 401s counted (%u)", st.unauthorized_seen);
    CHECK_STATUS(bf_session_handle_unauthorized(NULL, 1, NULL, 0, 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_unauthorized(s, 1, NULL, 1, 0), BF_STATUS_NULL_POINTER);
    bf_session_free(s);
}

/* From nothing to an authorize action: the probe's 401 told by generation 0. */
static bool to_authorize(bf_session *s) {
    uint64_t id = 0;
    bf_action a;
    if (bf_session_begin_request(s, 0, &id) != BF_STATUS_OK || bf_session_poll_action(s, &a) != BF_STATUS_OK ||
        a.kind != BF_ACTION_KIND_SEND || a.send.generation != 0) {
        return false;
    }
    bf_str line = str_of(PRM_LINE);
    if (bf_session_finish_request(s, id) != BF_STATUS_OK ||
        bf_session_handle_unauthorized(s, 0, &line, 1, 10) != BF_STATUS_OK ||
        bf_session_poll_action(s, &a) != BF_STATUS_OK || a.kind != BF_ACTION_KIND_FETCH ||
        a.fetch.purpose != BF_FETCH_PURPOSE_RESOURCE_METADATA) {
        return false;
    }
    uint64_t fid = a.fetch.id;
    if (bf_session_handle_http_response(s, fid, 200, NULL, 0, (const uint8_t *)PRM, strlen(PRM), 20) != BF_STATUS_OK ||
        bf_session_poll_action(s, &a) != BF_STATUS_OK || a.kind != BF_ACTION_KIND_FETCH ||
        a.fetch.purpose != BF_FETCH_PURPOSE_SERVER_METADATA) {
        return false;
    }
    fid = a.fetch.id;
    if (bf_session_handle_http_response(s, fid, 200, NULL, 0, (const uint8_t *)AS_META, strlen(AS_META), 30) !=
        BF_STATUS_OK) {
        return false;
    }
    do {
        if (bf_session_poll_action(s, &a) != BF_STATUS_OK) {
            return false;
        }
    } while (a.kind != BF_ACTION_KIND_NONE && a.kind != BF_ACTION_KIND_AUTHORIZE);
    return a.kind == BF_ACTION_KIND_AUTHORIZE && drain(s);
}

static void another_instance_takes_the_redirect(void *arg) {
    (void)arg;
    bf_session *first = new_session(CONFIG);
    CHECK(first != NULL, "bf_session_new failed");
    bool has = true;
    bf_string pending = {NULL, 0};
    CHECK_OK(bf_session_pending_authorization(first, &has, &pending));
    CHECK(!has && pending.ptr == NULL, "nothing pending before authorization");
    CHECK(to_authorize(first), "the session did not reach an authorize action");
    CHECK_OK(bf_session_pending_authorization(first, &has, &pending));
    CHECK(has && pending.ptr != NULL && pending.ptr[pending.len] == '\0', "an authorization is pending");
    cJSON *j = cJSON_ParseWithLength(pending.ptr, pending.len);
    CHECK(j != NULL, "pending JSON parses");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "state");
    const cJSON *verifier = cJSON_GetObjectItemCaseSensitive(j, "code_verifier");
    const cJSON *issuer = cJSON_GetObjectItemCaseSensitive(j, "issuer");
    bool shape = cJSON_IsString(state) && cJSON_IsString(verifier) && cJSON_IsString(issuer) &&
                 strcmp(issuer->valuestring, "https://auth.example.com") == 0 &&
                 cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "deadline"));
    char redirect[512];
    if (shape) {
        snprintf(redirect, sizeof redirect,
                 "http://127.0.0.1:8976/callback?code=code-1&state=%s&iss=https%%3A%%2F%%2Fauth.example.com",
                 state->valuestring);
    }
    cJSON_Delete(j);
    CHECK(shape, "pending JSON has core's shape: %s", pending.ptr);

    /* The instance that comes back: the stored snapshot (server, client) plus the
     * pending authorization. */
    bf_string snap = {NULL, 0};
    CHECK_OK(bf_session_snapshot(first, &snap));
    bf_session_free(first);
    bf_session *second = NULL;
    bf_status st = bf_session_restore(CONFIG, strlen(CONFIG), snap.ptr, snap.len, SEED, sizeof SEED, 100, &second);
    bf_string_free(&snap);
    CHECK_OK(st);
    /* Without the pending authorization, the redirect is not this session's. */
    CHECK_STATUS(bf_session_handle_redirect(second, str_of(redirect), 110), BF_STATUS_REDIRECT);
    CHECK_STATUS(bf_session_resume_authorization(second, "{\"state\": 1}", 12, 110), BF_STATUS_INVALID_ARGUMENT);
    bf_error e;
    CHECK_OK(bf_session_last_error(second, &e));
    CHECK(str_eq(e.code, "pending_authorization_malformed"), "code %.*s", (int)e.code.len, e.code.ptr);
    CHECK_STATUS(bf_session_resume_authorization(second, NULL, 5, 110), BF_STATUS_NULL_POINTER);
    CHECK_OK(bf_session_resume_authorization(second, pending.ptr, pending.len, 120));
    bf_string_free(&pending);
    CHECK(pending.ptr == NULL, "bf_string_free resets the string");
    CHECK_OK(bf_session_handle_redirect(second, str_of(redirect), 130));
    bf_action a;
    CHECK_OK(bf_session_poll_action(second, &a));
    CHECK(a.kind == BF_ACTION_KIND_FETCH && a.fetch.purpose == BF_FETCH_PURPOSE_CODE_EXCHANGE,
          "the code is exchanged, got kind %u", (unsigned)a.kind);
    bool has_verifier = contains(a.fetch.body.ptr, a.fetch.body.len, "code_verifier=") &&
                        contains(a.fetch.body.ptr, a.fetch.body.len, "code=code-1");
    CHECK(has_verifier, "the exchange carries the code and the first instance's verifier");
    CHECK(drain(second), "drain failed");
    CHECK_OK(bf_session_pending_authorization(second, &has, &pending));
    CHECK(!has, "nothing pending once the redirect was taken");
    bf_session_free(second);
}

void host_api_tests(void) {
    run_test("host_api::covers_only_the_resource_origin", covers_only_the_resource_origin, NULL);
    run_test("host_api::handed_over_requests_and_their_401s", handed_over_requests_and_their_401s, NULL);
    run_test("host_api::another_instance_takes_the_redirect", another_instance_takes_the_redirect, NULL);
}
