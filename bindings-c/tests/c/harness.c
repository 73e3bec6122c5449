/*
 * The C ABI test harness: replays every file in tests/vectors/ through the C ABI and
 * runs the bad-input cases. Usage: harness VECTORS_DIR [FILTER]
 */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static unsigned passed;
static unsigned failed;
static bool current_failed;
static char current_reason[2048];
static const char *filter;

void fail_at(const char *file, int line, const char *fmt, ...) {
    if (current_failed) {
        return;
    }
    current_failed = true;
    int n = snprintf(current_reason, sizeof current_reason, "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= sizeof current_reason) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(current_reason + n, sizeof current_reason - (size_t)n, fmt, ap);
    va_end(ap);
}

bool test_failed(void) { return current_failed; }

void run_test(const char *name, void (*fn)(void *), void *arg) {
    if (filter != NULL && strstr(name, filter) == NULL) {
        return;
    }
    current_failed = false;
    current_reason[0] = '\0';
    fn(arg);
    if (current_failed) {
        failed++;
        printf("test %s ... FAILED\n    %s\n", name, current_reason);
    } else {
        passed++;
        printf("test %s ... ok\n", name);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s VECTORS_DIR [FILTER]\n", argv[0]);
        return 2;
    }
    if (argc > 2) {
        filter = argv[2];
    }
    session_vector_tests(argv[1]);
    challenge_vector_tests(argv[1]);
    bad_input_tests();
    guard_tests();
    host_api_tests();
    printf("\ntest result: %s. %u passed; %u failed; 0 ignored; 0 measured; 0 filtered out\n",
           failed == 0 ? "ok" : "FAILED", passed, failed);
    if (passed == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return failed == 0 ? 0 : 1;
}
