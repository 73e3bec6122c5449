/*
 * The C test harness for bearerflow's C ABI: a tiny libtest-style runner.
 *
 * Each test prints `test NAME ... ok` or `... FAILED` (with the reason), and the run
 * ends with libtest's summary line, `test result: ok. P passed; F failed; 0 ignored;
 * 0 measured; 0 filtered out`, which `cargo xtask ci` adds to its tally.
 */
#ifndef BEARERFLOW_C_HARNESS_H
#define BEARERFLOW_C_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bearerflow.h"

/* One failed check inside the current test: records the first message. */
void fail_at(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Whether the current test has failed so far. */
bool test_failed(void);

/* Run `fn(arg)` as test `name`, print its line, count it. */
void run_test(const char *name, void (*fn)(void *), void *arg);

#define CHECK(cond, ...)                                 \
    do {                                                 \
        if (!(cond)) {                                   \
            fail_at(__FILE__, __LINE__, __VA_ARGS__);    \
            return;                                      \
        }                                                \
    } while (0)

#define CHECK_STATUS(call, want)                                                  \
    do {                                                                          \
        bf_status got_status_ = (call);                                           \
        if (got_status_ != (want)) {                                              \
            bf_error e_;                                                          \
            bf_last_error(&e_);                                                   \
            fail_at(__FILE__, __LINE__, "%s gave status %u (%.*s: %.*s), want %u", \
                    #call, (unsigned)got_status_, (int)e_.code.len, e_.code.ptr,  \
                    (int)e_.message.len, e_.message.ptr, (unsigned)(want));       \
            return;                                                               \
        }                                                                         \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, BF_STATUS_OK)

/* Helpers (util.c). */
char *read_file(const char *path, size_t *len);
bool hex_decode(const char *hex, uint8_t *out, size_t out_len, size_t *written);
bool str_eq(bf_str s, const char *want);
bf_str str_of(const char *s);
cJSON *json_of_str(bf_str s);
char **list_json_files(const char *dir, size_t *count);
void free_list(char **list, size_t count);
const char *phase_name(bf_phase p);
const char *purpose_name(bf_fetch_purpose p);

/* The groups of tests (one file each). */
void session_vector_tests(const char *vectors_dir);
void challenge_vector_tests(const char *vectors_dir);
void bad_input_tests(void);
void guard_tests(void);
void host_api_tests(void);

#endif
