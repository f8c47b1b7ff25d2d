/* Assertions for the C API tests: each failed check prints where and why, and the program
 * exits non-zero at the end, so one run reports every failure. */
#ifndef GRLM_TEST_CHECK_H
#define GRLM_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "grlm.h"

static int check_failures;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            check_failures++;                                                              \
        }                                                                                  \
    } while (0)

/* `expr` returns `want`; a failure other than the one wanted leaves an error message. */
#define CHECK_STATUS(expr, want)                                                           \
    do {                                                                                   \
        grlm_status got_ = (expr);                                                         \
        if (got_ != (want)) {                                                              \
            fprintf(stderr, "%s:%d: %s returned %s, wanted %s (%s)\n", __FILE__, __LINE__, \
                    #expr, grlm_status_name(got_), grlm_status_name(want),                 \
                    grlm_last_error_message());                                            \
            check_failures++;                                                              \
        } else if ((want) != GRLM_STATUS_OK && grlm_last_error_message()[0] == '\0') {     \
            fprintf(stderr, "%s:%d: %s failed without a message\n", __FILE__, __LINE__,    \
                    #expr);                                                                \
            check_failures++;                                                              \
        } else if ((want) == GRLM_STATUS_OK && grlm_last_error_message()[0] != '\0') {     \
            fprintf(stderr, "%s:%d: %s succeeded but left a message\n", __FILE__,          \
                    __LINE__, #expr);                                                      \
            check_failures++;                                                              \
        }                                                                                  \
    } while (0)

/* Fatal variant for steps the rest of a test depends on. */
#define REQUIRE_OK(expr)                                                                   \
    do {                                                                                   \
        grlm_status got_ = (expr);                                                         \
        if (got_ != GRLM_STATUS_OK) {                                                      \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr,      \
                    grlm_status_name(got_), grlm_last_error_message());                    \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

/* `dir/name` in a static buffer per call site's `buf`. */
static const char *path_in(char *buf, size_t cap, const char *dir, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

#endif
