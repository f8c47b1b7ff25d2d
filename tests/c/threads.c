/* One engine shared by 4 threads, each with its own session, 100 requests each: every
 * thread's answers must equal those of a single-threaded run of the same requests.
 * Run by tests/c_api.rs plainly and under ThreadSanitizer.
 *
 * usage: threads DIR */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

enum { THREADS = 4, REQUESTS = 100, K = 3 };

typedef struct {
    uint32_t items[K];
    double scores[K];
    size_t len;
} answer;

typedef struct {
    const grlm_engine *engine;
    answer answers[REQUESTS];
    int failed;
    char error[256];
} worker;

/* Request `r`'s history: 1 to 5 fixture items, a different mix for every request. */
static size_t history_of(int r, uint32_t *out) {
    size_t len = 1 + (size_t)(r % 5);
    for (size_t j = 0; j < len; j++) out[j] = (uint32_t)((r * 7 + (int)j * 5) % 12) + 1;
    return len;
}

static void *run(void *arg) {
    worker *w = arg;
    grlm_session_params sp = grlm_session_default_params();
    sp.threads = 1;
    grlm_session *s = NULL;
    grlm_status st = grlm_session_new(w->engine, &sp, &s);
    if (st != GRLM_STATUS_OK) {
        snprintf(w->error, sizeof w->error, "session: %s", grlm_last_error_message());
        w->failed = 1;
        return NULL;
    }
    grlm_recommend_params p = grlm_recommend_default_params();
    p.k = K;
    p.beams = 4;
    for (int r = 0; r < REQUESTS; r++) {
        uint32_t history[5];
        size_t len = history_of(r, history);
        grlm_results *list = NULL;
        st = grlm_session_set_history(s, history, len);
        if (st == GRLM_STATUS_OK) st = grlm_recommend(s, &p, &list);
        if (st != GRLM_STATUS_OK) {
            snprintf(w->error, sizeof w->error, "request %d: %s: %s", r, grlm_status_name(st),
                     grlm_last_error_message());
            w->failed = 1;
            break;
        }
        answer *a = &w->answers[r];
        a->len = grlm_results_len(list);
        for (size_t i = 0; i < a->len && i < K; i++) {
            grlm_result res;
            grlm_results_get(list, i, &res);
            a->items[i] = res.item;
            a->scores[i] = res.score;
        }
        grlm_results_free(list);
    }
    grlm_session_free(s);
    return NULL;
}

static void *fail_and_report(void *out) {
    /* A fresh thread starts with no message, and its failure is its own. */
    int *ok = out;
    *ok = grlm_last_error_message()[0] == '\0';
    *ok &= grlm_engine_items(NULL, NULL, 0, NULL) == GRLM_STATUS_NULL_ARGUMENT;
    *ok &= strstr(grlm_last_error_message(), "engine") != NULL;
    return NULL;
}

static void test_last_error_is_per_thread(void) {
    CHECK(grlm_ground(NULL, "[a]", 1, NULL) == GRLM_STATUS_NULL_ARGUMENT);
    char before[256];
    snprintf(before, sizeof before, "%s", grlm_last_error_message());
    int ok = 0;
    pthread_t id;
    CHECK(pthread_create(&id, NULL, fail_and_report, &ok) == 0);
    CHECK(pthread_join(id, NULL) == 0);
    CHECK(ok);
    CHECK(strcmp(before, grlm_last_error_message()) == 0);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    test_last_error_is_per_thread();
    char model[4096], catalog[4096];
    grlm_engine_params ep = grlm_engine_default_params();
    ep.model_path = path_in(model, sizeof model, argv[1], "tiny.gguf");
    ep.catalog_path = path_in(catalog, sizeof catalog, argv[1], "fixture.grlm");
    grlm_engine *engine = NULL;
    REQUIRE_OK(grlm_engine_open(&ep, &engine));

    static worker reference, workers[THREADS];
    reference.engine = engine;
    run(&reference);
    if (reference.failed) {
        fprintf(stderr, "single-threaded run: %s\n", reference.error);
        return 1;
    }

    pthread_t ids[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t].engine = engine;
        CHECK(pthread_create(&ids[t], NULL, run, &workers[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) CHECK(pthread_join(ids[t], NULL) == 0);

    for (int t = 0; t < THREADS; t++) {
        if (workers[t].failed) {
            fprintf(stderr, "thread %d: %s\n", t, workers[t].error);
            check_failures++;
            continue;
        }
        for (int r = 0; r < REQUESTS; r++) {
            const answer *a = &workers[t].answers[r], *want = &reference.answers[r];
            int same = a->len == want->len;
            for (size_t i = 0; same && i < a->len; i++)
                same = a->items[i] == want->items[i] && a->scores[i] == want->scores[i];
            if (!same) {
                fprintf(stderr, "thread %d, request %d: answer differs from the reference\n", t,
                        r);
                check_failures++;
            }
        }
    }
    grlm_engine_free(engine);
    if (check_failures) {
        fprintf(stderr, "%d check(s) failed\n", check_failures);
        return 1;
    }
    printf("threads: %d threads x %d requests identical to the single-threaded run\n", THREADS,
           REQUESTS);
    return 0;
}
