/*
 * Bad input through the C ABI: NULL pointers, non-UTF-8 strings, wrong lengths, enum
 * values out of range, misaligned and too-small buffers. Each is a status code and a
 * recorded error, never a crash, and a refused call changes nothing.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CONFIG[] =
    "{\"resource_url\": \"https://mcp.example.com/mcp\", \"credential\": {\"kind\": \"oauth\", "
    "\"client\": {\"client_id\": \"client-1\", \"auth_method\": \"none\"}, "
    "\"token_endpoint\": \"https://auth.example.com/token\", "
    "\"issuer\": \"https://auth.example.com\"}}";

static const uint8_t SEED[32] = {42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42,
                                 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42};

static bf_session *new_session(void) {
    bf_session *s = NULL;
    if (bf_session_new(CONFIG, strlen(CONFIG), SEED, sizeof SEED, 0, &s) != BF_STATUS_OK) {
        return NULL;
    }
    return s;
}

/* A session with a fresh token set (60 s) at t=0. */
static bf_session *session_with_tokens(void) {
    bf_session *s = new_session();
    if (s == NULL) {
        return NULL;
    }
    uint64_t ttl = 60;
    bf_str refresh = str_of("rt-1");
    if (bf_session_set_tokens(s, str_of("at-1"), &refresh, &ttl, NULL, 0) != BF_STATUS_OK) {
        bf_session_free(s);
        return NULL;
    }
    /* Drain the persist the new tokens ask for. */
    bf_action a;
    do {
        if (bf_session_poll_action(s, &a) != BF_STATUS_OK) {
            bf_session_free(s);
            return NULL;
        }
    } while (a.kind != BF_ACTION_KIND_NONE);
    return s;
}

static bool error_is(const char *code) {
    bf_error e;
    if (bf_last_error(&e) != BF_STATUS_OK) {
        return false;
    }
    return str_eq(e.code, code) && e.message.len > 0 && e.code.ptr[e.code.len] == '\0' &&
           e.message.ptr[e.message.len] == '\0';
}

static bool last_message_contains(const char *needle) {
    bf_error e;
    bf_last_error(&e);
    return e.message.ptr != NULL && strstr(e.message.ptr, needle) != NULL;
}

static void null_session(void *arg) {
    (void)arg;
    uint64_t id;
    bf_verdict v;
    bf_action a;
    bf_action_kind k;
    bf_str json;
    bool has;
    uint64_t at;
    bf_phase p;
    bf_stats st;
    size_t n;
    bf_header h[1];
    bf_string snap;
    bf_cause cause;
    bf_error e;
    CHECK_STATUS(bf_session_begin_request(NULL, 0, &id), BF_STATUS_NULL_POINTER);
    CHECK(error_is("null_pointer"), "null_pointer not recorded");
    CHECK_STATUS(bf_session_cancel_request(NULL, 1), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_set_tokens(NULL, str_of("x"), NULL, NULL, NULL, 0),
                 BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_reauthorize(NULL, 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_add_entropy(NULL, SEED, 32), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_resource_response(NULL, 1, 200, NULL, 0, 0, &v),
                 BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_http_response(NULL, 1, 200, NULL, 0, NULL, 0, 0),
                 BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_http_error(NULL, 1, BF_HTTP_ERROR_KIND_IO, 0),
                 BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_helper_stdout(NULL, NULL, 0, 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_helper_failure(NULL, NULL, 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_redirect(NULL, str_of("x"), 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_authorize_error(NULL, 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_persist_failed(NULL, 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_handle_timeout(NULL, 0), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_poll_action(NULL, &a), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_poll_action_json(NULL, &k, &json), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_poll_timeout(NULL, &has, &at), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_phase(NULL, 0, &p), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_stats(NULL, &st), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_pending_requests(NULL, &n), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_headers(NULL, 1, h, 1, &n, &has), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_snapshot(NULL, &snap), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_last_error(NULL, &e), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_current_error(NULL, &has, &cause), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_last_error(NULL), BF_STATUS_NULL_POINTER);
    bf_session_free(NULL);
    bf_string_free(NULL);
}

static void create_arguments(void *arg) {
    (void)arg;
    bf_session *s = (bf_session *)&s; /* not NULL: must be reset on failure */
    CHECK_STATUS(bf_session_new(CONFIG, strlen(CONFIG), SEED, 32, 0, NULL),
                 BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_new(NULL, 10, SEED, 32, 0, &s), BF_STATUS_NULL_POINTER);
    CHECK(s == NULL, "*out not reset to NULL on failure");
    CHECK_STATUS(bf_session_new(CONFIG, strlen(CONFIG), SEED, 31, 0, &s), BF_STATUS_INVALID_LENGTH);
    CHECK(error_is("invalid_length"), "invalid_length not recorded");
    CHECK_STATUS(bf_session_new(CONFIG, strlen(CONFIG), NULL, 32, 0, &s), BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_session_new("{", 1, SEED, 32, 0, &s), BF_STATUS_CONFIG);
    CHECK(error_is("config_malformed"), "config_malformed not recorded");
    /* A typo is named; a value (here a would-be secret) is never quoted. */
    const char *typo = "{\"resource_url\": \"https://mcp.example.com/mcp\", \"credential\": "
                       "{\"kind\": \"oauth\", \"redirect_url\": \"SECRET-VALUE\"}}";
    CHECK_STATUS(bf_session_new(typo, strlen(typo), SEED, 32, 0, &s), BF_STATUS_CONFIG);
    CHECK(last_message_contains("redirect_url"), "the message does not name the field");
    CHECK(!last_message_contains("SECRET-VALUE"), "the message quotes a value");
    const char *wrong = "{\"resource_url\": \"https://mcp.example.com/mcp\", \"credential\": "
                        "{\"kind\": \"oauth\", \"client\": {\"client_id\": \"c\", \"auth_method\": "
                        "\"none\", \"client_secret\": 7}}, \"policy\": {\"max_scopes\": \"SECRET\"}}";
    CHECK_STATUS(bf_session_new(wrong, strlen(wrong), SEED, 32, 0, &s), BF_STATUS_CONFIG);
    CHECK(!last_message_contains("SECRET"), "the message quotes a value");
    const char *invalid = "{\"resource_url\": \"not a url\", \"credential\": {\"kind\": \"oauth\"}}";
    CHECK_STATUS(bf_session_new(invalid, strlen(invalid), SEED, 32, 0, &s), BF_STATUS_CONFIG);
    CHECK(error_is("config_invalid"), "config_invalid not recorded");
    /* Not UTF-8 inside a JSON string. */
    const char bad_utf8[] = "{\"resource_url\": \"https://mcp.example.com/\xff\", \"credential\": "
                            "{\"kind\": \"oauth\"}}";
    CHECK_STATUS(bf_session_new(bad_utf8, sizeof bad_utf8 - 1, SEED, 32, 0, &s), BF_STATUS_CONFIG);
    CHECK(s == NULL, "*out not NULL after failure");
}

static void restore_arguments(void *arg) {
    (void)arg;
    bf_session *s = NULL;
    const char *bad = "{\"version\": 1, \"tokens\": {\"access_token\": \"at-SECRET\", "
                      "\"received_at\": \"rt-SECRET\", \"generation\": 1}}";
    CHECK_STATUS(bf_session_restore(CONFIG, strlen(CONFIG), bad, strlen(bad), SEED, 32, 0, &s),
                 BF_STATUS_SNAPSHOT);
    CHECK(error_is("snapshot_malformed"), "snapshot_malformed not recorded");
    CHECK(!last_message_contains("SECRET"), "the message quotes the snapshot");
    const char *newer = "{\"version\": 99}";
    CHECK_STATUS(
        bf_session_restore(CONFIG, strlen(CONFIG), newer, strlen(newer), SEED, 32, 0, &s),
        BF_STATUS_SNAPSHOT);
    CHECK(error_is("snapshot_unsupported_version"), "unsupported version not recorded");
    CHECK_STATUS(bf_session_restore(CONFIG, strlen(CONFIG), NULL, 5, SEED, 32, 0, &s),
                 BF_STATUS_NULL_POINTER);
    CHECK(s == NULL, "*out not NULL after failure");
    /* A snapshot taken from a session restores. */
    bf_session *a = session_with_tokens();
    CHECK(a != NULL, "session");
    bf_string snap;
    CHECK_OK(bf_session_snapshot(a, &snap));
    bf_session_free(a);
    CHECK(snap.ptr != NULL && snap.ptr[snap.len] == '\0', "snapshot not NUL-terminated");
    bf_status st = bf_session_restore(CONFIG, strlen(CONFIG), snap.ptr, snap.len, SEED, 32, 0, &s);
    bf_string_free(&snap);
    CHECK(snap.ptr == NULL && snap.len == 0, "bf_string_free did not reset the string");
    bf_string_free(&snap); /* a second free does nothing */
    CHECK_OK(st);
    bf_phase p;
    CHECK_OK(bf_session_phase(s, 0, &p));
    bf_session_free(s);
    CHECK(p == BF_PHASE_FRESH, "restored phase %u", (unsigned)p);
}

static void non_utf8_changes_nothing(void *arg) {
    (void)arg;
    bf_session *s = session_with_tokens();
    CHECK(s != NULL, "session");
    uint64_t id = 0;
    bf_action a;
    bool ok = bf_session_begin_request(s, 1, &id) == BF_STATUS_OK &&
              bf_session_poll_action(s, &a) == BF_STATUS_OK && a.kind == BF_ACTION_KIND_SEND;
    static const char bad_line[] = "Bearer error=\"\xff\"";
    bf_str bad = {bad_line, sizeof bad_line - 1};
    bf_verdict v = BF_VERDICT_RETRY;
    bf_status st = bf_session_handle_resource_response(s, id, 401, &bad, 1, 2, &v);
    bool recorded = error_is("invalid_utf8") && last_message_contains("www_authenticate");
    bf_error se;
    bf_session_last_error(s, &se);
    bool session_recorded = se.status == BF_STATUS_INVALID_UTF8 && str_eq(se.code, "invalid_utf8");
    size_t pending = 0;
    bf_session_pending_requests(s, &pending);
    bf_stats stats;
    bf_session_stats(s, &stats);
    bf_action after;
    bf_session_poll_action(s, &after);
    /* The same response, readable, is handled. */
    bf_str good = str_of("Bearer error=\"invalid_token\"");
    bf_status st2 = bf_session_handle_resource_response(s, id, 200, &good, 1, 3, &v);
    bf_str bad_url = {"http://127.0.0.1/cb?code=\xfe", 26};
    bf_status st3 = bf_session_handle_redirect(s, bad_url, 4);
    bf_str bad_token = {"at-\xc0", 4};
    bf_status st4 = bf_session_set_tokens(s, bad_token, NULL, NULL, NULL, 5);
    bf_header hdr = {str_of("Retry-After"), {"\x80", 1}};
    bf_status st5 = bf_session_handle_http_response(s, 1, 200, &hdr, 1, NULL, 0, 6);
    bf_stats stats2;
    bf_session_stats(s, &stats2);
    bf_session_free(s);
    CHECK(ok, "setup");
    CHECK(st == BF_STATUS_INVALID_UTF8, "status %u", (unsigned)st);
    CHECK(recorded, "the thread's record does not say which argument");
    CHECK(session_recorded, "the session's record does not have it");
    CHECK(pending == 1, "the request is no longer pending (%zu)", pending);
    CHECK(stats.unauthorized_seen == 0, "the 401 was counted");
    CHECK(after.kind == BF_ACTION_KIND_NONE, "the refused call queued an action");
    CHECK(st2 == BF_STATUS_OK && v == BF_VERDICT_DELIVER, "the good response was not delivered");
    CHECK(st3 == BF_STATUS_INVALID_UTF8, "redirect: %u", (unsigned)st3);
    CHECK(st4 == BF_STATUS_INVALID_UTF8, "set_tokens: %u", (unsigned)st4);
    CHECK(st5 == BF_STATUS_INVALID_UTF8, "http_response: %u", (unsigned)st5);
    CHECK(stats2.credentials_installed == stats.credentials_installed,
          "a refused set_tokens installed tokens");
}

static void null_outputs_change_nothing(void *arg) {
    (void)arg;
    bf_session *s = session_with_tokens();
    CHECK(s != NULL, "session");
    bf_status st = bf_session_begin_request(s, 1, NULL);
    size_t pending = 99;
    bf_session_pending_requests(s, &pending);
    uint64_t id = 0;
    bf_status st2 = bf_session_begin_request(s, 1, &id);
    bf_status st3 = bf_session_poll_action(s, NULL);
    bf_action a;
    bf_status st4 = bf_session_poll_action(s, &a);
    bf_verdict v;
    bf_status st5 = bf_session_handle_resource_response(s, id, 200, NULL, 0, 2, NULL);
    size_t pending2 = 99;
    bf_session_pending_requests(s, &pending2);
    bf_status st6 = bf_session_handle_resource_response(s, id, 200, NULL, 3, 2, &v);
    bf_session_free(s);
    CHECK(st == BF_STATUS_NULL_POINTER, "begin_request(NULL id): %u", (unsigned)st);
    CHECK(pending == 0, "a request was begun without handing out its id");
    CHECK(st2 == BF_STATUS_OK && id == 1, "the first request id is %llu", (unsigned long long)id);
    CHECK(st3 == BF_STATUS_NULL_POINTER, "poll_action(NULL): %u", (unsigned)st3);
    CHECK(st4 == BF_STATUS_OK && a.kind == BF_ACTION_KIND_SEND && a.send.id == id,
          "the send was lost by the refused poll");
    CHECK(st5 == BF_STATUS_NULL_POINTER && pending2 == 1, "a refused response ended the request");
    CHECK(st6 == BF_STATUS_NULL_POINTER, "NULL lines with a count: %u", (unsigned)st6);
}

static void enums_out_of_range(void *arg) {
    (void)arg;
    bf_session *s = new_session();
    CHECK(s != NULL, "session");
    bf_status st = bf_session_handle_http_error(s, 1, 3, 0);
    bf_status st2 = bf_session_handle_http_error(s, 1, UINT32_MAX, 0);
    bf_session_free(s);
    CHECK(st == BF_STATUS_INVALID_ARGUMENT && st2 == BF_STATUS_INVALID_ARGUMENT,
          "http error kinds 3 and UINT32_MAX: %u %u", (unsigned)st, (unsigned)st2);
    CHECK(error_is("invalid_argument"), "invalid_argument not recorded");
    bf_challenge_list list;
    bf_str line = str_of("Bearer");
    CHECK_STATUS(bf_challenge_parse(&line, 1, 2, NULL, 0, NULL, 0, NULL, 0, &list),
                 BF_STATUS_INVALID_ARGUMENT);
    bf_bearer b;
    bool found;
    CHECK_STATUS(bf_bearer_challenge_parse(&line, 1, 77, 0, NULL, 0, NULL, 0, &b, &found),
                 BF_STATUS_INVALID_ARGUMENT);
}

static void lengths(void *arg) {
    (void)arg;
    bf_session *s = new_session();
    CHECK(s != NULL, "session");
    uint8_t byte = 0;
    bf_status st = bf_session_add_entropy(s, &byte, SIZE_MAX);
    bf_status st2 = bf_session_handle_helper_stdout(s, &byte, (size_t)PTRDIFF_MAX + 1, 0);
    bf_status st3 = bf_session_add_entropy(s, NULL, 0);
    bf_str huge = {"x", SIZE_MAX};
    bf_status st4 = bf_session_handle_redirect(s, huge, 0);
    bf_status st5 = bf_session_handle_redirect(s, (bf_str){NULL, 0}, 0);
    bf_session_free(s);
    CHECK(st == BF_STATUS_INVALID_LENGTH, "SIZE_MAX entropy: %u", (unsigned)st);
    CHECK(st2 == BF_STATUS_INVALID_LENGTH, "PTRDIFF_MAX + 1 stdout: %u", (unsigned)st2);
    CHECK(st3 == BF_STATUS_OK, "empty entropy: %u", (unsigned)st3);
    CHECK(st4 == BF_STATUS_INVALID_LENGTH, "SIZE_MAX url: %u", (unsigned)st4);
    CHECK(st5 == BF_STATUS_REDIRECT, "an empty redirect is the machine's to refuse: %u",
          (unsigned)st5);
    CHECK(error_is("not_authorizing"), "redirect refusal code");
}

static void misaligned_outputs(void *arg) {
    (void)arg;
    bf_session *s = new_session();
    CHECK(s != NULL, "session");
    _Alignas(8) unsigned char raw[sizeof(bf_stats) + 8];
    bf_stats *odd = (bf_stats *)(void *)((uintptr_t)raw + 1);
    bf_status st = bf_session_stats(s, odd);
    uint64_t *odd_id = (uint64_t *)(void *)((uintptr_t)raw + 1);
    bf_status st2 = bf_session_begin_request(s, 0, odd_id);
    size_t pending = 9;
    bf_session_pending_requests(s, &pending);
    bf_session *odd_session = (bf_session *)(void *)((uintptr_t)s + 1);
    uint64_t id;
    bf_status st3 = bf_session_begin_request(odd_session, 0, &id);
    bf_session_free(s);
    CHECK(st == BF_STATUS_INVALID_ARGUMENT, "misaligned stats: %u", (unsigned)st);
    CHECK(st2 == BF_STATUS_INVALID_ARGUMENT && pending == 0, "misaligned id: %u", (unsigned)st2);
    CHECK(st3 == BF_STATUS_INVALID_ARGUMENT, "misaligned session: %u", (unsigned)st3);
}

static void too_small_buffers(void *arg) {
    (void)arg;
    bf_session *s = session_with_tokens();
    CHECK(s != NULL, "session");
    size_t needed = 0;
    bool current = false;
    bf_status st = bf_session_headers(s, 1, NULL, 0, &needed, &current);
    bool current1 = current;
    bf_header h[1];
    size_t len = 0;
    bf_status st2 = bf_session_headers(s, 1, h, 1, &len, &current);
    bool header_ok = st2 == BF_STATUS_OK && len == 1 && str_eq(h[0].name, "Authorization") &&
                     str_eq(h[0].value, "Bearer at-1");
    bf_status st3 = bf_session_headers(s, 7, h, 1, &len, &current);
    bool current7 = current;
    bf_status st4 = bf_session_headers(s, 1, NULL, 3, &len, &current);
    bf_session_free(s);
    CHECK(st == BF_STATUS_BUFFER_TOO_SMALL && needed == 1 && current1,
          "headers cap 0: %u needed %zu", (unsigned)st, needed);
    CHECK(header_ok, "headers of generation 1");
    CHECK(st3 == BF_STATUS_OK && !current7, "an old generation is not current");
    CHECK(st4 == BF_STATUS_NULL_POINTER, "NULL array with a capacity: %u", (unsigned)st4);

    char small[8];
    bf_header params[1] = {{str_of("realm"), str_of("mcp")}};
    CHECK_STATUS(bf_challenge_render(str_of("Bearer"), params, 1, small, sizeof small, &len, NULL),
                 BF_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == strlen("Bearer realm=\"mcp\""), "needed length %zu", len);
    char big[64];
    CHECK_OK(bf_challenge_render(str_of("Bearer"), params, 1, big, len + 1, &len, NULL));
    CHECK(strcmp(big, "Bearer realm=\"mcp\"") == 0, "rendered %s", big);

    bf_str line = str_of("Bearer scope=\"a b  c\", realm=\"x\"");
    bf_bearer b;
    bool found = false;
    char buf[4];
    bf_str scopes[1];
    CHECK_STATUS(bf_bearer_challenge_find(&line, 1, buf, sizeof buf, scopes, 1, &b, &found),
                 BF_STATUS_BUFFER_TOO_SMALL);
    CHECK(found && b.scopes_len == 3 && b.buf_len == strlen("x") + 1 + strlen("a b  c") + 1,
          "needed sizes %zu/%zu", b.buf_len, b.scopes_len);
    char buf2[16];
    bf_str scopes2[3];
    CHECK_OK(bf_bearer_challenge_find(&line, 1, buf2, sizeof buf2, scopes2, 3, &b, &found));
    CHECK(str_eq(b.realm, "x") && str_eq(b.scopes[2], "c") && str_eq(b.scope, "a b  c"),
          "bearer view");

    bf_challenge cs[1];
    bf_challenge_list list;
    bf_str two = str_of("Basic realm=\"a\", Bearer x=\"\\\"q\\\"\"");
    CHECK_STATUS(bf_challenge_parse(&two, 1, BF_PARSE_MODE_STRICT, cs, 1, NULL, 0, NULL, 0, &list),
                 BF_STATUS_BUFFER_TOO_SMALL);
    CHECK(list.challenges_len == 2 && list.params_len == 2 && list.values_len == 3,
          "needed %zu/%zu/%zu", list.challenges_len, list.params_len, list.values_len);
    CHECK(error_is("buffer_too_small"), "buffer_too_small not recorded");
    bf_param ps[2];
    CHECK_STATUS(bf_challenge_parse(&two, 1, BF_PARSE_MODE_STRICT, cs, 1, ps, 2, NULL, 4, &list),
                 BF_STATUS_NULL_POINTER);
}

static void errors_are_recorded(void *arg) {
    (void)arg;
    bf_session *s = new_session();
    CHECK(s != NULL, "session");
    bf_status st = bf_session_handle_redirect(s, str_of("http://127.0.0.1/cb?code=x&state=y"), 0);
    bf_error se;
    bf_session_last_error(s, &se);
    bf_error te;
    bf_last_error(&te);
    /* A success leaves both records alone. */
    bf_phase p;
    bf_status ok = bf_session_phase(s, 0, &p);
    bf_error se2;
    bf_session_last_error(s, &se2);
    bool has = true;
    bf_cause cause;
    bf_status st3 = bf_session_current_error(s, &has, &cause);
    bool session_record = se.status == BF_STATUS_REDIRECT && str_eq(se.code, "not_authorizing") &&
                          se.message.ptr[se.message.len] == '\0' && se.message.len > 10;
    bf_session_free(s);
    CHECK(st == BF_STATUS_REDIRECT, "redirect when not authorizing: %u", (unsigned)st);
    CHECK(session_record, "session record");
    CHECK(te.status == BF_STATUS_REDIRECT && str_eq(te.code, "not_authorizing"), "thread record");
    CHECK(ok == BF_STATUS_OK && se2.status == BF_STATUS_REDIRECT, "a success cleared the record");
    CHECK(st3 == BF_STATUS_OK && !has && cause.code.len == 0, "a new session has no problem");
}

static void current_error_after_refused_refresh(void *arg) {
    (void)arg;
    bf_session *s = session_with_tokens();
    CHECK(s != NULL, "session");
    /* At 2 minutes the 60 s token is expired: the request waits for a refresh. */
    uint64_t id;
    bf_action a;
    bool ok = bf_session_begin_request(s, 120000, &id) == BF_STATUS_OK &&
              bf_session_poll_action(s, &a) == BF_STATUS_OK && a.kind == BF_ACTION_KIND_FETCH &&
              a.fetch.purpose == BF_FETCH_PURPOSE_REFRESH;
    uint64_t fetch = a.fetch.id;
    const char *body = "{\"error\": \"invalid_grant\", \"error_description\": \"revoked\"}";
    bf_status st = bf_session_handle_http_response(s, fetch, 400, NULL, 0, (const uint8_t *)body,
                                                   strlen(body), 120010);
    bool failed = false;
    bool saw_fail_cause = false;
    do {
        if (bf_session_poll_action(s, &a) != BF_STATUS_OK) {
            break;
        }
        if (a.kind == BF_ACTION_KIND_FAIL && a.fail.id == id) {
            failed = true;
            saw_fail_cause = a.fail.has_cause && str_eq(a.fail.cause.code, "token_endpoint");
        }
    } while (a.kind != BF_ACTION_KIND_NONE);
    bool has = false;
    bf_cause cause;
    bf_status st2 = bf_session_current_error(s, &has, &cause);
    bool cause_ok = has && str_eq(cause.code, "token_endpoint") &&
                    strstr(cause.message.ptr, "invalid_grant") != NULL &&
                    cause.message.ptr[cause.message.len] == '\0';
    bf_phase p;
    bf_session_phase(s, 120010, &p);
    bf_session_free(s);
    CHECK(ok, "setup: no refresh fetch");
    CHECK(st == BF_STATUS_OK && failed && saw_fail_cause, "the request did not fail with its cause");
    CHECK(st2 == BF_STATUS_OK && cause_ok, "current error");
    CHECK(p == BF_PHASE_FAILED, "phase %s", phase_name(p));
}

static void authorization_header(void *arg) {
    (void)arg;
    bf_str token;
    size_t offset = 0;
    CHECK_OK(bf_authorization_bearer_parse(str_of("bearer  mF_9.B5f-4.1JqM"), &token, &offset));
    CHECK(str_eq(token, "mF_9.B5f-4.1JqM"), "token");
    CHECK_STATUS(bf_authorization_bearer_parse(str_of("Basic YWxhZGRpbjpvcGVu"), &token, &offset),
                 BF_STATUS_AUTHORIZATION);
    CHECK(offset == 0 && error_is("not_bearer") && token.ptr == NULL, "not_bearer at 0");
    CHECK_STATUS(bf_authorization_bearer_parse(str_of("Bearer secret value"), &token, NULL),
                 BF_STATUS_AUTHORIZATION);
    CHECK(error_is("invalid_token_byte") && !last_message_contains("secret"),
          "the message quotes the token");
    CHECK_STATUS(bf_authorization_bearer_parse(str_of("Bearer"), &token, &offset),
                 BF_STATUS_AUTHORIZATION);
    CHECK(offset == 6 && error_is("empty_token"), "empty_token at 6");
    char buf[32];
    size_t len = 0;
    CHECK_OK(bf_authorization_bearer_render(str_of("abc.def+/="), buf, sizeof buf, &len, NULL));
    CHECK(len == 17 && strcmp(buf, "Bearer abc.def+/=") == 0, "rendered %s", buf);
    CHECK_STATUS(bf_authorization_bearer_render(str_of("abc\r\nX-Evil: 1"), buf, sizeof buf, &len,
                                                &offset),
                 BF_STATUS_AUTHORIZATION);
    CHECK(offset == 3, "offset %zu", offset);
    CHECK_STATUS(bf_authorization_bearer_render(str_of("abcdef"), buf, 5, &len, NULL),
                 BF_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 13, "needed %zu", len);
}

static void render_errors(void *arg) {
    (void)arg;
    char buf[128];
    size_t len = 0;
    bf_render_error err;
    bf_header params[2] = {{str_of("realm"), str_of("ok")},
                           {str_of("error_description"), str_of("line\nbreak")}};
    CHECK_STATUS(bf_challenge_render(str_of("Bearer"), params, 2, buf, sizeof buf, &len, &err),
                 BF_STATUS_RENDER);
    CHECK(err.kind == BF_RENDER_ERROR_KIND_CONTROL_CHARACTER && err.param_index == 1 &&
              err.offset == 4,
          "render error %u %zu %zu", (unsigned)err.kind, err.param_index, err.offset);
    CHECK(error_is("control_character"), "code");
    CHECK_STATUS(bf_challenge_render(str_of("Bear er"), NULL, 0, buf, sizeof buf, &len, NULL),
                 BF_STATUS_RENDER);
    CHECK_STATUS(bf_challenge_render_token68(str_of("Negotiate"), str_of("a b"), buf, sizeof buf,
                                             &len, &err),
                 BF_STATUS_RENDER);
    CHECK(err.kind == BF_RENDER_ERROR_KIND_INVALID_TOKEN68 && err.param_index == SIZE_MAX &&
              err.offset == 1,
          "token68 error");
    CHECK_OK(bf_challenge_render_token68(str_of("Negotiate"), str_of("YII/+g=="), buf, sizeof buf,
                                         &len, &err));
    CHECK(strcmp(buf, "Negotiate YII/+g==") == 0, "token68 rendered %s", buf);
    bf_bearer b = {
        .realm = {NULL, 0},
        .error = str_of("invalid_token"),
        .error_description = {NULL, 0},
        .error_uri = {NULL, 0},
        .scope = {NULL, 0},
        .resource_metadata = str_of("https://mcp.example.com/.well-known/oauth-protected-resource"),
        .scopes = NULL,
        .scopes_len = 0,
        .buf_len = 0,
    };
    CHECK_OK(bf_bearer_challenge_render(&b, buf, sizeof buf, &len, &err));
    CHECK(strcmp(buf, "Bearer error=\"invalid_token\", resource_metadata=\"https://mcp.example.com/"
                      ".well-known/oauth-protected-resource\"") == 0,
          "bearer rendered %s", buf);
    b.realm = str_of("caf\xc3\xa9");
    CHECK_STATUS(bf_bearer_challenge_render(&b, buf, sizeof buf, &len, &err), BF_STATUS_RENDER);
    CHECK(err.kind == BF_RENDER_ERROR_KIND_NON_ASCII && err.param_index == 0, "non-ascii realm");
    CHECK_STATUS(bf_bearer_challenge_render(NULL, buf, sizeof buf, &len, &err),
                 BF_STATUS_NULL_POINTER);
}

static void challenge_utf8_offsets(void *arg) {
    (void)arg;
    bf_challenge_list list;
    bf_str lines[2] = {str_of("Basic realm=\"a\""), {"Bearer realm=\"caf\xe9\"", 19}};
    CHECK_STATUS(bf_challenge_parse(lines, 2, BF_PARSE_MODE_LENIENT, NULL, 0, NULL, 0, NULL, 0,
                                    &list),
                 BF_STATUS_CHALLENGE);
    /* 15 bytes of line 0, then ", ", then 17 bytes of line 1. */
    CHECK(list.error_offset == 15 + 2 + 17 && str_eq(list.error_code, "invalid_utf8"),
          "offset %zu code %.*s", list.error_offset, (int)list.error_code.len, list.error_code.ptr);
    bf_bearer b;
    bool found;
    CHECK_STATUS(bf_bearer_challenge_parse(lines, 1, BF_PARSE_MODE_STRICT, 0, NULL, 0, NULL, 0, &b,
                                           &found),
                 BF_STATUS_CHALLENGE);
    CHECK(error_is("not_bearer"), "Basic is not Bearer");
    CHECK_OK(bf_bearer_challenge_parse(lines, 1, BF_PARSE_MODE_STRICT, 5, NULL, 0, NULL, 0, &b,
                                       &found));
    CHECK(!found, "index past the end is not found");
}

static void json_poll_holds_credentials_only_until_next_call(void *arg) {
    (void)arg;
    bf_session *s = session_with_tokens();
    CHECK(s != NULL, "session");
    uint64_t id;
    bf_action_kind kind;
    bf_str json;
    bool ok = bf_session_begin_request(s, 1, &id) == BF_STATUS_OK &&
              bf_session_poll_action_json(s, &kind, &json) == BF_STATUS_OK;
    bool has_token = ok && kind == BF_ACTION_KIND_SEND && json.len > 0 &&
                     memchr(json.ptr, 'a', json.len) != NULL;
    cJSON *parsed = json_of_str(json);
    bool shape = parsed != NULL &&
                 cJSON_GetObjectItemCaseSensitive(parsed, "send") != NULL;
    cJSON_Delete(parsed);
    bf_status st = bf_session_poll_action_json(s, &kind, &json);
    bf_session_free(s);
    CHECK(has_token && shape, "send JSON");
    CHECK(st == BF_STATUS_OK && kind == BF_ACTION_KIND_NONE && json.len == 0, "no more actions");
}

void bad_input_tests(void) {
    run_test("bad_input::null_session", null_session, NULL);
    run_test("bad_input::create_arguments", create_arguments, NULL);
    run_test("bad_input::restore_arguments", restore_arguments, NULL);
    run_test("bad_input::non_utf8_changes_nothing", non_utf8_changes_nothing, NULL);
    run_test("bad_input::null_outputs_change_nothing", null_outputs_change_nothing, NULL);
    run_test("bad_input::enums_out_of_range", enums_out_of_range, NULL);
    run_test("bad_input::lengths", lengths, NULL);
    run_test("bad_input::misaligned_outputs", misaligned_outputs, NULL);
    run_test("bad_input::too_small_buffers", too_small_buffers, NULL);
    run_test("bad_input::errors_are_recorded", errors_are_recorded, NULL);
    run_test("bad_input::current_error_after_refused_refresh", current_error_after_refused_refresh,
             NULL);
    run_test("bad_input::authorization_header", authorization_header, NULL);
    run_test("bad_input::render_errors", render_errors, NULL);
    run_test("bad_input::challenge_utf8_offsets", challenge_utf8_offsets, NULL);
    run_test("bad_input::json_poll", json_poll_holds_credentials_only_until_next_call, NULL);
}
