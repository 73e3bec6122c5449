/* Small helpers shared by the harness's test files. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0;
    size_t used = 0;
    for (;;) {
        if (used + 4096 + 1 > cap) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            char *n = realloc(buf, ncap);
            if (n == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = n;
            cap = ncap;
        }
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    buf[used] = '\0';
    if (len != NULL) {
        *len = used;
    }
    return buf;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool hex_decode(const char *hex, uint8_t *out, size_t out_len, size_t *written) {
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > out_len) {
        return false;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(hex[2 * i]);
        int lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    if (written != NULL) {
        *written = n / 2;
    }
    return true;
}

bool str_eq(bf_str s, const char *want) {
    size_t n = strlen(want);
    if (s.len != n) {
        return false;
    }
    return n == 0 || (s.ptr != NULL && memcmp(s.ptr, want, n) == 0);
}

bf_str str_of(const char *s) {
    bf_str out = {s, s == NULL ? 0 : strlen(s)};
    return out;
}

cJSON *json_of_str(bf_str s) {
    if (s.ptr == NULL) {
        return NULL;
    }
    return cJSON_ParseWithLength(s.ptr, s.len);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **list_json_files(const char *dir, size_t *count) {
    *count = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return NULL;
    }
    size_t cap = 16;
    char **list = malloc(cap * sizeof *list);
    struct dirent *e;
    while (list != NULL && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 ||
            strstr(e->d_name, "schema") != NULL) {
            continue;
        }
        if (*count == cap) {
            cap *= 2;
            char **grown = realloc(list, cap * sizeof *list);
            if (grown == NULL) {
                break;
            }
            list = grown;
        }
        size_t full = strlen(dir) + 1 + n + 1;
        char *path = malloc(full);
        if (path == NULL) {
            break;
        }
        snprintf(path, full, "%s/%s", dir, e->d_name);
        list[(*count)++] = path;
    }
    closedir(d);
    if (list != NULL) {
        qsort(list, *count, sizeof *list, compare_names);
    }
    return list;
}

void free_list(char **list, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(list[i]);
    }
    free(list);
}

const char *phase_name(bf_phase p) {
    switch (p) {
    case BF_PHASE_UNAUTHORIZED: return "unauthorized";
    case BF_PHASE_AUTHORIZING: return "authorizing";
    case BF_PHASE_FRESH: return "fresh";
    case BF_PHASE_EXPIRING: return "expiring";
    case BF_PHASE_EXPIRED: return "expired";
    case BF_PHASE_REFRESHING: return "refreshing";
    case BF_PHASE_FAILED: return "failed";
    default: return "?";
    }
}

const char *purpose_name(bf_fetch_purpose p) {
    switch (p) {
    case BF_FETCH_PURPOSE_REFRESH: return "refresh";
    case BF_FETCH_PURPOSE_RESOURCE_METADATA: return "resource_metadata";
    case BF_FETCH_PURPOSE_SERVER_METADATA: return "server_metadata";
    case BF_FETCH_PURPOSE_REGISTRATION: return "registration";
    case BF_FETCH_PURPOSE_CODE_EXCHANGE: return "code_exchange";
    case BF_FETCH_PURPOSE_CLIENT_CREDENTIALS: return "client_credentials";
    default: return "?";
    }
}
