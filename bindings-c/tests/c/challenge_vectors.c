/*
 * Replays every file in tests/vectors/challenge/ through the C ABI's header layer
 * (bf_challenge_parse, bf_bearer_challenge_parse), in the vector shape of
 * tests/vectors/README.md. Every parse is done twice: first with no room at all, which
 * must report BF_STATUS_BUFFER_TOO_SMALL with the exact sizes needed (or succeed when
 * nothing is needed), then with arrays of exactly those sizes. Lines given as
 * several field lines must parse as their join by ", ".
 *
 * cJSON keeps strings NUL-terminated, so it cannot hold a value with a NUL byte
 * (quoting.json has "\u0000" inputs). Before parsing, each "\u0000" escape is swapped
 * for "\ue000" (a private-use character the files are checked not to contain), and
 * input lines turn its UTF-8 form (EE 80 80) back into the NUL byte.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const cJSON *vector;
    const char *file;
} vector_arg;

/* "\u0000" -> "\ue000" in place; false if the text already holds the marker. */
static bool mark_nuls(char *text) {
    if (strstr(text, "\\ue000") != NULL || strstr(text, "\\uE000") != NULL ||
        strstr(text, "\xee\x80\x80") != NULL) {
        return false;
    }
    for (char *p = strstr(text, "\\u0000"); p != NULL; p = strstr(p, "\\u0000")) {
        memcpy(p, "\\ue000", 6);
    }
    return true;
}

/* A copy of `s` with each marker (EE 80 80) back to a NUL byte. */
static bf_str unmark_nuls(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; out != NULL && i < n; i++) {
        if (i + 2 < n && (unsigned char)s[i] == 0xee && (unsigned char)s[i + 1] == 0x80 &&
            (unsigned char)s[i + 2] == 0x80) {
            out[j++] = '\0';
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    bf_str r = {out, out == NULL ? 0 : j};
    return r;
}

static cJSON *json_string(bf_str s) {
    if (s.ptr == NULL) {
        return cJSON_CreateNull();
    }
    char *copy = malloc(s.len + 1);
    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, s.ptr, s.len);
    copy[s.len] = '\0';
    cJSON *out = cJSON_CreateString(copy);
    free(copy);
    return out;
}

static cJSON *error_json(size_t offset, bf_str code) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 0);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    cJSON_AddItemToObject(o, "code", json_string(code));
    return o;
}

static cJSON *tolerated_json(uint32_t bits) {
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {BF_TOLERATED_MISSING_COMMA, "missing_comma"},
        {BF_TOLERATED_UNQUOTED_NON_TOKEN, "unquoted_non_token"},
        {BF_TOLERATED_DUPLICATE_PARAM, "duplicate_param"},
        {BF_TOLERATED_TAB_AFTER_SCHEME, "tab_after_scheme"},
    };
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (bits & names[i].bit) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(names[i].name));
        }
    }
    return arr;
}

/* The typed Bearer view of challenge `index`, or {"error": code}. */
static cJSON *bearer_json(const bf_str *lines, size_t n, uint32_t mode, size_t index) {
    bf_bearer b;
    bool found = false;
    bf_status st = bf_bearer_challenge_parse(lines, n, mode, index, NULL, 0, NULL, 0, &b, &found);
    if (st == BF_STATUS_CHALLENGE) {
        bf_error e;
        bf_last_error(&e);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "error", json_string(e.code));
        return o;
    }
    char *buf = NULL;
    bf_str *scopes = NULL;
    if (st == BF_STATUS_BUFFER_TOO_SMALL) {
        size_t buf_len = b.buf_len;
        size_t scopes_len = b.scopes_len;
        buf = malloc(buf_len + 1);
        scopes = calloc(scopes_len + 1, sizeof *scopes);
        if (buf == NULL || scopes == NULL) {
            free(buf);
            free(scopes);
            return NULL;
        }
        st = bf_bearer_challenge_parse(lines, n, mode, index, buf, buf_len, scopes, scopes_len, &b,
                                       &found);
        if (st != BF_STATUS_OK || b.buf_len != buf_len || b.scopes_len != scopes_len) {
            free(buf);
            free(scopes);
            return NULL;
        }
    }
    if (st != BF_STATUS_OK || !found) {
        free(buf);
        free(scopes);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "realm", json_string(b.realm));
    cJSON_AddItemToObject(o, "error", json_string(b.error));
    cJSON_AddItemToObject(o, "error_description", json_string(b.error_description));
    cJSON_AddItemToObject(o, "error_uri", json_string(b.error_uri));
    cJSON_AddItemToObject(o, "scope", json_string(b.scope));
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < b.scopes_len; i++) {
        cJSON_AddItemToArray(arr, json_string(b.scopes[i]));
    }
    cJSON_AddItemToObject(o, "scopes", arr);
    cJSON_AddItemToObject(o, "resource_metadata", json_string(b.resource_metadata));
    free(buf);
    free(scopes);
    return o;
}

/*
 * The outcome in the vector shape. `want_bearer` is the expected challenges array (a
 * challenge that has a "bearer" key gets its typed view), or NULL. NULL on a broken
 * contract (sizes that do not agree), with the reason in the test's failure.
 */
static cJSON *outcome(const bf_str *lines, size_t n, uint32_t mode, const cJSON *want_bearer) {
    bf_challenge_list list;
    bf_status st = bf_challenge_parse(lines, n, mode, NULL, 0, NULL, 0, NULL, 0, &list);
    if (st == BF_STATUS_CHALLENGE) {
        return error_json(list.error_offset, list.error_code);
    }
    if (st != BF_STATUS_OK && st != BF_STATUS_BUFFER_TOO_SMALL) {
        fail_at(__FILE__, __LINE__, "bf_challenge_parse gave status %u", (unsigned)st);
        return NULL;
    }
    if (st == BF_STATUS_OK && (list.challenges_len || list.params_len || list.values_len)) {
        fail_at(__FILE__, __LINE__, "nothing fit, yet BF_STATUS_OK");
        return NULL;
    }
    size_t nc = list.challenges_len;
    size_t np = list.params_len;
    size_t nv = list.values_len;
    bf_challenge *cs = calloc(nc + 1, sizeof *cs);
    bf_param *ps = calloc(np + 1, sizeof *ps);
    char *vs = malloc(nv + 1);
    cJSON *out = NULL;
    if (cs == NULL || ps == NULL || vs == NULL) {
        goto done;
    }
    st = bf_challenge_parse(lines, n, mode, nc ? cs : NULL, nc, np ? ps : NULL, np,
                            nv ? vs : NULL, nv, &list);
    if (st != BF_STATUS_OK || list.challenges_len != nc || list.params_len != np ||
        list.values_len != nv) {
        fail_at(__FILE__, __LINE__,
                "second parse with the sizes asked for gave status %u (%zu/%zu, %zu/%zu, %zu/%zu)",
                (unsigned)st, list.challenges_len, nc, list.params_len, np, list.values_len, nv);
        goto done;
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "ok", 1);
    cJSON *arr = cJSON_AddArrayToObject(out, "challenges");
    for (size_t i = 0; i < nc; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToObject(c, "scheme", json_string(cs[i].scheme));
        cJSON_AddItemToObject(c, "token68", json_string(cs[i].token68));
        cJSON *params = cJSON_AddArrayToObject(c, "params");
        for (size_t j = 0; j < cs[i].params_len; j++) {
            const bf_param *p = &ps[cs[i].params_index + j];
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, json_string(p->name));
            cJSON_AddItemToArray(pair, json_string(p->value));
            cJSON_AddItemToArray(params, pair);
        }
        const cJSON *want = want_bearer ? cJSON_GetArrayItem(want_bearer, (int)i) : NULL;
        if (want != NULL && cJSON_GetObjectItemCaseSensitive(want, "bearer") != NULL) {
            cJSON *b = bearer_json(lines, n, mode, i);
            if (b == NULL) {
                fail_at(__FILE__, __LINE__, "bearer view of challenge %zu failed", i);
            } else {
                cJSON_AddItemToObject(c, "bearer", b);
            }
        }
        cJSON_AddItemToArray(arr, c);
    }
    cJSON_AddItemToObject(out, "tolerated", tolerated_json(list.tolerated));
done:
    free(cs);
    free(ps);
    free(vs);
    return out;
}

/* Keep only the keys `expect` names (as the Rust runner does). */
static void retain_keys(cJSON *got, const cJSON *expect) {
    cJSON *item = got->child;
    while (item != NULL) {
        cJSON *next = item->next;
        if (cJSON_GetObjectItemCaseSensitive(expect, item->string) == NULL) {
            cJSON_Delete(cJSON_DetachItemViaPointer(got, item));
        }
        item = next;
    }
}

static void vector_test(void *arg) {
    const vector_arg *a = arg;
    const cJSON *v = a->vector;
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "name"));
    const char *mode_s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "mode"));
    CHECK(mode_s != NULL, "%s: no mode", name);
    uint32_t mode = strcmp(mode_s, "strict") == 0 ? BF_PARSE_MODE_STRICT : BF_PARSE_MODE_LENIENT;
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(v, "expect");
    const cJSON *want_bearer = cJSON_GetObjectItemCaseSensitive(expect, "challenges");
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(v, "input_hex");
    cJSON *got = NULL;
    if (hex != NULL) {
        CHECK(cJSON_GetArraySize(hex) == 1, "%s: input_hex takes one line", name);
        const char *h = cJSON_GetStringValue(cJSON_GetArrayItem(hex, 0));
        size_t cap = h ? strlen(h) / 2 + 1 : 1;
        uint8_t *bytes = malloc(cap);
        size_t len = 0;
        if (bytes == NULL || h == NULL || !hex_decode(h, bytes, cap, &len)) {
            free(bytes);
            CHECK(false, "%s: bad hex", name);
        }
        bf_str line = {(const char *)bytes, len};
        got = outcome(&line, 1, mode, want_bearer);
        free(bytes);
    } else {
        const cJSON *input = cJSON_GetObjectItemCaseSensitive(v, "input");
        size_t n = (size_t)cJSON_GetArraySize(input);
        bf_str *lines = calloc(n + 1, sizeof *lines);
        CHECK(lines != NULL, "out of memory");
        size_t joined_len = 0;
        for (size_t i = 0; i < n; i++) {
            const char *line = cJSON_GetStringValue(cJSON_GetArrayItem(input, (int)i));
            lines[i] = unmark_nuls(line ? line : "");
            joined_len += lines[i].len + 2;
        }
        got = outcome(lines, n, mode, want_bearer);
        /* The lines stand for their join by ", " (RFC 9110 §5.3). */
        char *joined = malloc(joined_len + 1);
        if (joined != NULL) {
            joined[0] = '\0';
            size_t at = 0;
            for (size_t i = 0; i < n; i++) {
                if (i > 0) {
                    memcpy(joined + at, ", ", 2);
                    at += 2;
                }
                memcpy(joined + at, lines[i].ptr, lines[i].len);
                at += lines[i].len;
            }
            bf_str one = {joined, at};
            cJSON *again = outcome(&one, 1, mode, want_bearer);
            bool same = got != NULL && again != NULL && cJSON_Compare(got, again, true);
            cJSON_Delete(again);
            free(joined);
            for (size_t i = 0; i < n; i++) {
                free((char *)lines[i].ptr);
            }
            free(lines);
            if (!same) {
                cJSON_Delete(got);
                CHECK(false, "%s: the lines and their join parse differently", name);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                free((char *)lines[i].ptr);
            }
            free(lines);
        }
    }
    CHECK(got != NULL, "%s: no outcome", name);
    retain_keys(got, expect);
    bool same = cJSON_Compare(got, expect, true);
    if (!same) {
        char *g = cJSON_PrintUnformatted(got);
        char *w = cJSON_PrintUnformatted(expect);
        fail_at(__FILE__, __LINE__, "%s: %s\n      want %s\n      got  %s", a->file, name,
                w ? w : "?", g ? g : "?");
        free(g);
        free(w);
    }
    cJSON_Delete(got);
}

static void no_vectors(void *arg) {
    CHECK(false, "no challenge vectors in %s", (const char *)arg);
}

void challenge_vector_tests(const char *vectors_dir) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/challenge", vectors_dir);
    size_t n = 0;
    char **files = list_json_files(dir, &n);
    if (files == NULL || n == 0) {
        run_test("challenge_vectors::found", no_vectors, dir);
        free_list(files, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *text = read_file(files[i], NULL);
        cJSON *vectors = text && mark_nuls(text) ? cJSON_Parse(text) : NULL;
        free(text);
        const char *base = strrchr(files[i], '/');
        base = base ? base + 1 : files[i];
        int count = cJSON_GetArraySize(vectors);
        for (int j = 0; j < count; j++) {
            char name[256];
            snprintf(name, sizeof name, "challenge_vectors::%.*s::%d", (int)(strlen(base) - 5),
                     base, j);
            vector_arg a = {cJSON_GetArrayItem(vectors, j), base};
            run_test(name, vector_test, &a);
        }
        if (vectors == NULL) {
            char name[256];
            snprintf(name, sizeof name, "challenge_vectors::%s::parse", base);
            run_test(name, no_vectors, files[i]);
        }
        cJSON_Delete(vectors);
    }
    free_list(files, n);
}
