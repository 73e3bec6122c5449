/*
 * Replays every file in tests/vectors/session/ through the C ABI, following the replay loop of
 * tests/vectors/README.md, twice per file: once draining actions as JSON
 * (bf_session_poll_action_json, compared as JSON values), once as tagged structs
 * (bf_session_poll_action, compared field by field with the recorded JSON, and each
 * send's headers also read back with bf_session_headers).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond, ...)                             \
    do {                                               \
        if (!(cond)) {                                 \
            fail_at(__FILE__, __LINE__, __VA_ARGS__);  \
            return false;                              \
        }                                              \
    } while (0)

#define REQUIRE_OK(call, where)                                                        \
    do {                                                                               \
        bf_status st_ = (call);                                                        \
        if (st_ != BF_STATUS_OK) {                                                     \
            bf_error e_;                                                               \
            bf_last_error(&e_);                                                        \
            fail_at(__FILE__, __LINE__, "%s: %s gave %u (%.*s: %.*s)", where, #call,   \
                    (unsigned)st_, (int)e_.code.len, e_.code.ptr, (int)e_.message.len, \
                    e_.message.ptr);                                                   \
            return false;                                                              \
        }                                                                              \
    } while (0)

typedef struct {
    const char *path;
    bool structs;
} replay_arg;

static cJSON *field(const cJSON *obj, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static uint64_t num(const cJSON *obj, const char *name) {
    const cJSON *f = field(obj, name);
    return cJSON_IsNumber(f) ? (uint64_t)f->valuedouble : 0;
}

static const char *text(const cJSON *obj, const char *name) {
    const cJSON *f = field(obj, name);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* Headers recorded as [[name, value], ...] against a bf_header array. */
static bool headers_match(const bf_header *got, size_t n, const cJSON *want, const char *where) {
    REQUIRE(cJSON_IsArray(want), "%s: recorded headers are not an array", where);
    REQUIRE((size_t)cJSON_GetArraySize(want) == n, "%s: %zu headers, want %d", where, n,
            cJSON_GetArraySize(want));
    size_t i = 0;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, want) {
        const cJSON *name = cJSON_GetArrayItem(pair, 0);
        const cJSON *value = cJSON_GetArrayItem(pair, 1);
        REQUIRE(cJSON_IsString(name) && cJSON_IsString(value), "%s: bad header pair", where);
        REQUIRE(str_eq(got[i].name, name->valuestring), "%s: header %zu name %.*s, want %s",
                where, i, (int)got[i].name.len, got[i].name.ptr, name->valuestring);
        REQUIRE(str_eq(got[i].value, value->valuestring), "%s: header %zu (%s) value differs",
                where, i, name->valuestring);
        i++;
    }
    return true;
}

/* One drained struct action against its recorded JSON. */
static bool action_matches(bf_session *s, const bf_action *a, const cJSON *want, const char *where) {
    REQUIRE(cJSON_IsObject(want) && want->child != NULL, "%s: recorded action is not an object",
            where);
    const char *key = want->child->string;
    const cJSON *body = want->child;
    switch (a->kind) {
    case BF_ACTION_KIND_SEND: {
        REQUIRE(strcmp(key, "send") == 0, "%s: got send, want %s", where, key);
        REQUIRE(a->send.id == num(body, "id"), "%s: send id %llu", where,
                (unsigned long long)a->send.id);
        REQUIRE(a->send.generation == num(body, "generation"), "%s: send generation %llu", where,
                (unsigned long long)a->send.generation);
        if (!headers_match(a->send.headers, a->send.headers_len, field(body, "headers"), where)) {
            return false;
        }
        /* The getter gives the same headers while the send is current. */
        bf_header hs[16];
        size_t len = 0;
        bool current = false;
        REQUIRE_OK(bf_session_headers(s, a->send.generation, hs, 16, &len, &current), where);
        REQUIRE(current, "%s: generation %llu not current right after its send", where,
                (unsigned long long)a->send.generation);
        return headers_match(hs, len, field(body, "headers"), where);
    }
    case BF_ACTION_KIND_FETCH: {
        REQUIRE(strcmp(key, "fetch") == 0, "%s: got fetch, want %s", where, key);
        REQUIRE(a->fetch.id == num(body, "id"), "%s: fetch id", where);
        REQUIRE(strcmp(purpose_name(a->fetch.purpose), text(body, "purpose")) == 0,
                "%s: purpose %s, want %s", where, purpose_name(a->fetch.purpose),
                text(body, "purpose"));
        REQUIRE(str_eq(a->fetch.method, text(body, "method")), "%s: method", where);
        REQUIRE(str_eq(a->fetch.url, text(body, "url")), "%s: url %.*s", where,
                (int)a->fetch.url.len, a->fetch.url.ptr);
        bf_str b = {(const char *)a->fetch.body.ptr, a->fetch.body.len};
        REQUIRE(str_eq(b, text(body, "body")), "%s: fetch body differs", where);
        return headers_match(a->fetch.headers, a->fetch.headers_len, field(body, "headers"), where);
    }
    case BF_ACTION_KIND_RUN_HELPER:
        REQUIRE(strcmp(key, "run_helper") == 0, "%s: got run_helper, want %s", where, key);
        return true;
    case BF_ACTION_KIND_PERSIST: {
        REQUIRE(strcmp(key, "persist") == 0, "%s: got persist, want %s", where, key);
        cJSON *snap = json_of_str(a->persist.snapshot_json);
        REQUIRE(snap != NULL, "%s: snapshot_json is not JSON", where);
        bool same = cJSON_Compare(snap, body, true);
        cJSON_Delete(snap);
        REQUIRE(same, "%s: snapshot differs", where);
        const cJSON *tokens = field(body, "tokens");
        bool has = cJSON_IsObject(tokens);
        REQUIRE(a->persist.has_tokens == has, "%s: has_tokens", where);
        if (has) {
            REQUIRE(a->persist.generation == num(tokens, "generation"), "%s: generation", where);
            const cJSON *exp = field(tokens, "expires_at");
            REQUIRE(a->persist.has_expires_at == cJSON_IsNumber(exp), "%s: has_expires_at", where);
            if (cJSON_IsNumber(exp)) {
                REQUIRE(a->persist.expires_at_ms == (uint64_t)exp->valuedouble, "%s: expires_at",
                        where);
            }
        }
        return true;
    }
    case BF_ACTION_KIND_FAIL: {
        REQUIRE(strcmp(key, "fail") == 0, "%s: got fail, want %s", where, key);
        REQUIRE(a->fail.id == num(body, "id"), "%s: fail id", where);
        REQUIRE(str_eq(a->fail.error_code, text(body, "error")), "%s: error %.*s, want %s", where,
                (int)a->fail.error_code.len, a->fail.error_code.ptr, text(body, "error"));
        REQUIRE(a->fail.error != BF_REQUEST_ERROR_OTHER, "%s: error enum unknown", where);
        REQUIRE(a->fail.error_message.len > 0, "%s: empty error message", where);
        const cJSON *cause = field(body, "cause");
        REQUIRE(a->fail.has_cause == cJSON_IsObject(cause), "%s: has_cause", where);
        if (a->fail.has_cause) {
            REQUIRE(str_eq(a->fail.cause.code, text(cause, "code")), "%s: cause code", where);
            REQUIRE(str_eq(a->fail.cause.message, text(cause, "message")),
                    "%s: cause message %.*s", where, (int)a->fail.cause.message.len,
                    a->fail.cause.message.ptr);
        }
        return true;
    }
    case BF_ACTION_KIND_AUTHORIZE:
        REQUIRE(strcmp(key, "authorize") == 0, "%s: got authorize, want %s", where, key);
        REQUIRE(str_eq(a->authorize.url, text(body, "url")), "%s: authorize url", where);
        return true;
    case BF_ACTION_KIND_ACQUIRE_LEASE:
        REQUIRE(strcmp(key, "acquire_lease") == 0, "%s: got acquire_lease, want %s", where, key);
        REQUIRE(a->lease.ttl_ms == num(body, "ttl_ms"), "%s: lease ttl", where);
        return true;
    case BF_ACTION_KIND_RELEASE_LEASE:
        REQUIRE(strcmp(key, "release_lease") == 0, "%s: got release_lease, want %s", where, key);
        return true;
    default:
        REQUIRE(false, "%s: unexpected action kind %u", where, (unsigned)a->kind);
    }
    return false;
}

static const char *key_of_kind(bf_action_kind k) {
    switch (k) {
    case BF_ACTION_KIND_SEND: return "send";
    case BF_ACTION_KIND_FETCH: return "fetch";
    case BF_ACTION_KIND_RUN_HELPER: return "run_helper";
    case BF_ACTION_KIND_PERSIST: return "persist";
    case BF_ACTION_KIND_FAIL: return "fail";
    case BF_ACTION_KIND_AUTHORIZE: return "authorize";
    case BF_ACTION_KIND_ACQUIRE_LEASE: return "acquire_lease";
    case BF_ACTION_KIND_RELEASE_LEASE: return "release_lease";
    default: return "?";
    }
}

/* Drain every action and compare the list with `expect`. */
static bool drain_matches(bf_session *s, bool structs, const cJSON *expect, const char *where) {
    REQUIRE(cJSON_IsArray(expect), "%s: expect is not an array", where);
    int n = cJSON_GetArraySize(expect);
    int i = 0;
    for (;; i++) {
        char at[256];
        snprintf(at, sizeof at, "%s, action %d", where, i);
        if (structs) {
            bf_action a;
            REQUIRE_OK(bf_session_poll_action(s, &a), at);
            if (a.kind == BF_ACTION_KIND_NONE) {
                break;
            }
            REQUIRE(i < n, "%s: an extra %s action", at, key_of_kind(a.kind));
            if (!action_matches(s, &a, cJSON_GetArrayItem(expect, i), at)) {
                return false;
            }
        } else {
            bf_action_kind kind;
            bf_str json;
            REQUIRE_OK(bf_session_poll_action_json(s, &kind, &json), at);
            if (kind == BF_ACTION_KIND_NONE) {
                REQUIRE(json.len == 0, "%s: JSON for no action", at);
                break;
            }
            cJSON *got = json_of_str(json);
            REQUIRE(got != NULL, "%s: action JSON does not parse", at);
            bool key_ok = got->child != NULL && strcmp(got->child->string, key_of_kind(kind)) == 0;
            bool extra = i >= n;
            bool same = !extra && cJSON_Compare(got, cJSON_GetArrayItem(expect, i), true);
            char *shown = cJSON_PrintUnformatted(got);
            cJSON_Delete(got);
            if (!key_ok || extra || !same) {
                char *want = extra ? NULL : cJSON_PrintUnformatted(cJSON_GetArrayItem(expect, i));
                fail_at(__FILE__, __LINE__, "%s: got %s, want %s (kind %s)", at,
                        shown ? shown : "?", want ? want : "(nothing)", key_of_kind(kind));
                free(want);
                free(shown);
                return false;
            }
            free(shown);
        }
    }
    REQUIRE(i == n, "%s: %d actions, want %d", where, i, n);
    return true;
}

static bool observe_matches(bf_session *s, uint64_t now, const cJSON *timeout, const char *phase,
                            const char *where) {
    bool has = false;
    uint64_t at = 0;
    REQUIRE_OK(bf_session_poll_timeout(s, &has, &at), where);
    if (cJSON_IsNumber(timeout)) {
        REQUIRE(has && at == (uint64_t)timeout->valuedouble, "%s: timeout %s%llu, want %llu",
                where, has ? "" : "none ", (unsigned long long)at,
                (unsigned long long)timeout->valuedouble);
    } else {
        REQUIRE(!has, "%s: timeout %llu, want none", where, (unsigned long long)at);
    }
    bf_phase p;
    REQUIRE_OK(bf_session_phase(s, now, &p), where);
    REQUIRE(phase != NULL && strcmp(phase_name(p), phase) == 0, "%s: phase %s, want %s", where,
            phase_name(p), phase ? phase : "?");
    return true;
}

static uint32_t kind_code(const char *kind) {
    if (strcmp(kind, "connect") == 0) return BF_HTTP_ERROR_KIND_CONNECT;
    if (strcmp(kind, "io") == 0) return BF_HTTP_ERROR_KIND_IO;
    if (strcmp(kind, "timeout") == 0) return BF_HTTP_ERROR_KIND_TIMEOUT;
    return 99;
}

/* bf_str views of a JSON array of strings (or of pairs, as headers). */
static bf_str *strings_of(const cJSON *arr, size_t *n) {
    *n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    bf_str *out = calloc(*n + 1, sizeof *out);
    size_t i = 0;
    const cJSON *item;
    if (out != NULL && *n > 0) {
        cJSON_ArrayForEach(item, arr) { out[i++] = str_of(item->valuestring); }
    }
    return out;
}

static bool apply_event(bf_session *s, const cJSON *step, uint64_t at, const char *where) {
    const char *what = text(step, "do");
    REQUIRE(what != NULL, "%s: no \"do\"", where);
    if (strcmp(what, "begin_request") == 0) {
        uint64_t id = 0;
        REQUIRE_OK(bf_session_begin_request(s, at, &id), where);
        REQUIRE(id == num(step, "id"), "%s: begin_request gave %llu", where, (unsigned long long)id);
    } else if (strcmp(what, "resource_response") == 0) {
        size_t n;
        bf_str *lines = strings_of(field(step, "www_authenticate"), &n);
        REQUIRE(lines != NULL, "%s: out of memory", where);
        bf_verdict v;
        bf_status st = bf_session_handle_resource_response(
            s, num(step, "id"), (uint16_t)num(step, "status"), lines, n, at, &v);
        free(lines);
        REQUIRE_OK(st, where);
        const char *want = text(step, "verdict");
        const char *got = v == BF_VERDICT_DELIVER ? "deliver" : "retry";
        REQUIRE(want != NULL && strcmp(got, want) == 0, "%s: verdict %s, want %s", where, got,
                want ? want : "?");
    } else if (strcmp(what, "http_response") == 0) {
        const cJSON *hs = field(step, "headers");
        size_t n = cJSON_IsArray(hs) ? (size_t)cJSON_GetArraySize(hs) : 0;
        bf_header *headers = calloc(n + 1, sizeof *headers);
        REQUIRE(headers != NULL, "%s: out of memory", where);
        size_t i = 0;
        const cJSON *pair;
        if (n > 0) {
            cJSON_ArrayForEach(pair, hs) {
                headers[i].name = str_of(cJSON_GetArrayItem(pair, 0)->valuestring);
                headers[i].value = str_of(cJSON_GetArrayItem(pair, 1)->valuestring);
                i++;
            }
        }
        const char *body = text(step, "body");
        bf_str b = str_of(body ? body : "");
        bf_status st = bf_session_handle_http_response(s, num(step, "id"),
                                                       (uint16_t)num(step, "status"), headers, n,
                                                       (const uint8_t *)b.ptr, b.len, at);
        free(headers);
        REQUIRE_OK(st, where);
    } else if (strcmp(what, "http_error") == 0) {
        REQUIRE_OK(bf_session_handle_http_error(s, num(step, "id"), kind_code(text(step, "kind")),
                                                at),
                   where);
    } else if (strcmp(what, "helper_output") == 0) {
        bf_str out = str_of(text(step, "stdout"));
        REQUIRE_OK(bf_session_handle_helper_stdout(s, (const uint8_t *)out.ptr, out.len, at), where);
    } else if (strcmp(what, "helper_failure") == 0) {
        const cJSON *code = field(step, "exit_code");
        int32_t c = cJSON_IsNumber(code) ? (int32_t)code->valuedouble : 0;
        REQUIRE_OK(bf_session_handle_helper_failure(s, cJSON_IsNumber(code) ? &c : NULL, at), where);
    } else if (strcmp(what, "redirect") == 0) {
        bf_status st = bf_session_handle_redirect(s, str_of(text(step, "url")), at);
        bool ok = cJSON_IsTrue(field(step, "ok"));
        REQUIRE(st == (ok ? BF_STATUS_OK : BF_STATUS_REDIRECT), "%s: redirect gave %u, want ok=%d",
                where, (unsigned)st, ok);
        if (!ok) {
            bf_error e;
            REQUIRE_OK(bf_session_last_error(s, &e), where);
            REQUIRE(e.status == BF_STATUS_REDIRECT && e.code.len > 0 && e.message.len > 0,
                    "%s: the session does not record the refused redirect", where);
        }
    } else if (strcmp(what, "authorize_error") == 0) {
        REQUIRE_OK(bf_session_handle_authorize_error(s, at), where);
    } else if (strcmp(what, "persist_failed") == 0) {
        REQUIRE_OK(bf_session_handle_persist_failed(s, at), where);
    } else if (strcmp(what, "lease") == 0) {
        REQUIRE_OK(bf_session_handle_lease(s, cJSON_IsTrue(field(step, "granted")), at), where);
    } else if (strcmp(what, "store_update") == 0 || strcmp(what, "persist_conflict") == 0) {
        char *snap = cJSON_PrintUnformatted(field(step, "snapshot"));
        REQUIRE(snap != NULL, "%s: no snapshot", where);
        bf_status st = strcmp(what, "store_update") == 0
                           ? bf_session_handle_store_update(s, snap, strlen(snap), at)
                           : bf_session_handle_persist_conflict(s, snap, strlen(snap), at);
        free(snap);
        REQUIRE_OK(st, where);
    } else if (strcmp(what, "timeout") == 0) {
        REQUIRE_OK(bf_session_handle_timeout(s, at), where);
    } else if (strcmp(what, "cancel_request") == 0) {
        REQUIRE_OK(bf_session_cancel_request(s, num(step, "id")), where);
    } else if (strcmp(what, "reauthorize") == 0) {
        REQUIRE_OK(bf_session_reauthorize(s, at), where);
    } else if (strcmp(what, "set_tokens") == 0) {
        bf_str access = str_of(text(step, "access_token"));
        const char *refresh = text(step, "refresh_token");
        const char *scope = text(step, "scope");
        bf_str r = str_of(refresh);
        bf_str sc = str_of(scope);
        const cJSON *exp = field(step, "expires_in");
        uint64_t e = cJSON_IsNumber(exp) ? (uint64_t)exp->valuedouble : 0;
        REQUIRE_OK(bf_session_set_tokens(s, access, refresh ? &r : NULL,
                                         cJSON_IsNumber(exp) ? &e : NULL, scope ? &sc : NULL, at),
                   where);
    } else {
        REQUIRE(false, "%s: unknown event %s", where, what);
    }
    return true;
}

static bool stats_match(bf_session *s, const cJSON *want, const char *where) {
    bf_stats st;
    REQUIRE_OK(bf_session_stats(s, &st), where);
    struct {
        const char *name;
        uint32_t got;
    } fields[] = {
        {"refresh_requests", st.refresh_requests},
        {"code_exchanges", st.code_exchanges},
        {"client_credentials_requests", st.client_credentials_requests},
        {"discovery_requests", st.discovery_requests},
        {"registration_requests", st.registration_requests},
        {"authorizations", st.authorizations},
        {"helper_runs", st.helper_runs},
        {"sends", st.sends},
        {"fails", st.fails},
        {"unauthorized_seen", st.unauthorized_seen},
        {"insufficient_scope_seen", st.insufficient_scope_seen},
        {"credentials_installed", st.credentials_installed},
        {"persist_failures", st.persist_failures},
        {"grants_without_refresh_token", st.grants_without_refresh_token},
    };
    int named = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *f = field(want, fields[i].name);
        if (f == NULL) {
            REQUIRE(fields[i].got == 0, "%s: stats.%s = %u, not recorded", where, fields[i].name,
                    fields[i].got);
            continue;
        }
        named++;
        REQUIRE((uint64_t)fields[i].got == (uint64_t)f->valuedouble, "%s: stats.%s = %u, want %llu",
                where, fields[i].name, fields[i].got, (unsigned long long)f->valuedouble);
    }
    REQUIRE(named == cJSON_GetArraySize(want), "%s: the vector records a counter bf_stats lacks",
            where);
    return true;
}

static bf_session *create(const cJSON *v, const char *where) {
    char *config = cJSON_PrintUnformatted(field(v, "config"));
    uint8_t seed[32];
    size_t seed_len = 0;
    const char *seed_hex = text(v, "seed");
    if (config == NULL || seed_hex == NULL || !hex_decode(seed_hex, seed, sizeof seed, &seed_len)) {
        free(config);
        fail_at(__FILE__, __LINE__, "%s: bad config or seed", where);
        return NULL;
    }
    uint64_t start = num(v, "start");
    const cJSON *snap = field(v, "snapshot");
    bf_session *s = NULL;
    bf_status st;
    if (cJSON_IsObject(snap)) {
        char *snapshot = cJSON_PrintUnformatted(snap);
        st = bf_session_restore(config, strlen(config), snapshot, snapshot ? strlen(snapshot) : 0,
                                seed, seed_len, start, &s);
        free(snapshot);
    } else {
        st = bf_session_new(config, strlen(config), seed, seed_len, start, &s);
    }
    free(config);
    if (st != BF_STATUS_OK) {
        bf_error e;
        bf_last_error(&e);
        fail_at(__FILE__, __LINE__, "%s: create gave %u: %.*s", where, (unsigned)st,
                (int)e.message.len, e.message.ptr);
        return NULL;
    }
    return s;
}

static bool replay(const cJSON *v, bool structs, const char *name) {
    bf_session *s = create(v, name);
    if (s == NULL) {
        return false;
    }
    bool ok = drain_matches(s, structs, field(v, "initial"), "initial") &&
              observe_matches(s, num(v, "start"), field(v, "initial_timeout"),
                              text(v, "initial_phase"), "initial");
    const cJSON *steps = field(v, "steps");
    int i = 0;
    const cJSON *step;
    cJSON_ArrayForEach(step, steps) {
        if (!ok) {
            break;
        }
        char where[128];
        snprintf(where, sizeof where, "step %d (%s at %llu)", i, text(step, "do"),
                 (unsigned long long)num(step, "at"));
        uint64_t at = num(step, "at");
        ok = apply_event(s, step, at, where) &&
             drain_matches(s, structs, field(step, "expect"), where) &&
             observe_matches(s, at, field(step, "timeout"), text(step, "phase"), where);
        i++;
    }
    ok = ok && stats_match(s, field(v, "stats"), "end");
    bf_session_free(s);
    return ok;
}

static void replay_test(void *arg) {
    const replay_arg *a = arg;
    char *text_ = read_file(a->path, NULL);
    CHECK(text_ != NULL, "cannot read %s", a->path);
    cJSON *v = cJSON_Parse(text_);
    free(text_);
    CHECK(v != NULL, "%s is not JSON", a->path);
    replay(v, a->structs, a->path);
    cJSON_Delete(v);
}

static void no_vectors(void *arg) {
    CHECK(false, "no session vectors in %s", (const char *)arg);
}

void session_vector_tests(const char *vectors_dir) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/session", vectors_dir);
    size_t n = 0;
    char **files = list_json_files(dir, &n);
    if (files == NULL || n == 0) {
        run_test("session_vectors::found", no_vectors, dir);
        free_list(files, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *base = strrchr(files[i], '/');
        base = base ? base + 1 : files[i];
        char name[256];
        replay_arg a = {files[i], false};
        snprintf(name, sizeof name, "session_vectors::%.*s::json", (int)(strlen(base) - 5), base);
        run_test(name, replay_test, &a);
        a.structs = true;
        snprintf(name, sizeof name, "session_vectors::%.*s::structs", (int)(strlen(base) - 5), base);
        run_test(name, replay_test, &a);
    }
    free_list(files, n);
}
