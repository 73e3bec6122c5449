/*
 * The resource-server guard through the C ABI: the exact answer for every outcome
 * (status, WWW-Authenticate byte for byte, JSON body), escaping, values refused for
 * control characters, the check list of the proposed conformance scenario for server
 * token validation, and bad input.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#define RES "https://mcp.example.com/mcp"
#define PRM "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

static bf_guard settings(const char *realm) {
    bf_guard g;
    g.resource = str_of(RES);
    g.resource_metadata = str_of(PRM);
    g.realm.ptr = realm;
    g.realm.len = realm == NULL ? 0 : strlen(realm);
    return g;
}

static bf_verification valid(const char *scope, const bf_str *audiences, size_t n) {
    bf_verification v;
    v.kind = BF_VERIFICATION_KIND_VALID;
    v.scope = str_of(scope);
    v.audiences = audiences;
    v.n_audiences = n;
    return v;
}

static bf_verification outcome(uint32_t kind) {
    bf_verification v = valid("", NULL, 0);
    v.kind = kind;
    return v;
}

#define INVALID_TOKEN(desc)                                                           \
    "Bearer realm=\"mcp\", error=\"invalid_token\", error_description=\"" desc        \
    "\", resource_metadata=\"" PRM "\""

static void answers_for_each_verification(void *arg) {
    (void)arg;
    bf_guard g = settings("mcp");
    bf_str here[2] = {str_of("https://other.example/"), str_of(RES)};
    bf_str other[1] = {str_of("https://other.example/mcp")};
    struct {
        bf_verification v;
        const char *required;
        uint16_t status;
        bf_refusal_kind kind;
        const char *header;
    } cases[] = {
        {valid("mcp:tools", here, 2), "mcp:tools", 0, BF_REFUSAL_KIND_NONE, ""},
        {valid("mcp:tools", other, 1), "", 401, BF_REFUSAL_KIND_WRONG_AUDIENCE,
         INVALID_TOKEN("the access token was issued for another resource")},
        {valid("mcp:tools", NULL, 0), "", 401, BF_REFUSAL_KIND_MISSING_AUDIENCE,
         INVALID_TOKEN("the access token names no audience")},
        {outcome(BF_VERIFICATION_KIND_EXPIRED), "", 401, BF_REFUSAL_KIND_EXPIRED_TOKEN,
         INVALID_TOKEN("the access token expired")},
        {outcome(BF_VERIFICATION_KIND_INVALID), "", 401, BF_REFUSAL_KIND_INVALID_TOKEN,
         INVALID_TOKEN("the access token is not valid")},
        {outcome(BF_VERIFICATION_KIND_UPSTREAM_EXPIRED), "", 401,
         BF_REFUSAL_KIND_UPSTREAM_TOKEN_EXPIRED,
         INVALID_TOKEN("the access token expired upstream; renew it and retry")},
        {outcome(BF_VERIFICATION_KIND_PROOF_OF_POSSESSION), "", 400,
         BF_REFUSAL_KIND_PROOF_OF_POSSESSION_NOT_SUPPORTED,
         "Bearer realm=\"mcp\", error=\"invalid_request\", error_description=\"DPoP-bound "
         "access tokens are not supported by this resource\", resource_metadata=\"" PRM "\""},
        {valid("mcp:tools", here, 2), "mcp:tools mcp:admin", 403,
         BF_REFUSAL_KIND_INSUFFICIENT_SCOPE,
         "Bearer realm=\"mcp\", error=\"insufficient_scope\", error_description=\"the request "
         "needs more scope than the token has\", scope=\"mcp:tools mcp:admin\", "
         "resource_metadata=\"" PRM "\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[512];
        bf_refusal r;
        CHECK_OK(bf_guard_decide(&g, &cases[i].v, str_of(cases[i].required), buf, sizeof buf, &r));
        CHECK(r.status == cases[i].status, "case %zu: status %u", i, (unsigned)r.status);
        CHECK(r.kind == cases[i].kind, "case %zu: kind %u", i, (unsigned)r.kind);
        CHECK(str_eq(r.www_authenticate, cases[i].header), "case %zu: header %.*s", i,
              (int)r.www_authenticate.len, r.www_authenticate.ptr);
        if (r.status != 0) {
            /* NUL-terminated texts in the caller's buffer. */
            CHECK(r.www_authenticate.ptr[r.www_authenticate.len] == '\0', "case %zu: NUL", i);
            CHECK(r.body.ptr[r.body.len] == '\0', "case %zu: body NUL", i);
            cJSON *body = json_of_str(r.body);
            CHECK(body != NULL, "case %zu: body is JSON", i);
            const cJSON *error = cJSON_GetObjectItemCaseSensitive(body, "error");
            bool error_is_string = cJSON_IsString(error);
            cJSON_Delete(body);
            CHECK(error_is_string, "case %zu: body has an error code", i);
        }
    }
}

static void answers_for_each_request(void *arg) {
    (void)arg;
    bf_guard g = settings(NULL);
    bf_str none[1];
    bf_str basic[1] = {str_of("Basic YWxhZGRpbjpvcGVu")};
    bf_str two[2] = {str_of("Bearer a"), str_of("Bearer b")};
    bf_str good[1] = {str_of("Bearer mF_9.B5f-4.1JqM")};
    bf_str dpop[1] = {str_of("DPoP abc")};
    bf_str query_token = str_of("x=1&access_token=abc");
    struct {
        bf_str *lines;
        size_t n;
        const bf_str *query;
        uint16_t status;
        const char *header;
    } cases[] = {
        {none, 0, NULL, 401, "Bearer resource_metadata=\"" PRM "\""},
        {basic, 1, NULL, 400,
         "Bearer error=\"invalid_request\", error_description=\"the Authorization header is "
         "not \\\"Bearer <token>\\\"\", resource_metadata=\"" PRM "\""},
        {two, 2, NULL, 400,
         "Bearer error=\"invalid_request\", error_description=\"more than one access token "
         "was presented\", resource_metadata=\"" PRM "\""},
        {good, 1, &query_token, 400,
         "Bearer error=\"invalid_request\", error_description=\"access tokens must be sent "
         "in the Authorization header, not the query string\", resource_metadata=\"" PRM "\""},
        {dpop, 1, NULL, 400,
         "Bearer error=\"invalid_request\", error_description=\"DPoP-bound access tokens "
         "are not supported by this resource\", resource_metadata=\"" PRM "\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[512];
        bf_refusal r;
        bf_str token;
        CHECK_OK(bf_guard_token(&g, cases[i].lines, cases[i].n, cases[i].query, &token, buf,
                                sizeof buf, &r));
        CHECK(token.ptr == NULL, "case %zu: no token", i);
        CHECK(r.status == cases[i].status, "case %zu: status %u", i, (unsigned)r.status);
        CHECK(str_eq(r.www_authenticate, cases[i].header), "case %zu: %.*s", i,
              (int)r.www_authenticate.len, r.www_authenticate.ptr);
    }
    /* A good header: the token, borrowed from the line. */
    char buf[512];
    bf_refusal r;
    bf_str token;
    bf_str query = str_of("x=1&access_tokens=2");
    CHECK_OK(bf_guard_token(&g, good, 1, &query, &token, buf, sizeof buf, &r));
    CHECK(r.status == 0 && r.kind == BF_REFUSAL_KIND_NONE, "served");
    CHECK(str_eq(token, "mF_9.B5f-4.1JqM"), "the token");
    CHECK(token.ptr == good[0].ptr + 7, "borrowed from the line");
}

/* Unauthenticated rejected, valid audience accepted, wrong or missing audience
 * rejected, expired rejected, untrusted rejected. */
static void conformance_check_list(void *arg) {
    (void)arg;
    bf_guard g = settings(NULL);
    char buf[512];
    bf_refusal r;
    bf_str token;
    CHECK_OK(bf_guard_token(&g, NULL, 0, NULL, &token, buf, sizeof buf, &r));
    CHECK(r.status == 401 && r.kind == BF_REFUSAL_KIND_MISSING_TOKEN, "unauthenticated");
    bf_str here[1] = {str_of(RES)};
    bf_str there[1] = {str_of("https://evil.example/mcp")};
    bf_verification ok = valid("", here, 1);
    CHECK_OK(bf_guard_decide(&g, &ok, str_of(""), buf, sizeof buf, &r));
    CHECK(r.status == 0, "valid audience accepted");
    bf_verification rejected[4] = {valid("", there, 1), valid("", NULL, 0),
                                   outcome(BF_VERIFICATION_KIND_EXPIRED),
                                   outcome(BF_VERIFICATION_KIND_INVALID)};
    for (size_t i = 0; i < 4; i++) {
        CHECK_OK(bf_guard_decide(&g, &rejected[i], str_of(""), buf, sizeof buf, &r));
        CHECK(r.status == 401, "case %zu rejected with 401, got %u", i, (unsigned)r.status);
        CHECK(strstr(r.www_authenticate.ptr, "error=\"invalid_token\"") != NULL, "case %zu", i);
    }
}

static void escaping_and_control_characters(void *arg) {
    (void)arg;
    char buf[512];
    bf_refusal r;
    bf_str token;
    bf_guard quoted = settings("say \"hi\" \\ bye");
    CHECK_OK(bf_guard_token(&quoted, NULL, 0, NULL, &token, buf, sizeof buf, &r));
    CHECK(str_eq(r.www_authenticate,
                 "Bearer realm=\"say \\\"hi\\\" \\\\ bye\", resource_metadata=\"" PRM "\""),
          "escaped: %.*s", (int)r.www_authenticate.len, r.www_authenticate.ptr);
    const char *bad[] = {"a\r\nSet-Cookie: x=1", "bell\a", "esc\x1b[2J", "del\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bf_guard g = settings(bad[i]);
        r.status = 999;
        CHECK_STATUS(bf_guard_token(&g, NULL, 0, NULL, &token, buf, sizeof buf, &r),
                     BF_STATUS_GUARD);
        bf_error e;
        bf_last_error(&e);
        CHECK(str_eq(e.code, "control_character"), "case %zu: code %.*s", i, (int)e.code.len,
              e.code.ptr);
        CHECK(r.status == 0, "case %zu: nothing to send", i);
    }
    bf_guard non_ascii = settings("caf\xc3\xa9");
    CHECK_STATUS(bf_guard_token(&non_ascii, NULL, 0, NULL, &token, buf, sizeof buf, &r),
                 BF_STATUS_GUARD);
    /* A required scope that cannot be quoted is left out, not sent broken. */
    bf_guard g = settings(NULL);
    bf_str here[1] = {str_of(RES)};
    bf_verification v = valid("", here, 1);
    CHECK_OK(bf_guard_decide(&g, &v, str_of("a\nb"), buf, sizeof buf, &r));
    CHECK(r.status == 403, "still refused");
    CHECK(memchr(r.www_authenticate.ptr, '\n', r.www_authenticate.len) == NULL, "no newline");
    CHECK(strstr(r.www_authenticate.ptr, "scope=") == NULL, "no scope");
}

static void late_refusals_and_the_metadata_document(void *arg) {
    (void)arg;
    bf_guard g = settings(NULL);
    char buf[512];
    bf_refusal r;
    CHECK_OK(bf_guard_refuse(&g, BF_REFUSAL_KIND_UPSTREAM_TOKEN_EXPIRED, NULL, buf, sizeof buf,
                             &r));
    CHECK(r.status == 401 && str_eq(r.kind_code, "upstream_token_expired"), "upstream");
    bf_str scope = str_of("mcp:admin");
    CHECK_OK(bf_guard_refuse(&g, BF_REFUSAL_KIND_INSUFFICIENT_SCOPE, &scope, buf, sizeof buf, &r));
    CHECK(r.status == 403 && strstr(r.www_authenticate.ptr, "scope=\"mcp:admin\"") != NULL,
          "step-up scope named");
    CHECK_STATUS(bf_guard_refuse(&g, BF_REFUSAL_KIND_NONE, NULL, buf, sizeof buf, &r),
                 BF_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(bf_guard_refuse(&g, 77, NULL, buf, sizeof buf, &r), BF_STATUS_INVALID_ARGUMENT);

    bf_str servers[1] = {str_of("https://auth.example.com")};
    bf_str scopes[1] = {str_of("mcp:tools")};
    char doc[512];
    size_t len = 0;
    CHECK_OK(bf_guard_resource_metadata(str_of(RES), servers, 1, scopes, 1, NULL, doc, sizeof doc,
                                        &len));
    cJSON *json = cJSON_Parse(doc);
    CHECK(json != NULL && len == strlen(doc), "JSON of the reported length");
    const cJSON *resource = cJSON_GetObjectItemCaseSensitive(json, "resource");
    const cJSON *methods = cJSON_GetObjectItemCaseSensitive(json, "bearer_methods_supported");
    bool ok = cJSON_IsString(resource) && strcmp(resource->valuestring, RES) == 0 &&
              cJSON_GetArraySize(methods) == 1;
    cJSON_Delete(json);
    CHECK(ok, "resource and bearer_methods_supported");
    CHECK_STATUS(bf_guard_resource_metadata(str_of(RES), servers, 1, NULL, 0, NULL, doc, 8, &len),
                 BF_STATUS_BUFFER_TOO_SMALL);
    CHECK(len > 8, "the length needed");
}

static void bad_arguments(void *arg) {
    (void)arg;
    bf_guard g = settings(NULL);
    char buf[512];
    char small[16];
    bf_refusal r;
    bf_str token;
    CHECK_STATUS(bf_guard_token(NULL, NULL, 0, NULL, &token, buf, sizeof buf, &r),
                 BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_guard_token(&g, NULL, 0, NULL, &token, buf, sizeof buf, NULL),
                 BF_STATUS_NULL_POINTER);
    CHECK_STATUS(bf_guard_token(&g, NULL, 1, NULL, &token, buf, sizeof buf, &r),
                 BF_STATUS_NULL_POINTER);
    bf_str not_utf8[1] = {{"Bearer \xff", 8}};
    CHECK_STATUS(bf_guard_token(&g, not_utf8, 1, NULL, &token, buf, sizeof buf, &r),
                 BF_STATUS_INVALID_UTF8);
    CHECK_STATUS(bf_guard_token(&g, NULL, 0, NULL, &token, small, sizeof small, &r),
                 BF_STATUS_BUFFER_TOO_SMALL);
    CHECK(r.status == 401 && r.buf_len > sizeof small, "status and size needed: %zu", r.buf_len);
    CHECK(r.www_authenticate.len == 0, "nothing borrowed from a buffer too small");
    bf_verification v = outcome(99);
    CHECK_STATUS(bf_guard_decide(&g, &v, str_of(""), buf, sizeof buf, &r),
                 BF_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(bf_guard_decide(&g, NULL, str_of(""), buf, sizeof buf, &r),
                 BF_STATUS_NULL_POINTER);
    bf_guard no_resource = g;
    no_resource.resource.ptr = NULL;
    no_resource.resource.len = 3;
    CHECK_STATUS(bf_guard_token(&no_resource, NULL, 0, NULL, &token, buf, sizeof buf, &r),
                 BF_STATUS_NULL_POINTER);
}

void guard_tests(void) {
    run_test("guard::answers_for_each_verification", answers_for_each_verification, NULL);
    run_test("guard::answers_for_each_request", answers_for_each_request, NULL);
    run_test("guard::conformance_check_list", conformance_check_list, NULL);
    run_test("guard::escaping_and_control_characters", escaping_and_control_characters, NULL);
    run_test("guard::late_refusals_and_the_metadata_document",
             late_refusals_and_the_metadata_document, NULL);
    run_test("guard::bad_arguments", bad_arguments, NULL);
}
