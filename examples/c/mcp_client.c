/*
 * An MCP client in C that stays authorized: bearerflow's C ABI for the auth lifecycle,
 * libcurl's multi interface for every HTTP exchange, one thread, one event loop.
 *
 *   mcp_client MCP_URL [--expiries N] [--burst N] [--interval-ms N]
 *
 * Against `bearerflow testbed --ttl 5` it connects from nothing (a tokenless request,
 * the 401, discovery, dynamic registration, PKCE, the authorization redirect followed
 * headlessly), initializes an MCP session, waits for the token to expire and fires a
 * burst of concurrent tool calls, then keeps calling until N token lifetimes have
 * ended. It ends with one summary line and exits 0 only when no call failed, no token
 * was refreshed twice and there were no more refreshes than expiries.
 *
 * The host does exactly the run loop of bearerflow.h and nothing more: it begins
 * requests, performs what bf_session_poll_action asks, reports what came back, and
 * calls bf_session_handle_timeout when bf_session_poll_timeout says. Every decision
 * (when to refresh, whether to retry, how to authorize) is the library's.
 *
 * Build: cc -std=c11 mcp_client.c $(pkg-config --cflags --libs bearerflow libcurl)
 *    or: cmake -S . -B build -DCMAKE_PREFIX_PATH=<bearerflow prefix> && cmake --build build
 */
#define _GNU_SOURCE
#include <bearerflow.h>
#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* Where the browser would come back to; the testbed accepts any loopback port. */
#define REDIRECT_URI "http://127.0.0.1:8976/callback"
#define PROTOCOL_VERSION "2025-11-25"
/* The session's default policy reads at most this much of a token or metadata body;
 * the host reads one byte more and lets the library refuse it. */
#define MAX_FETCH_BODY (1024 * 1024 + 1)
#define MAX_RESOURCE_BODY (16 * 1024 * 1024)
#define MAX_GENERATIONS 256

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t start_ms;

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%7.3f  ", (double)(now_ms() - start_ms) / 1000.0);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static void die(const char *what) {
    bf_error e;
    bf_last_error(&e);
    fprintf(stderr, "mcp_client: %s: %s: %s\n", what, e.code.ptr, e.message.ptr);
    exit(2);
}

/* A NUL-terminated copy of a bf_str (the library's strings are pointer and length). */
static char *copy_str(bf_str s) {
    char *out = malloc(s.len + 1);
    if (out == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    if (s.len > 0) {
        memcpy(out, s.ptr, s.len);
    }
    out[s.len] = '\0';
    return out;
}

/* Zero then free: copies of credentials are the host's to clear. */
static void free_secret(char *s) {
    if (s != NULL) {
        volatile char *p = s;
        while (*p) {
            *p++ = 0;
        }
        free(s);
    }
}

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;
    bool over;
} buffer;

static bool buffer_append(buffer *b, const char *src, size_t n) {
    if (b->len + n > b->limit) {
        n = b->limit - b->len;
        b->over = true;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            return false;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = '\0';
    return !b->over;
}

/* ---- MCP calls ----------------------------------------------------------------- */

typedef enum { CALL_PENDING, CALL_OK, CALL_FAILED } call_state;

typedef struct {
    call_state state;
    char *body;          /* the JSON-RPC message */
    char *expect;        /* text the answer must contain, or NULL */
    bool notification;   /* answered by 202 without a body */
    bool initialize;     /* the answer carries Mcp-Session-Id */
    bool burst;
} call;

/* ---- Transfers ------------------------------------------------------------------ */

typedef enum { XFER_RESOURCE, XFER_FETCH, XFER_AUTHORIZE } xfer_kind;

typedef struct {
    char *name;
    char *value;
} pair;

typedef struct xfer {
    xfer_kind kind;
    uint64_t id;
    CURL *easy;
    struct curl_slist *headers;
    buffer body;
    pair *response_headers;
    size_t n_headers;
    size_t cap_headers;
} xfer;

typedef struct {
    bf_session *session;
    CURLM *multi;
    const char *mcp_url;
    char *mcp_session_id;
    bool initialized;
    call *calls;      /* indexed by request id */
    size_t n_calls;
    int next_rpc_id;
    size_t in_flight; /* transfers running */
    /* What the run saw. */
    uint64_t expires_at[MAX_GENERATIONS]; /* by token generation */
    unsigned refreshes_of[MAX_GENERATIONS];
    uint64_t current_generation;
    unsigned persists;
    unsigned calls_ok;
    unsigned calls_failed;
} app;

static size_t on_body(char *ptr, size_t size, size_t n, void *userdata) {
    xfer *x = userdata;
    /* Returning less than asked stops the transfer: the body is over its limit. */
    return buffer_append(&x->body, ptr, size * n) ? size * n : 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *userdata) {
    xfer *x = userdata;
    size_t len = size * n;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget the previous one's headers. */
        for (size_t i = 0; i < x->n_headers; i++) {
            free(x->response_headers[i].name);
            free(x->response_headers[i].value);
        }
        x->n_headers = 0;
        return len;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL) {
        return len;
    }
    const char *v = colon + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    if (x->n_headers == x->cap_headers) {
        size_t cap = x->cap_headers ? 2 * x->cap_headers : 16;
        pair *p = realloc(x->response_headers, cap * sizeof *p);
        if (p == NULL) {
            return 0;
        }
        x->response_headers = p;
        x->cap_headers = cap;
    }
    bf_str name = {line, (size_t)(colon - line)};
    bf_str value = {v, (size_t)(end - v)};
    x->response_headers[x->n_headers].name = copy_str(name);
    x->response_headers[x->n_headers].value = copy_str(value);
    x->n_headers++;
    return len;
}

static const char *header_named(const xfer *x, const char *name) {
    for (size_t i = 0; i < x->n_headers; i++) {
        if (strcasecmp(x->response_headers[i].name, name) == 0) {
            return x->response_headers[i].value;
        }
    }
    return NULL;
}

static void add_header(xfer *x, bf_str name, bf_str value) {
    size_t n = name.len + 2 + value.len + 1;
    char *line = malloc(n);
    if (line == NULL) {
        exit(2);
    }
    snprintf(line, n, "%.*s: %.*s", (int)name.len, name.ptr, (int)value.len, value.ptr);
    struct curl_slist *l = curl_slist_append(x->headers, line);
    free_secret(line);
    if (l == NULL) {
        exit(2);
    }
    x->headers = l;
}

static void add_header_text(xfer *x, const char *name, const char *value) {
    bf_str n = {name, strlen(name)};
    bf_str v = {value, strlen(value)};
    add_header(x, n, v);
}

static xfer *start(app *a, xfer_kind kind, uint64_t id, const char *url, size_t limit) {
    xfer *x = calloc(1, sizeof *x);
    if (x == NULL) {
        exit(2);
    }
    x->kind = kind;
    x->id = id;
    x->body.limit = limit;
    x->easy = curl_easy_init();
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
    (void)a;
    return x;
}

static void launch(app *a, xfer *x) {
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_multi_add_handle(a->multi, x->easy);
    a->in_flight++;
}

static void finish(app *a, xfer *x) {
    curl_multi_remove_handle(a->multi, x->easy);
    curl_easy_cleanup(x->easy);
    /* The request headers held credentials: curl_slist frees without clearing. */
    for (struct curl_slist *l = x->headers; l != NULL; l = l->next) {
        volatile char *p = l->data;
        while (*p) *p++ = 0;
    }
    curl_slist_free_all(x->headers);
    for (size_t i = 0; i < x->n_headers; i++) {
        free(x->response_headers[i].name);
        free(x->response_headers[i].value);
    }
    free(x->response_headers);
    if (x->body.data != NULL) {
        memset(x->body.data, 0, x->body.len); /* token responses hold tokens */
    }
    free(x->body.data);
    free(x);
    a->in_flight--;
}

/* ---- The run loop: do what the session asks ------------------------------------ */

static void on_send(app *a, const bf_send *s) {
    if (s->id >= a->n_calls || a->calls[s->id].body == NULL) {
        return;
    }
    call *c = &a->calls[s->id];
    xfer *x = start(a, XFER_RESOURCE, s->id, a->mcp_url, MAX_RESOURCE_BODY);
    for (size_t i = 0; i < s->headers_len; i++) {
        add_header(x, s->headers[i].name, s->headers[i].value);
    }
    add_header_text(x, "Content-Type", "application/json");
    add_header_text(x, "Accept", "application/json, text/event-stream");
    if (a->initialized) {
        add_header_text(x, "MCP-Protocol-Version", PROTOCOL_VERSION);
    }
    if (a->mcp_session_id != NULL) {
        add_header_text(x, "Mcp-Session-Id", a->mcp_session_id);
    }
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
    curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, c->body);
    launch(a, x);
}

static void on_fetch(app *a, const bf_fetch *f) {
    if (f->purpose == BF_FETCH_PURPOSE_REFRESH && a->current_generation < MAX_GENERATIONS) {
        a->refreshes_of[a->current_generation]++;
    }
    char *url = copy_str(f->url);
    xfer *x = start(a, XFER_FETCH, f->id, url, MAX_FETCH_BODY);
    free(url);
    for (size_t i = 0; i < f->headers_len; i++) {
        add_header(x, f->headers[i].name, f->headers[i].value);
    }
    if (f->method.len == 4 && memcmp(f->method.ptr, "POST", 4) == 0) {
        /* The body may hold a refresh token or a client secret: curl copies it, and
         * the copy is released with the handle. */
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)f->body.len);
        curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, f->body.len ? (const char *)f->body.ptr : "");
    }
    launch(a, x);
}

static void on_persist(app *a, const bf_persist *p) {
    /* A real host writes p->snapshot_json to its store here, before anything else, and
     * calls bf_session_handle_persist_failed if it could not. This one keeps nothing. */
    a->persists++;
    if (p->has_tokens && p->generation < MAX_GENERATIONS) {
        a->current_generation = p->generation;
        a->expires_at[p->generation] = p->has_expires_at ? p->expires_at_ms : 0;
        say("persist    token set #%" PRIu64 " (expires in %" PRId64 " ms)", p->generation,
            p->has_expires_at ? (int64_t)(p->expires_at_ms - now_ms()) : -1);
    }
}

static void on_fail(app *a, const bf_fail *f) {
    if (f->id < a->n_calls && a->calls[f->id].state == CALL_PENDING) {
        a->calls[f->id].state = CALL_FAILED;
        a->calls_failed++;
    }
    say("FAIL       request %" PRIu64 ": %.*s (%.*s)%s%.*s", f->id, (int)f->error_code.len,
        f->error_code.ptr, (int)f->error_message.len, f->error_message.ptr,
        f->has_cause ? ": " : "", (int)f->cause.message.len, f->has_cause ? f->cause.message.ptr : "");
}

static void drain(app *a) {
    for (;;) {
        bf_action action;
        if (bf_session_poll_action(a->session, &action) != BF_STATUS_OK) {
            die("bf_session_poll_action");
        }
        switch (action.kind) {
        case BF_ACTION_KIND_NONE:
            return;
        case BF_ACTION_KIND_SEND:
            on_send(a, &action.send);
            break;
        case BF_ACTION_KIND_FETCH:
            say("fetch      %.*s %.*s", (int)action.fetch.method.len, action.fetch.method.ptr,
                (int)action.fetch.url.len, action.fetch.url.ptr);
            on_fetch(a, &action.fetch);
            break;
        case BF_ACTION_KIND_PERSIST:
            on_persist(a, &action.persist);
            break;
        case BF_ACTION_KIND_AUTHORIZE: {
            /* Headless: GET the authorization URL without following the redirect and
             * hand its Location back. A desktop host opens a browser instead. */
            say("authorize  following the authorization URL headlessly");
            char *url = copy_str(action.authorize.url);
            xfer *x = start(a, XFER_AUTHORIZE, 0, url, 65536);
            free(url);
            launch(a, x);
            break;
        }
        case BF_ACTION_KIND_RUN_HELPER:
            /* This host configures no header helper. */
            if (bf_session_handle_helper_failure(a->session, NULL, now_ms()) != BF_STATUS_OK) {
                die("bf_session_handle_helper_failure");
            }
            break;
        case BF_ACTION_KIND_FAIL:
            on_fail(a, &action.fail);
            break;
        default:
            break;
        }
    }
}

static void resource_done(app *a, xfer *x, CURLcode rc) {
    call *c = x->id < a->n_calls ? &a->calls[x->id] : NULL;
    if (rc != CURLE_OK) {
        /* The resource did not answer: the call is lost for this host; tell the session
         * so it stops tracking it (a FAIL "cancelled" follows). */
        say("call %" PRIu64 " transport error: %s", x->id, curl_easy_strerror(rc));
        if (c != NULL && c->state == CALL_PENDING) {
            c->state = CALL_FAILED;
            a->calls_failed++;
        }
        bf_session_cancel_request(a->session, x->id);
        return;
    }
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    bf_str lines[16];
    size_t n = 0;
    for (size_t i = 0; i < x->n_headers && n < 16; i++) {
        if (strcasecmp(x->response_headers[i].name, "WWW-Authenticate") == 0) {
            lines[n].ptr = x->response_headers[i].value;
            lines[n].len = strlen(x->response_headers[i].value);
            n++;
        }
    }
    bf_verdict verdict;
    if (bf_session_handle_resource_response(a->session, x->id, (uint16_t)status, lines, n,
                                            now_ms(), &verdict) != BF_STATUS_OK) {
        die("bf_session_handle_resource_response");
    }
    if (verdict == BF_VERDICT_RETRY) {
        say("resource   %ld for request %" PRIu64 ": the session retries it", status, x->id);
        return;
    }
    if (c == NULL || c->state != CALL_PENDING) {
        return;
    }
    bool ok = c->notification ? status == 202 || status == 200
                              : status == 200 && x->body.data != NULL &&
                                    strstr(x->body.data, "\"result\"") != NULL &&
                                    (c->expect == NULL || strstr(x->body.data, c->expect) != NULL);
    if (ok && c->initialize) {
        const char *sid = header_named(x, "Mcp-Session-Id");
        if (sid != NULL) {
            bf_str s = {sid, strlen(sid)};
            a->mcp_session_id = copy_str(s);
        }
        a->initialized = true;
    }
    if (ok) {
        c->state = CALL_OK;
        a->calls_ok++;
    } else {
        c->state = CALL_FAILED;
        a->calls_failed++;
        say("call %" PRIu64 " failed: HTTP %ld %.200s", x->id, status,
            x->body.data ? x->body.data : "");
    }
}

static uint32_t error_kind(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
        return BF_HTTP_ERROR_KIND_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return BF_HTTP_ERROR_KIND_TIMEOUT;
    default:
        return BF_HTTP_ERROR_KIND_IO;
    }
}

static void fetch_done(app *a, xfer *x, CURLcode rc) {
    uint64_t now = now_ms();
    /* A body over the limit stopped the transfer: hand over what was read (one byte
     * more than the limit) and let the session refuse it. */
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && x->body.over)) {
        if (bf_session_handle_http_error(a->session, x->id, error_kind(rc), now) != BF_STATUS_OK) {
            die("bf_session_handle_http_error");
        }
        return;
    }
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    bf_header *hs = calloc(x->n_headers + 1, sizeof *hs);
    if (hs == NULL) {
        exit(2);
    }
    for (size_t i = 0; i < x->n_headers; i++) {
        hs[i].name.ptr = x->response_headers[i].name;
        hs[i].name.len = strlen(x->response_headers[i].name);
        hs[i].value.ptr = x->response_headers[i].value;
        hs[i].value.len = strlen(x->response_headers[i].value);
    }
    bf_status st = bf_session_handle_http_response(a->session, x->id, (uint16_t)status, hs,
                                                   x->n_headers, (const uint8_t *)x->body.data,
                                                   x->body.len, now);
    free(hs);
    if (st == BF_STATUS_INVALID_UTF8) {
        /* A header the library cannot read (not UTF-8): answer without headers rather
         * than leave the exchange unanswered. */
        st = bf_session_handle_http_response(a->session, x->id, (uint16_t)status, NULL, 0,
                                             (const uint8_t *)x->body.data, x->body.len, now);
    }
    if (st != BF_STATUS_OK) {
        die("bf_session_handle_http_response");
    }
}

static void authorize_done(app *a, xfer *x, CURLcode rc) {
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    const char *location = header_named(x, "Location");
    if (rc != CURLE_OK || status < 300 || status > 399 || location == NULL) {
        say("authorize  the authorization endpoint did not redirect (HTTP %ld)", status);
        if (bf_session_handle_authorize_error(a->session, now_ms()) != BF_STATUS_OK) {
            die("bf_session_handle_authorize_error");
        }
        return;
    }
    bf_str url = {location, strlen(location)};
    bf_status st = bf_session_handle_redirect(a->session, url, now_ms());
    if (st != BF_STATUS_OK) {
        bf_error e;
        bf_last_error(&e);
        say("authorize  redirect refused: %s: %s", e.code.ptr, e.message.ptr);
    }
}

/* Run curl and the session's timer until nothing is due before `until_ms`. */
static void turn(app *a, uint64_t until_ms) {
    drain(a);
    bool has = false;
    uint64_t deadline = 0;
    if (bf_session_poll_timeout(a->session, &has, &deadline) != BF_STATUS_OK) {
        die("bf_session_poll_timeout");
    }
    uint64_t now = now_ms();
    uint64_t wake = until_ms;
    if (has && deadline < wake) {
        wake = deadline;
    }
    int wait = wake > now ? (int)(wake - now > 1000 ? 1000 : wake - now) : 0;
    int running = 0;
    curl_multi_poll(a->multi, NULL, 0, wait, NULL);
    curl_multi_perform(a->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(a->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;
        switch (x->kind) {
        case XFER_RESOURCE: resource_done(a, x, rc); break;
        case XFER_FETCH: fetch_done(a, x, rc); break;
        case XFER_AUTHORIZE: authorize_done(a, x, rc); break;
        }
        finish(a, x);
        drain(a);
    }
    if (has && now_ms() >= deadline) {
        if (bf_session_handle_timeout(a->session, now_ms()) != BF_STATUS_OK) {
            die("bf_session_handle_timeout");
        }
    }
    drain(a);
}

/* ---- The application: MCP calls ---------------------------------------------- */

static uint64_t begin(app *a, const char *method, const char *params, const char *expect,
                      bool burst) {
    uint64_t id = 0;
    if (bf_session_begin_request(a->session, now_ms(), &id) != BF_STATUS_OK) {
        die("bf_session_begin_request");
    }
    if (id >= a->n_calls) {
        size_t n = a->n_calls ? a->n_calls : 64;
        while (n <= id) n *= 2;
        call *grown = realloc(a->calls, n * sizeof *grown);
        if (grown == NULL) exit(2);
        memset(grown + a->n_calls, 0, (n - a->n_calls) * sizeof *grown);
        a->calls = grown;
        a->n_calls = n;
    }
    call *c = &a->calls[id];
    bool notification = strncmp(method, "notifications/", 14) == 0;
    size_t len = strlen(method) + strlen(params) + 96;
    c->body = malloc(len);
    if (c->body == NULL) exit(2);
    if (notification) {
        snprintf(c->body, len, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":%s}", method,
                 params);
    } else {
        snprintf(c->body, len, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}",
                 a->next_rpc_id++, method, params);
    }
    c->state = CALL_PENDING;
    c->expect = expect != NULL ? strdup(expect) : NULL;
    if (expect != NULL && c->expect == NULL) exit(2);
    c->notification = notification;
    c->initialize = strcmp(method, "initialize") == 0;
    c->burst = burst;
    return id;
}

/* Run until call `id` is over; false if it failed. */
static bool wait_for(app *a, uint64_t id) {
    uint64_t give_up = now_ms() + 120000;
    while (a->calls[id].state == CALL_PENDING && now_ms() < give_up) {
        turn(a, now_ms() + 1000);
    }
    return a->calls[id].state == CALL_OK;
}

static unsigned expiries_before(const app *a, uint64_t t) {
    unsigned n = 0;
    for (size_t g = 0; g < MAX_GENERATIONS; g++) {
        if (a->expires_at[g] != 0 && a->expires_at[g] <= t) n++;
    }
    return n;
}

int main(int argc, char **argv) {
    const char *url = NULL;
    unsigned expiries_wanted = 3;
    unsigned burst = 32;
    unsigned interval_ms = 200;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expiries") == 0 && i + 1 < argc) {
            expiries_wanted = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--burst") == 0 && i + 1 < argc) {
            burst = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc) {
            interval_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (argv[i][0] != '-' && url == NULL) {
            url = argv[i];
        } else {
            fprintf(stderr, "usage: %s MCP_URL [--expiries N] [--burst N] [--interval-ms N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (url == NULL) {
        fprintf(stderr, "usage: %s MCP_URL [--expiries N] [--burst N] [--interval-ms N]\n", argv[0]);
        return 2;
    }
    start_ms = now_ms();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    app a;
    memset(&a, 0, sizeof a);
    a.mcp_url = url;
    a.next_rpc_id = 1;
    a.multi = curl_multi_init();

    /* The session: an OAuth client with nothing yet. Dynamic registration, PKCE and
     * the loopback redirect URI are the library's business. */
    char config[1024];
    snprintf(config, sizeof config,
             "{\"resource_url\": \"%s\", \"credential\": {\"kind\": \"oauth\", "
             "\"redirect_uri\": \"" REDIRECT_URI "\", \"client_name\": \"bearerflow C example\"}}",
             url);
    uint8_t seed[32];
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        fprintf(stderr, "no randomness: %s\n", strerror(errno));
        return 2;
    }
    if (bf_session_new(config, strlen(config), seed, sizeof seed, now_ms(), &a.session) !=
        BF_STATUS_OK) {
        die("bf_session_new");
    }
    memset(seed, 0, sizeof seed);

    say("connect    %s (no token yet: the first 401 starts the OAuth flow)", url);
    bool connected =
        wait_for(&a, begin(&a, "initialize",
                           "{\"protocolVersion\":\"" PROTOCOL_VERSION
                           "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bearerflow-c-example\","
                           "\"version\":\"0.1.0\"}}",
                           "protocolVersion", false)) &&
        wait_for(&a, begin(&a, "notifications/initialized", "{}", NULL, false)) &&
        wait_for(&a, begin(&a, "tools/list", "{}", "echo", false));
    bf_stats stats;
    bf_session_stats(a.session, &stats);
    say("connected  %s (registrations %u, authorizations %u, code exchanges %u)",
        connected ? "ok" : "FAILED", stats.registration_requests, stats.authorizations,
        stats.code_exchanges);

    /* The burst, right after the first token's lifetime ends. */
    unsigned burst_ok = 0;
    unsigned burst_refreshes = 0;
    if (connected && burst > 0 && a.expires_at[a.current_generation] != 0) {
        uint64_t at = a.expires_at[a.current_generation] + 100;
        say("wait       idle until the token expires, then %u concurrent calls", burst);
        while (now_ms() < at) {
            turn(&a, at);
        }
        bf_session_stats(a.session, &stats);
        unsigned before = stats.refresh_requests;
        uint64_t *ids = calloc(burst, sizeof *ids);
        if (ids == NULL) exit(2);
        for (unsigned i = 0; i < burst; i++) {
            char params[128];
            char expect[32];
            snprintf(params, sizeof params,
                     "{\"name\":\"echo\",\"arguments\":{\"text\":\"burst-%u\"}}", i);
            snprintf(expect, sizeof expect, "\"burst-%u\"", i);
            ids[i] = begin(&a, "tools/call", params, expect, true);
        }
        drain(&a);
        for (unsigned i = 0; i < burst; i++) {
            if (wait_for(&a, ids[i])) burst_ok++;
        }
        free(ids);
        bf_session_stats(a.session, &stats);
        burst_refreshes = stats.refresh_requests - before;
        say("burst      %u of %u ok, %u refresh request(s)", burst_ok, burst, burst_refreshes);
    }

    /* Steady calls until the wanted number of token lifetimes have ended. */
    unsigned n = 0;
    while (connected && expiries_before(&a, now_ms()) < expiries_wanted &&
           now_ms() - start_ms < 600000) {
        n++;
        char params[128];
        char expect[32];
        snprintf(params, sizeof params, "{\"name\":\"echo\",\"arguments\":{\"text\":\"call-%u\"}}",
                 n);
        snprintf(expect, sizeof expect, "\"call-%u\"", n);
        uint64_t started = now_ms();
        uint64_t id = begin(&a, "tools/call", params, expect, false);
        bool ok = wait_for(&a, id);
        if (!ok) {
            say("call       echo call-%u FAILED", n);
        }
        uint64_t next = started + interval_ms;
        while (now_ms() < next) {
            turn(&a, next);
        }
    }

    uint64_t finished = now_ms();
    bf_session_stats(a.session, &stats);
    unsigned expiries = expiries_before(&a, finished);
    unsigned max_per_token = 0;
    for (size_t g = 0; g < MAX_GENERATIONS; g++) {
        if (a.refreshes_of[g] > max_per_token) max_per_token = a.refreshes_of[g];
    }
    printf("summary: calls_ok=%u calls_failed=%u refreshes=%u expiries=%u "
           "max_refreshes_per_token=%u burst=%u burst_ok=%u burst_refreshes=%u "
           "unauthorized_seen=%u registrations=%u code_exchanges=%u persists=%u elapsed_ms=%" PRIu64
           "\n",
           a.calls_ok, a.calls_failed, stats.refresh_requests, expiries, max_per_token, burst,
           burst_ok, burst_refreshes, stats.unauthorized_seen, stats.registration_requests,
           stats.code_exchanges, a.persists, finished - start_ms);

    bool pass = connected && a.calls_failed == 0 && stats.refresh_requests <= expiries &&
                max_per_token <= 1 && burst_ok == burst && burst_refreshes <= 1 &&
                expiries >= expiries_wanted;

    for (size_t i = 0; i < a.n_calls; i++) {
        free(a.calls[i].body);
        free(a.calls[i].expect);
    }
    free(a.calls);
    free_secret(a.mcp_session_id);
    bf_session_free(a.session);
    curl_multi_cleanup(a.multi);
    curl_global_cleanup();
    return pass ? 0 : 1;
}
