/* Every function of grlm.h from C: success, and every error path, with out-parameters
 * checked to be untouched on failure. Run by tests/c_api.rs plainly, under
 * AddressSanitizer + UBSan, and under valgrind.
 *
 * usage: api DIR   (DIR holds the files tests/c_api.rs writes: see there) */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

static char sentinel_storage;
/* What out-pointers hold before a call that must fail and must not write them. */
#define SENTINEL ((void *)&sentinel_storage)

static char dir_buf[4096];
static const char *dir;

static const char *file(const char *name) {
    /* Enough slots that no path a test holds is overwritten while it is in use. */
    static char bufs[64][4096];
    static int next;
    next = (next + 1) % 64;
    return path_in(bufs[next], sizeof bufs[next], dir, name);
}

static grlm_engine_params engine_params(const char *model, const char *catalog) {
    grlm_engine_params p = grlm_engine_default_params();
    p.model_path = model;
    p.catalog_path = catalog;
    return p;
}

/* Opening with `p` fails with `want` and leaves the out-parameter alone. */
static void open_fails(grlm_engine_params p, grlm_status want, int line) {
    grlm_engine *engine = SENTINEL;
    grlm_status got = grlm_engine_open(&p, &engine);
    if (got != want || engine != SENTINEL || grlm_last_error_message()[0] == '\0') {
        fprintf(stderr, "api.c:%d: open returned %s (wanted %s), out %s, message \"%s\"\n", line,
                grlm_status_name(got), grlm_status_name(want),
                engine == SENTINEL ? "untouched" : "WRITTEN", grlm_last_error_message());
        check_failures++;
    }
}

static void test_versions(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", GRLM_VERSION_MAJOR, GRLM_VERSION_MINOR,
             GRLM_VERSION_PATCH);
    CHECK(strcmp(grlm_version(), want) == 0);
    CHECK(grlm_abi_version() == GRLM_ABI_VERSION);
    CHECK(strcmp(grlm_status_name(GRLM_STATUS_OK), "GRLM_STATUS_OK") == 0);
    CHECK(strcmp(grlm_status_name(GRLM_STATUS_UNKNOWN_ITEM), "GRLM_STATUS_UNKNOWN_ITEM") == 0);
    CHECK(strcmp(grlm_status_name(777), "GRLM_STATUS_UNKNOWN") == 0);
    CHECK(grlm_last_error_message() != NULL);
}

static void test_engine_open_errors(void) {
    const char *model = file("tiny.gguf"), *catalog = file("fixture.grlm");
    grlm_engine *engine = SENTINEL;
    grlm_engine_params p = engine_params(model, catalog);

    CHECK_STATUS(grlm_engine_open(NULL, &engine), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_engine_open(&p, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(engine == SENTINEL);

    grlm_engine_params sized = p;
    sized.size = 3;
    open_fails(sized, GRLM_STATUS_STRUCT_SIZE, __LINE__);
    sized.size = p.size + 8;
    open_fails(sized, GRLM_STATUS_STRUCT_SIZE, __LINE__);

    open_fails(engine_params(NULL, catalog), GRLM_STATUS_NULL_ARGUMENT, __LINE__);
    open_fails(engine_params(model, NULL), GRLM_STATUS_NULL_ARGUMENT, __LINE__);
    open_fails(engine_params("/tmp/\xff\xfe.gguf", catalog), GRLM_STATUS_INVALID_UTF8, __LINE__);
    open_fails(engine_params(model, "bad-\xc3\x28.grlm"), GRLM_STATUS_INVALID_UTF8, __LINE__);
    open_fails(engine_params(file("missing.gguf"), catalog), GRLM_STATUS_IO, __LINE__);
    open_fails(engine_params(file("garbage.gguf"), catalog), GRLM_STATUS_MODEL, __LINE__);
    open_fails(engine_params(model, file("missing.grlm")), GRLM_STATUS_IO, __LINE__);
    open_fails(engine_params(model, file("garbage.grlm")), GRLM_STATUS_CATALOG_CORRUPT, __LINE__);
    open_fails(engine_params(model, file("truncated.grlm")), GRLM_STATUS_CATALOG_CORRUPT,
               __LINE__);
    open_fails(engine_params(model, file("version9.grlm")), GRLM_STATUS_CATALOG_VERSION,
               __LINE__);
    open_fails(engine_params(model, file("plain.grlm")), GRLM_STATUS_NO_TOKEN_TRIE, __LINE__);
    open_fails(engine_params(file("other.gguf"), catalog), GRLM_STATUS_TOKENIZER_MISMATCH,
               __LINE__);

    grlm_engine_params lora = p;
    lora.lora_path = file("garbage-adapter.gguf");
    open_fails(lora, GRLM_STATUS_ADAPTER, __LINE__);
    lora.lora_path = file("missing-adapter.gguf");
    open_fails(lora, GRLM_STATUS_IO, __LINE__);
    lora.lora_path = file("adapter.gguf");
    lora.lora_scale = NAN;
    open_fails(lora, GRLM_STATUS_INVALID_ARGUMENT, __LINE__);
    lora.lora_path = "\xff";
    open_fails(lora, GRLM_STATUS_INVALID_UTF8, __LINE__);

    /* A good adapter at a finite scale opens. */
    lora.lora_path = file("adapter.gguf");
    lora.lora_scale = 0.5f;
    engine = NULL;
    CHECK_STATUS(grlm_engine_open(&lora, &engine), GRLM_STATUS_OK);
    CHECK(engine != NULL);
    grlm_engine_free(engine);
}

static void test_catalog_info(const grlm_engine *engine) {
    grlm_catalog_info info;
    memset(&info, 0xab, sizeof info);
    CHECK_STATUS(grlm_engine_catalog_info(NULL, &info), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_engine_catalog_info(engine, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(info.items == 0xabababababababab);
    CHECK_STATUS(grlm_engine_catalog_info(engine, &info), GRLM_STATUS_OK);
    CHECK(info.items == 12);
    CHECK(info.unique_tids >= 1 && info.unique_tids <= 12);
    CHECK(info.unique_terms > 5);
    CHECK(info.tid_len == 5);
    CHECK(info.format_major == 1 && info.format_minor == 2);
    CHECK(info.trie_nodes > 0);
    CHECK(info.bytes > 0);
}

static void test_results_accessors_reject_bad_input(const grlm_results *list) {
    grlm_result r;
    grlm_generated g;
    grlm_stats s;
    size_t n = grlm_results_len(list);
    memset(&r, 0xab, sizeof r);
    CHECK_STATUS(grlm_results_get(list, n, &r), GRLM_STATUS_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(grlm_results_get(list, SIZE_MAX, &r), GRLM_STATUS_INDEX_OUT_OF_RANGE);
    CHECK(r.item == 0xabababab);
    CHECK_STATUS(grlm_results_get(NULL, 0, &r), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_results_get(list, 0, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_results_generated_get(list, grlm_results_generated_len(list), &g),
                 GRLM_STATUS_INDEX_OUT_OF_RANGE);
    CHECK_STATUS(grlm_results_generated_get(NULL, 0, &g), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_results_generated_get(list, 0, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_results_stats(NULL, &s), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_results_stats(list, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(grlm_results_len(NULL) == 0);
    CHECK(grlm_results_generated_len(NULL) == 0);
}

static void test_items(const grlm_engine *engine) {
    const uint32_t ids[] = {2, 1};
    grlm_results *list = SENTINEL;
    CHECK_STATUS(grlm_engine_items(engine, ids, 2, &list), GRLM_STATUS_OK);
    CHECK(grlm_results_len(list) == 2);
    grlm_result r;
    CHECK_STATUS(grlm_results_get(list, 0, &r), GRLM_STATUS_OK);
    CHECK(r.item == 2 && r.method == GRLM_METHOD_LOOKUP && r.score == 0.0);
    CHECK(r.tid != NULL && r.tid[0] == '[');
    CHECK(r.title != NULL && strstr(r.title, "Shampoo") != NULL);
    CHECK_STATUS(grlm_results_get(list, 1, &r), GRLM_STATUS_OK);
    CHECK(r.item == 1 && r.title != NULL && strstr(r.title, "Mask") != NULL);
    grlm_stats s;
    CHECK_STATUS(grlm_results_stats(list, &s), GRLM_STATUS_OK);
    CHECK(s.steps == 0 && s.prompt_tokens == 0);
    CHECK(grlm_results_generated_len(list) == 0);
    test_results_accessors_reject_bad_input(list);
    grlm_results_free(list);

    const uint32_t unknown[] = {1, 999};
    list = SENTINEL;
    CHECK_STATUS(grlm_engine_items(engine, unknown, 2, &list), GRLM_STATUS_UNKNOWN_ITEM);
    CHECK(strstr(grlm_last_error_message(), "999") != NULL);
    CHECK_STATUS(grlm_engine_items(engine, NULL, 2, &list), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_engine_items(engine, ids, SIZE_MAX, &list), GRLM_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(grlm_engine_items(NULL, ids, 2, &list), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_engine_items(engine, ids, 2, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(list == SENTINEL);
    CHECK_STATUS(grlm_engine_items(engine, NULL, 0, &list), GRLM_STATUS_OK);
    CHECK(list != SENTINEL && grlm_results_len(list) == 0);
    grlm_results_free(list);
}

static void test_ground(const grlm_engine *engine) {
    /* Item 1's TID as a model might write it. */
    grlm_results *lookup = NULL;
    const uint32_t one = 1;
    if (grlm_engine_items(engine, &one, 1, &lookup) != GRLM_STATUS_OK) {
        check_failures++;
        return;
    }
    grlm_result r;
    CHECK_STATUS(grlm_results_get(lookup, 0, &r), GRLM_STATUS_OK);
    char tid[512];
    snprintf(tid, sizeof tid, "%s", r.tid);
    grlm_results_free(lookup);

    grlm_results *list = SENTINEL;
    CHECK_STATUS(grlm_ground(engine, tid, 3, &list), GRLM_STATUS_OK);
    CHECK(grlm_results_len(list) >= 1 && grlm_results_len(list) <= 3);
    CHECK_STATUS(grlm_results_get(list, 0, &r), GRLM_STATUS_OK);
    CHECK(r.item == 1 && r.method == GRLM_METHOD_DIRECT && r.score == 1.0);
    grlm_results_free(list);

    /* Structural: change the first term; item 1 still ranks first. */
    char fuzzy[512];
    const char *comma = strchr(tid, ',');
    snprintf(fuzzy, sizeof fuzzy, "[something-else%s", comma ? comma : "]");
    list = NULL;
    CHECK_STATUS(grlm_ground(engine, fuzzy, 3, &list), GRLM_STATUS_OK);
    CHECK(grlm_results_len(list) >= 1);
    CHECK_STATUS(grlm_results_get(list, 0, &r), GRLM_STATUS_OK);
    CHECK(r.item == 1 && r.method == GRLM_METHOD_STRUCTURAL && r.score < 1.0);
    grlm_results_free(list);

    /* A k far above the catalogue returns what matches, at most every item. */
    list = NULL;
    CHECK_STATUS(grlm_ground(engine, tid, UINT32_MAX, &list), GRLM_STATUS_OK);
    CHECK(grlm_results_len(list) >= 1 && grlm_results_len(list) <= 12);
    grlm_results_free(list);

    list = SENTINEL;
    CHECK_STATUS(grlm_ground(engine, tid, 0, &list), GRLM_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(grlm_ground(engine, "[a, b] trailing text", 3, &list), GRLM_STATUS_INVALID_TID);
    CHECK_STATUS(grlm_ground(engine, "[caf\xe9, x]", 3, &list), GRLM_STATUS_INVALID_UTF8);
    CHECK_STATUS(grlm_ground(engine, NULL, 3, &list), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_ground(NULL, tid, 3, &list), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_ground(engine, tid, 3, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(list == SENTINEL);
}

static grlm_session_params one_thread(void) {
    grlm_session_params p = grlm_session_default_params();
    p.threads = 1; /* the test machine is small and shared */
    return p;
}

static void test_session_new_errors(const grlm_engine *engine) {
    grlm_session_params d = grlm_session_default_params();
    CHECK(d.size == sizeof d && d.threads >= 1 && d.n_ctx == 2048 && d.max_beams == 32);
    CHECK(d.titles == 0);
    grlm_session *s = SENTINEL;
    grlm_session_params p = one_thread();
    CHECK_STATUS(grlm_session_new(NULL, &p, &s), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_new(engine, &p, NULL), GRLM_STATUS_NULL_ARGUMENT);
    p.size = 1;
    CHECK_STATUS(grlm_session_new(engine, &p, &s), GRLM_STATUS_STRUCT_SIZE);
    p = one_thread();
    p.threads = 0;
    CHECK_STATUS(grlm_session_new(engine, &p, &s), GRLM_STATUS_INVALID_ARGUMENT);
    p = one_thread();
    p.threads = 100000;
    CHECK_STATUS(grlm_session_new(engine, &p, &s), GRLM_STATUS_INVALID_ARGUMENT);
    p = one_thread();
    p.n_ctx = 8;
    CHECK_STATUS(grlm_session_new(engine, &p, &s), GRLM_STATUS_INVALID_ARGUMENT);
    p = one_thread();
    p.n_ctx = UINT32_MAX;
    CHECK_STATUS(grlm_session_new(engine, &p, &s), GRLM_STATUS_INVALID_ARGUMENT);
    p = one_thread();
    p.max_beams = 0;
    CHECK_STATUS(grlm_session_new(engine, &p, &s), GRLM_STATUS_INVALID_ARGUMENT);
    p = one_thread();
    p.titles = 2;
    CHECK_STATUS(grlm_session_new(engine, &p, &s), GRLM_STATUS_INVALID_ARGUMENT);
    CHECK(s == SENTINEL);

    /* NULL params means the defaults. */
    s = NULL;
    CHECK_STATUS(grlm_session_new(engine, NULL, &s), GRLM_STATUS_OK);
    CHECK(s != NULL);
    grlm_session_free(s);
}

static void test_history(grlm_session *s) {
    size_t len = 77;
    CHECK_STATUS(grlm_session_history_len(s, &len), GRLM_STATUS_OK);
    CHECK(len == 0);
    grlm_results *list = SENTINEL;
    CHECK_STATUS(grlm_recommend(s, NULL, &list), GRLM_STATUS_EMPTY_HISTORY);
    CHECK(list == SENTINEL);

    const uint32_t history[] = {1, 2, 3};
    const uint32_t unknown[] = {4, 12345};
    CHECK_STATUS(grlm_session_set_history(s, history, 3), GRLM_STATUS_OK);
    CHECK_STATUS(grlm_session_set_history(s, unknown, 2), GRLM_STATUS_UNKNOWN_ITEM);
    CHECK(strstr(grlm_last_error_message(), "12345") != NULL);
    CHECK_STATUS(grlm_session_history_len(s, &len), GRLM_STATUS_OK);
    CHECK(len == 3); /* unchanged by the failed call */
    CHECK_STATUS(grlm_session_append_history(s, unknown, 2), GRLM_STATUS_UNKNOWN_ITEM);
    CHECK_STATUS(grlm_session_history_len(s, &len), GRLM_STATUS_OK);
    CHECK(len == 3);
    CHECK_STATUS(grlm_session_set_history(s, NULL, 3), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_append_history(s, NULL, 1), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_set_history(s, history, (size_t)1 << 40),
                 GRLM_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(grlm_session_set_history(NULL, history, 3), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_append_history(NULL, history, 3), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_history_len(NULL, &len), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_history_len(s, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_append_history(s, NULL, 0), GRLM_STATUS_OK);
    CHECK_STATUS(grlm_session_history_len(s, &len), GRLM_STATUS_OK);
    CHECK(len == 3);
}

/* A recommendation with `p`: OK, and the results are distinct, ordered catalogue items. */
static grlm_results *recommend_ok(grlm_session *s, const grlm_recommend_params *p, int line) {
    grlm_results *list = NULL;
    grlm_status status = grlm_recommend(s, p, &list);
    if (status != GRLM_STATUS_OK) {
        fprintf(stderr, "api.c:%d: recommend returned %s: %s\n", line, grlm_status_name(status),
                grlm_last_error_message());
        check_failures++;
        return NULL;
    }
    double last = INFINITY;
    for (size_t i = 0; i < grlm_results_len(list); i++) {
        grlm_result r;
        CHECK_STATUS(grlm_results_get(list, i, &r), GRLM_STATUS_OK);
        CHECK(r.method == GRLM_METHOD_RECOMMENDED);
        CHECK(r.item >= 1 && r.item <= 12);
        CHECK(r.score <= last && isfinite(r.score));
        CHECK(r.tid != NULL && r.tid[0] == '[');
        last = r.score;
        for (size_t j = 0; j < i; j++) {
            grlm_result q;
            grlm_results_get(list, j, &q);
            CHECK(q.item != r.item);
        }
    }
    return list;
}

/* Re-evaluating a prompt in another batch shape moves scores by float noise: under 1e-4 with
 * llama.cpp's x86-64 kernels; its ARM64 kernels round differently (tests/arm64.rs runs this
 * file there under qemu). */
#if defined(__aarch64__)
#define SCORE_NOISE 2e-3 /* measured up to 6.1e-4 */
#else
#define SCORE_NOISE 1e-4
#endif

/* Whether entry `i` of two lists is the same item with the same score (up to noise). */
static int same_entry(const grlm_results *x, const grlm_results *y, size_t i) {
    grlm_result a, b;
    grlm_results_get(x, i, &a);
    grlm_results_get(y, i, &b);
    if (a.item == b.item && fabs(a.score - b.score) < SCORE_NOISE && strcmp(a.tid, b.tid) == 0) return 1;
    fprintf(stderr, "entry %zu: item %u score %.6f vs item %u score %.6f\n", i, a.item, a.score, b.item, b.score);
    return 0;
}

/* Whether two lists hold the same entries in the same order (scores within noise). */
static int same_lists(const grlm_results *x, const grlm_results *y) {
    if (grlm_results_len(x) != grlm_results_len(y)) {
        fprintf(stderr, "lists of %zu and %zu entries\n", grlm_results_len(x), grlm_results_len(y));
        return 0;
    }
    for (size_t i = 0; i < grlm_results_len(x); i++) {
        if (!same_entry(x, y, i)) return 0;
    }
    return 1;
}

static int contains(const grlm_results *list, uint32_t item) {
    for (size_t i = 0; i < grlm_results_len(list); i++) {
        grlm_result r;
        grlm_results_get(list, i, &r);
        if (r.item == item) return 1;
    }
    return 0;
}

static void test_recommend(grlm_session *s) {
    const uint32_t history[] = {1, 2, 3};
    CHECK_STATUS(grlm_session_set_history(s, history, 3), GRLM_STATUS_OK);
    grlm_recommend_params p = grlm_recommend_default_params();
    CHECK(p.size == sizeof p && p.k == 10 && p.beams == GRLM_BEAMS_AUTO && p.mode == GRLM_MODE_CONSTRAINED);
    CHECK(p.exclude_history == 1 && p.max_history == 20 && p.exclude == NULL && p.use_allow == 0);
    p.k = 3;
    p.beams = 5;

    grlm_results *first = recommend_ok(s, &p, __LINE__);
    CHECK(grlm_results_len(first) == 3);
    for (int i = 0; i < 3; i++) CHECK(!contains(first, history[i]));
    grlm_stats st;
    CHECK_STATUS(grlm_results_stats(first, &st), GRLM_STATUS_OK);
    CHECK(st.prompt_tokens > 0 && st.steps > 0 && st.evaluated_tokens > 0);
    CHECK(st.total_ms >= st.decode_ms && st.decode_ms >= 0);
    CHECK(grlm_results_generated_len(first) == 0);

    /* The same request again: only the last prompt token is evaluated again (for its
     * logits), and the answer is the same up to float noise from the other batch shape. */
    grlm_results *again = recommend_ok(s, &p, __LINE__);
    CHECK_STATUS(grlm_results_stats(again, &st), GRLM_STATUS_OK);
    CHECK(st.prompt_tokens == 1 && st.cached_tokens > 0);
    CHECK(same_lists(first, again));
    grlm_results_free(again);

    /* Appending evaluates only the new item's tokens. */
    const uint32_t next = 4;
    CHECK_STATUS(grlm_session_append_history(s, &next, 1), GRLM_STATUS_OK);
    grlm_results *appended = recommend_ok(s, &p, __LINE__);
    CHECK_STATUS(grlm_results_stats(appended, &st), GRLM_STATUS_OK);
    CHECK(st.prompt_tokens > 0 && st.cached_tokens > 0);
    CHECK(!contains(appended, 4));
    grlm_results_free(appended);

    /* Exclusions and allow-lists. */
    grlm_result top;
    CHECK_STATUS(grlm_results_get(first, 0, &top), GRLM_STATUS_OK);
    grlm_recommend_params q = p;
    q.exclude = &top.item;
    q.exclude_len = 1;
    grlm_results *excluded = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(excluded) >= 1 && !contains(excluded, top.item));
    grlm_results_free(excluded);
    const uint32_t allow[] = {6, 7};
    q = p;
    q.allow = allow;
    q.allow_len = 2;
    grlm_results *ignored = recommend_ok(s, &q, __LINE__); /* use_allow is 0: not read */
    CHECK(grlm_results_len(ignored) == 3);
    grlm_results_free(ignored);
    q.use_allow = 1;
    grlm_results *allowed = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(allowed) >= 1);
    for (size_t i = 0; i < grlm_results_len(allowed); i++) {
        grlm_result r;
        grlm_results_get(allowed, i, &r);
        CHECK(r.item == 6 || r.item == 7);
    }
    grlm_results_free(allowed);
    q.allow_len = 0; /* an empty allow-list allows nothing, whatever the pointer */
    grlm_results *none = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(none) == 0);
    grlm_results_free(none);
    q.allow = NULL;
    none = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(none) == 0);
    grlm_results_free(none);
    q = p;
    q.exclude_history = 0;
    grlm_results *with_history = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(with_history) == 3);
    grlm_results_free(with_history);

    /* Free mode: beams are reported before grounding. */
    q = p;
    q.mode = GRLM_MODE_FREE;
    q.max_tokens = 24;
    grlm_results *free_mode = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_generated_len(free_mode) >= 1);
    for (size_t i = 0; i < grlm_results_generated_len(free_mode); i++) {
        grlm_generated g;
        CHECK_STATUS(grlm_results_generated_get(free_mode, i, &g), GRLM_STATUS_OK);
        CHECK(g.text != NULL && g.valid <= 1 && g.direct <= g.valid && g.score <= 0.0);
    }
    test_results_accessors_reject_bad_input(free_mode);
    grlm_results_free(free_mode);

    /* Bad requests fail, write nothing, and leave the session usable. */
    grlm_results *list = SENTINEL;
    q = p;
    q.k = 0;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q.k = UINT32_MAX;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q = p;
    q.k = 6; /* more than the beam width */
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q = p;
    q.beams = 1000;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    /* The automatic width (20 without a prior) takes k = 6, which 5 beams refused. */
    q = p;
    q.k = 6;
    q.beams = GRLM_BEAMS_AUTO;
    grlm_results *automatic = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(automatic) == 6);
    grlm_results_free(automatic);
    q = p;
    q.mode = 7;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q = p;
    q.exclude_history = 2;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q = p;
    q.max_history = 0;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q = p;
    q.exclude_len = 3; /* with a NULL list */
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_NULL_ARGUMENT);
    q = p;
    q.use_allow = 1;
    q.allow = allow;
    q.allow_len = SIZE_MAX;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q.allow = NULL;
    q.allow_len = 2;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_NULL_ARGUMENT);
    q = p;
    q.use_allow = 3;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    q = p;
    q.size = 0;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_STRUCT_SIZE);
    CHECK_STATUS(grlm_recommend(NULL, &p, &list), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_recommend(s, &p, NULL), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(list == SENTINEL);

    /* Same history as `first` again: still the same answer after all those failures. */
    CHECK_STATUS(grlm_session_set_history(s, history, 3), GRLM_STATUS_OK);
    grlm_results *after = recommend_ok(s, &p, __LINE__);
    CHECK(same_lists(first, after));
    grlm_results_free(after);
    grlm_results_free(first);
}

/* The first version of grlm_recommend_params, as a caller built against the header before
 * the prior fields were appended still passes it. */
typedef struct recommend_params_v1 {
    uint32_t size, k, beams;
    grlm_mode mode;
    uint32_t exclude_history, max_history, max_tokens;
    const uint32_t *exclude;
    size_t exclude_len;
    uint32_t use_allow;
    const uint32_t *allow;
    size_t allow_len;
} recommend_params_v1;

/* The second version: the first plus the prior fields before prior_evidence. */
typedef struct recommend_params_v2 {
    recommend_params_v1 v1;
    double prior_weight;
    uint32_t prior_window;
    double prior_decay, prior_smoothing;
} recommend_params_v2;

/* The third version: the second plus prior_evidence. */
typedef struct recommend_params_v3 {
    recommend_params_v2 v2;
    double prior_evidence;
} recommend_params_v3;

/* The fourth version: the third plus prior_fusion and prior_model_share. */
typedef struct recommend_params_v4 {
    recommend_params_v3 v3;
    grlm_fusion prior_fusion;
    double prior_model_share;
} recommend_params_v4;

/* The fifth version: the fourth plus prior_cold_slots. */
typedef struct recommend_params_v5 {
    recommend_params_v4 v4;
    uint32_t prior_cold_slots;
} recommend_params_v5;

static int test_prior(void) {
    grlm_engine *plain = NULL, *engine = NULL;
    grlm_engine_params ep = engine_params(file("tiny.gguf"), file("fixture.grlm"));
    REQUIRE_OK(grlm_engine_open(&ep, &plain));
    ep = engine_params(file("tiny.gguf"), file("prior.grlm"));
    REQUIRE_OK(grlm_engine_open(&ep, &engine));

    /* Prior info: present or not, and nothing written on failure. */
    grlm_prior_info info;
    memset(&info, 0xab, sizeof info);
    CHECK_STATUS(grlm_engine_prior_info(plain, &info), GRLM_STATUS_OK);
    CHECK(info.present == 0 && info.users == 0 && info.transitions == 0 && info.bytes == 0);
    CHECK_STATUS(grlm_engine_prior_info(engine, &info), GRLM_STATUS_OK);
    CHECK(info.present == 1 && info.holdout == 1 && info.users == 5 && info.transitions == 10);
    CHECK(info.bytes > 64);
    grlm_prior_info untouched;
    memset(&untouched, 0xab, sizeof untouched);
    CHECK_STATUS(grlm_engine_prior_info(NULL, &untouched), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(untouched.users == 0xabababababababab);
    CHECK_STATUS(grlm_engine_prior_info(engine, NULL), GRLM_STATUS_NULL_ARGUMENT);

    /* The CPU kernels that run: a name, the same static string every time. */
    const char *variant = NULL, *again = NULL;
    CHECK_STATUS(grlm_engine_cpu_variant(engine, &variant), GRLM_STATUS_OK);
    CHECK(variant != NULL && strlen(variant) > 0);
    CHECK_STATUS(grlm_engine_cpu_variant(plain, &again), GRLM_STATUS_OK);
    CHECK(again == variant);
    const char *unset = "unset";
    CHECK_STATUS(grlm_engine_cpu_variant(NULL, &unset), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(unset, "unset") == 0);
    CHECK_STATUS(grlm_engine_cpu_variant(engine, NULL), GRLM_STATUS_NULL_ARGUMENT);

    grlm_session_params sp = one_thread();
    grlm_session *s = NULL, *t = NULL;
    REQUIRE_OK(grlm_session_new(engine, &sp, &s));
    REQUIRE_OK(grlm_session_new(plain, &sp, &t));
    const uint32_t history[] = {3, 7, 1, 9};
    CHECK_STATUS(grlm_session_set_history(s, history, 4), GRLM_STATUS_OK);
    CHECK_STATUS(grlm_session_set_history(t, history, 4), GRLM_STATUS_OK);
    grlm_recommend_params p = grlm_recommend_default_params();
    CHECK(p.prior_weight == GRLM_PRIOR_WEIGHT_AUTO && p.prior_window == 5);
    CHECK(p.prior_decay == 0.5 && p.prior_smoothing > 0.0 && p.prior_smoothing < 0.1);
    CHECK(p.prior_evidence == 0.0);
    CHECK(sizeof(recommend_params_v2) == offsetof(grlm_recommend_params, prior_evidence));
    CHECK(sizeof(recommend_params_v3) == offsetof(grlm_recommend_params, prior_fusion));
    CHECK(p.prior_fusion == GRLM_FUSION_PRODUCT && p.prior_model_share == 0.5);
    CHECK(sizeof(recommend_params_v4) == offsetof(grlm_recommend_params, prior_cold_slots));
    CHECK(p.prior_cold_slots == GRLM_COLD_SLOTS_AUTO);
    CHECK(sizeof(recommend_params_v5) == offsetof(grlm_recommend_params, prior_cold_margin));
    CHECK(!isnan(p.prior_cold_margin));
    p.k = 4;
    p.beams = 8;

    /* Prior mode: items the history's transitions lead to come first (1 led to 2, 7 to 8);
     * no model step runs. */
    grlm_recommend_params q = p;
    q.mode = GRLM_MODE_PRIOR;
    grlm_results *by_prior = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(by_prior) == 4);
    grlm_result r;
    grlm_results_get(by_prior, 0, &r);
    CHECK(r.item == 2);
    grlm_results_get(by_prior, 1, &r);
    CHECK(r.item == 8);
    grlm_stats st;
    CHECK_STATUS(grlm_results_stats(by_prior, &st), GRLM_STATUS_OK);
    CHECK(st.steps == 0 && st.prompt_tokens == 0);
    grlm_results_free(by_prior);

    /* Weight 0 is the model alone: the same answer as the catalogue without a prior. */
    q = p;
    q.prior_weight = 0.0;
    grlm_results *zero = recommend_ok(s, &q, __LINE__);
    grlm_results *alone = recommend_ok(t, &p, __LINE__);
    CHECK(same_lists(zero, alone));
    grlm_results_free(zero);
    grlm_results_free(alone);

    /* The default (automatic) weight fuses the prior; so does an explicit one. */
    grlm_results *fused = recommend_ok(s, &p, __LINE__);
    CHECK(grlm_results_len(fused) == 4);
    for (size_t i = 0; i < 4; i++) CHECK(!contains(fused, history[i]));
    grlm_results_free(fused);
    q = p;
    q.prior_weight = 2.5;
    q.prior_window = 2;
    q.prior_decay = 1.0;
    q.prior_smoothing = 0.0;
    fused = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(fused) >= 1);
    grlm_results_free(fused);

    /* A caller built against the first header passes the shorter struct: it works, with
     * the prior at its default (no cold slot in a list of 4: one place in ten). */
    recommend_params_v1 old;
    memcpy(&old, &p, sizeof old);
    old.size = sizeof old;
    grlm_results *from_old = recommend_ok(s, (const grlm_recommend_params *)&old, __LINE__);
    grlm_results *from_new = recommend_ok(s, &p, __LINE__);
    CHECK(same_lists(from_old, from_new));
    grlm_results_free(from_old);
    recommend_params_v2 second;
    memcpy(&second, &p, sizeof second);
    second.v1.size = sizeof second;
    grlm_results *from_second = recommend_ok(s, (const grlm_recommend_params *)&second, __LINE__);
    CHECK(same_lists(from_second, from_new));
    grlm_results_free(from_second);
    recommend_params_v3 third;
    memcpy(&third, &p, sizeof third);
    third.v2.v1.size = sizeof third;
    grlm_results *from_third = recommend_ok(s, (const grlm_recommend_params *)&third, __LINE__);
    CHECK(same_lists(from_third, from_new));
    grlm_results_free(from_third);
    recommend_params_v4 fourth;
    memcpy(&fourth, &p, sizeof fourth);
    fourth.v3.v2.v1.size = sizeof fourth;
    grlm_results *from_fourth = recommend_ok(s, (const grlm_recommend_params *)&fourth, __LINE__);
    CHECK(same_lists(from_fourth, from_new));
    grlm_results_free(from_fourth);
    recommend_params_v5 fifth;
    memcpy(&fifth, &p, sizeof fifth);
    fifth.v4.v3.v2.v1.size = sizeof fifth;
    grlm_results *from_fifth = recommend_ok(s, (const grlm_recommend_params *)&fifth, __LINE__);
    CHECK(same_lists(from_fifth, from_new));
    grlm_results_free(from_fifth);

    /* A cold slot: item 4 was only ever a held-out last item, so the counts never saw it;
     * the fused list keeps its first three and ends with it. More slots than k: refused. */
    q = p;
    q.prior_cold_slots = 1;
    q.prior_cold_margin = -INFINITY;
    grlm_results *slotted = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(slotted) == 4 && contains(slotted, 4) && !contains(from_new, 4));
    for (size_t i = 0; i < 3; i++) {
        grlm_result x, y;
        grlm_results_get(slotted, i, &x);
        grlm_results_get(from_new, i, &y);
        CHECK(x.item == y.item);
    }
    grlm_results_free(slotted);
    /* A margin no model score can clear keeps the counts' fourth item; NaN is refused. */
    q.prior_cold_margin = INFINITY;
    grlm_results *shut = recommend_ok(s, &q, __LINE__);
    CHECK(same_lists(shut, from_new));
    grlm_results_free(shut);
    q.prior_cold_margin = NAN;
    grlm_results *refused_margin = SENTINEL;
    CHECK_STATUS(grlm_recommend(s, &q, &refused_margin), GRLM_STATUS_INVALID_ARGUMENT);
    CHECK(refused_margin == SENTINEL && strstr(grlm_last_error_message(), "cold margin") != NULL);
    grlm_results_free(from_new);
    /* The automatic number is one place in ten: in a list of 10 (of the 12 items, the
     * history allowed), item 4 comes only by its slot. */
    q = p;
    q.k = 10;
    q.beams = 10;
    q.exclude_history = 0;
    q.prior_cold_margin = -INFINITY;
    grlm_results *auto_ten = recommend_ok(s, &q, __LINE__);
    q.prior_cold_slots = 1;
    grlm_results *one_in_ten = recommend_ok(s, &q, __LINE__);
    q.prior_cold_slots = 0;
    grlm_results *none_in_ten = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(auto_ten) == 10 && same_lists(auto_ten, one_in_ten));
    CHECK(contains(auto_ten, 4) && !contains(none_in_ten, 4));
    grlm_results_free(auto_ten);
    grlm_results_free(one_in_ten);
    grlm_results_free(none_in_ten);
    q = p;
    q.prior_cold_slots = 5;
    grlm_results *refused_slots = SENTINEL;
    CHECK_STATUS(grlm_recommend(s, &q, &refused_slots), GRLM_STATUS_INVALID_ARGUMENT);
    CHECK(refused_slots == SENTINEL && strstr(grlm_last_error_message(), "cold_slots") != NULL);

    /* The mixture: at a model share of 1 it is the model alone, item for item; at 0 the
     * prior's order; an unknown fusion or a share outside [0, 1] is refused. */
    q = p;
    q.prior_fusion = GRLM_FUSION_MIXTURE;
    q.prior_model_share = 1.0;
    grlm_results *all_model = recommend_ok(s, &q, __LINE__);
    q.prior_weight = 0.0;
    grlm_results *weight_zero = recommend_ok(s, &q, __LINE__);
    CHECK(same_lists(all_model, weight_zero));
    grlm_results_free(all_model);
    grlm_results_free(weight_zero);
    q = p;
    q.prior_fusion = GRLM_FUSION_MIXTURE;
    q.prior_model_share = 0.0;
    grlm_results *all_prior = recommend_ok(s, &q, __LINE__);
    q.mode = GRLM_MODE_PRIOR;
    grlm_results *prior_order = recommend_ok(s, &q, __LINE__);
    grlm_result a, b;
    grlm_results_get(all_prior, 0, &a);
    grlm_results_get(prior_order, 0, &b);
    CHECK(a.item == b.item);
    grlm_results_free(all_prior);
    grlm_results_free(prior_order);
    q = p;
    q.prior_fusion = 2;
    grlm_results *refused_fusion = SENTINEL;
    CHECK_STATUS(grlm_recommend(s, &q, &refused_fusion), GRLM_STATUS_INVALID_ARGUMENT);
    CHECK(refused_fusion == SENTINEL && strstr(grlm_last_error_message(), "prior_fusion") != NULL);
    q = p;
    q.prior_fusion = GRLM_FUSION_MIXTURE;
    q.prior_model_share = 1.5;
    CHECK_STATUS(grlm_recommend(s, &q, &refused_fusion), GRLM_STATUS_INVALID_ARGUMENT);
    CHECK(refused_fusion == SENTINEL && strstr(grlm_last_error_message(), "model share") != NULL);

    /* An evidence scale so large that the weight all but vanishes: the model alone's
     * scores, position by position (items sharing a TID may swap). */
    q = p;
    q.prior_weight = 2.0;
    q.prior_evidence = 1e12;
    grlm_results *scaled = recommend_ok(s, &q, __LINE__);
    q.prior_weight = 0.0;
    q.prior_evidence = 0.0;
    grlm_results *model_alone = recommend_ok(s, &q, __LINE__);
    CHECK(grlm_results_len(scaled) == grlm_results_len(model_alone));
    for (size_t i = 0; i < grlm_results_len(scaled) && i < grlm_results_len(model_alone); i++) {
        grlm_result a, b;
        grlm_results_get(scaled, i, &a);
        grlm_results_get(model_alone, i, &b);
        CHECK(fabs(a.score - b.score) < 1e-6);
    }
    grlm_results_free(scaled);
    grlm_results_free(model_alone);

    /* The automatic width: 10 beams fused with the prior, 20 without. A session allowing
     * one beam fewer refuses the request; one allowing exactly that many answers it as the
     * explicit width does. */
    grlm_engine *engines[] = {engine, plain};
    const uint32_t widths[] = {10, 20};
    for (int i = 0; i < 2; i++) {
        grlm_session_params narrow = one_thread();
        grlm_session *u = NULL;
        q = p;
        q.beams = GRLM_BEAMS_AUTO;
        narrow.max_beams = widths[i] - 1;
        REQUIRE_OK(grlm_session_new(engines[i], &narrow, &u));
        CHECK_STATUS(grlm_session_set_history(u, history, 4), GRLM_STATUS_OK);
        grlm_results *refused = SENTINEL;
        CHECK_STATUS(grlm_recommend(u, &q, &refused), GRLM_STATUS_INVALID_ARGUMENT);
        CHECK(refused == SENTINEL && strstr(grlm_last_error_message(), "default width") != NULL);
        grlm_session_free(u);
        narrow.max_beams = widths[i];
        REQUIRE_OK(grlm_session_new(engines[i], &narrow, &u));
        CHECK_STATUS(grlm_session_set_history(u, history, 4), GRLM_STATUS_OK);
        grlm_results *automatic = recommend_ok(u, &q, __LINE__);
        q.beams = widths[i];
        grlm_results *explicit_width = recommend_ok(u, &q, __LINE__);
        CHECK(grlm_results_len(automatic) == 4 && grlm_results_len(explicit_width) == 4);
        CHECK(same_lists(automatic, explicit_width));
        grlm_results_free(automatic);
        grlm_results_free(explicit_width);
        grlm_session_free(u);
    }

    /* Bad prior requests: clear statuses, nothing written. */
    grlm_results *list = SENTINEL;
    q = p;
    q.mode = GRLM_MODE_PRIOR;
    CHECK_STATUS(grlm_recommend(t, &q, &list), GRLM_STATUS_NO_PRIOR);
    CHECK(strstr(grlm_last_error_message(), "--sequences") != NULL);
    q = p;
    q.prior_weight = 1.0;
    CHECK_STATUS(grlm_recommend(t, &q, &list), GRLM_STATUS_NO_PRIOR);
    const double bad_weights[] = {-2.0, -0.5, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        q = p;
        q.prior_weight = bad_weights[i];
        CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    }
    q = p;
    q.prior_window = 0;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    const double bad_decays[] = {0.0, -1.0, 1.5, NAN};
    for (int i = 0; i < 4; i++) {
        q = p;
        q.prior_decay = bad_decays[i];
        CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    }
    const double bad_smoothing[] = {-0.1, 1.5, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        q = p;
        q.prior_smoothing = bad_smoothing[i];
        CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    }
    const double bad_evidence[] = {-1.0, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        q = p;
        q.prior_evidence = bad_evidence[i];
        CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    }
    q = p;
    q.mode = 3;
    CHECK_STATUS(grlm_recommend(s, &q, &list), GRLM_STATUS_INVALID_ARGUMENT);
    old.size = sizeof old - 4; /* neither version's size */
    CHECK_STATUS(grlm_recommend(s, (const grlm_recommend_params *)&old, &list), GRLM_STATUS_STRUCT_SIZE);
    CHECK(list == SENTINEL);
    CHECK(strcmp(grlm_status_name(GRLM_STATUS_NO_PRIOR), "GRLM_STATUS_NO_PRIOR") == 0);

    grlm_session_free(s);
    grlm_session_free(t);
    grlm_engine_free(engine);
    grlm_engine_free(plain);
    return 0;
}

static void test_prompt_too_long(const grlm_engine *engine) {
    grlm_session_params sp = one_thread();
    sp.n_ctx = 128; /* the tiny model's byte-level tokenizer makes ~90 tokens of one line */
    grlm_session *s = NULL;
    CHECK_STATUS(grlm_session_new(engine, &sp, &s), GRLM_STATUS_OK);
    uint32_t history[200];
    for (int i = 0; i < 200; i++) history[i] = (uint32_t)(i % 12) + 1;
    CHECK_STATUS(grlm_session_set_history(s, history, 200), GRLM_STATUS_OK);
    grlm_recommend_params p = grlm_recommend_default_params();
    p.k = 1;
    p.beams = 2;
    p.max_history = 200;
    p.exclude_history = 0;
    grlm_results *list = SENTINEL;
    CHECK_STATUS(grlm_recommend(s, &p, &list), GRLM_STATUS_PROMPT_TOO_LONG);
    CHECK(list == SENTINEL);
    /* The same session answers once the prompt fits. */
    p.max_history = 1;
    list = NULL;
    CHECK_STATUS(grlm_recommend(s, &p, &list), GRLM_STATUS_OK);
    CHECK(grlm_results_len(list) == 1);
    grlm_results_free(list);
    grlm_session_free(s);
}

/* Save and restore: the restored session has the saved history, answers bit for bit as the
 * session that kept running, and evaluates only the appended line; foreign, damaged and
 * NULL states are refused with the session left cold and usable. */
static int test_session_state(grlm_engine *engine, grlm_engine *other) {
    grlm_session_params sp = one_thread();
    grlm_session *kept = NULL, *saved = NULL, *restored = NULL, *foreign = NULL;
    REQUIRE_OK(grlm_session_new(engine, &sp, &kept));
    REQUIRE_OK(grlm_session_new(engine, &sp, &saved));
    REQUIRE_OK(grlm_session_new(engine, &sp, &restored));
    REQUIRE_OK(grlm_session_new(other, &sp, &foreign));
    const uint32_t history[] = {3, 7, 1, 9};
    grlm_recommend_params p = grlm_recommend_default_params();
    p.k = 4;
    p.beams = 8;
    CHECK_STATUS(grlm_session_set_history(kept, history, 3), GRLM_STATUS_OK);
    CHECK_STATUS(grlm_session_set_history(saved, history, 3), GRLM_STATUS_OK);
    grlm_results_free(recommend_ok(kept, &p, __LINE__));
    grlm_results_free(recommend_ok(saved, &p, __LINE__));

    grlm_state *state = SENTINEL;
    CHECK_STATUS(grlm_session_save_state(NULL, &state), GRLM_STATUS_NULL_ARGUMENT);
    CHECK(state == SENTINEL);
    CHECK_STATUS(grlm_session_save_state(saved, NULL), GRLM_STATUS_NULL_ARGUMENT);
    state = NULL;
    REQUIRE_OK(grlm_session_save_state(saved, &state));
    const uint8_t *data = grlm_state_data(state);
    size_t len = grlm_state_len(state);
    CHECK(data != NULL && len > 40 && memcmp(data, "GRLMSTAT", 8) == 0);
    CHECK(grlm_state_data(NULL) == NULL && grlm_state_len(NULL) == 0);
    grlm_session_free(saved);

    CHECK_STATUS(grlm_session_restore_state(restored, data, len), GRLM_STATUS_OK);
    size_t n = 0;
    CHECK_STATUS(grlm_session_history_len(restored, &n), GRLM_STATUS_OK);
    CHECK(n == 3);
    CHECK_STATUS(grlm_session_append_history(restored, history + 3, 1), GRLM_STATUS_OK);
    CHECK_STATUS(grlm_session_append_history(kept, history + 3, 1), GRLM_STATUS_OK);
    grlm_results *want = recommend_ok(kept, &p, __LINE__);
    grlm_results *got = recommend_ok(restored, &p, __LINE__);
    CHECK(grlm_results_len(got) == grlm_results_len(want));
    for (size_t i = 0; i < grlm_results_len(got) && i < grlm_results_len(want); i++) {
        grlm_result a, b;
        grlm_results_get(got, i, &a);
        grlm_results_get(want, i, &b);
        CHECK(a.item == b.item && a.score == b.score);
    }
    grlm_stats sg, sw;
    CHECK_STATUS(grlm_results_stats(got, &sg), GRLM_STATUS_OK);
    CHECK_STATUS(grlm_results_stats(want, &sw), GRLM_STATUS_OK);
    CHECK(sg.prompt_tokens == sw.prompt_tokens && sg.cached_tokens > 0);
    grlm_results_free(got);
    grlm_results_free(want);

    /* Another engine's session refuses the state, then answers cold. */
    CHECK_STATUS(grlm_session_set_history(foreign, history, 4), GRLM_STATUS_OK);
    CHECK_STATUS(grlm_session_restore_state(foreign, data, len), GRLM_STATUS_STATE_REFUSED);
    CHECK(strstr(grlm_last_error_message(), "another model") != NULL);
    CHECK_STATUS(grlm_session_history_len(foreign, &n), GRLM_STATUS_OK);
    CHECK(n == 0);
    CHECK_STATUS(grlm_session_set_history(foreign, history, 4), GRLM_STATUS_OK);
    grlm_results *cold = recommend_ok(foreign, &p, __LINE__);
    CHECK_STATUS(grlm_results_stats(cold, &sg), GRLM_STATUS_OK);
    CHECK(sg.cached_tokens == 0);
    grlm_results_free(cold);

    /* Damaged, cut and NULL states. */
    uint8_t *copy = malloc(len);
    memcpy(copy, data, len);
    copy[len / 2] ^= 1;
    CHECK_STATUS(grlm_session_restore_state(restored, copy, len), GRLM_STATUS_STATE_REFUSED);
    CHECK(strstr(grlm_last_error_message(), "damaged") != NULL);
    CHECK_STATUS(grlm_session_restore_state(restored, data, len - 1), GRLM_STATUS_STATE_REFUSED);
    CHECK_STATUS(grlm_session_restore_state(restored, NULL, len), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_restore_state(NULL, data, len), GRLM_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(grlm_session_restore_state(restored, data, (size_t)1 << 40), GRLM_STATUS_INVALID_ARGUMENT);
    free(copy);
    CHECK_STATUS(grlm_session_set_history(restored, history, 4), GRLM_STATUS_OK);
    grlm_results_free(recommend_ok(restored, &p, __LINE__));

    grlm_state_free(state);
    grlm_state_free(NULL);
    grlm_session_free(kept);
    grlm_session_free(restored);
    grlm_session_free(foreign);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    snprintf(dir_buf, sizeof dir_buf, "%s", argv[1]);
    dir = dir_buf;

    test_versions();
    test_engine_open_errors();

    grlm_engine_params p = engine_params(file("tiny.gguf"), file("fixture.grlm"));
    grlm_engine *engine = NULL;
    REQUIRE_OK(grlm_engine_open(&p, &engine));
    test_catalog_info(engine);
    test_items(engine);
    test_ground(engine);
    test_session_new_errors(engine);

    grlm_session_params sp = one_thread();
    grlm_session *session = NULL;
    REQUIRE_OK(grlm_session_new(engine, &sp, &session));
    test_history(session);
    test_recommend(session);
    test_prompt_too_long(engine);
    grlm_engine_params pp = engine_params(file("tiny.gguf"), file("prior.grlm"));
    grlm_engine *prior_engine = NULL;
    REQUIRE_OK(grlm_engine_open(&pp, &prior_engine));
    if (test_session_state(engine, prior_engine) != 0) return 1;
    grlm_engine_free(prior_engine);
    if (test_prior() != 0) return 1;

    /* The session keeps what it needs: it works after the engine is released. */
    grlm_engine_free(engine);
    grlm_recommend_params rp = grlm_recommend_default_params();
    rp.k = 2;
    rp.beams = 4;
    grlm_results *list = NULL;
    CHECK_STATUS(grlm_recommend(session, &rp, &list), GRLM_STATUS_OK);
    CHECK(grlm_results_len(list) == 2);
    grlm_results_free(list);
    grlm_session_free(session);

    /* Freeing NULL is a no-op. */
    grlm_engine_free(NULL);
    grlm_session_free(NULL);
    grlm_results_free(NULL);

    if (check_failures) {
        fprintf(stderr, "%d check(s) failed\n", check_failures);
        return 1;
    }
    printf("api: all checks passed\n");
    return 0;
}
