package org.libgrlm

import com.sun.jna.Library
import com.sun.jna.NativeLong
import com.sun.jna.Pointer
import com.sun.jna.ptr.NativeLongByReference
import com.sun.jna.ptr.PointerByReference

/**
 * The C API of include/grlm.h, one method per function, same names and argument order.
 * Prefer [Engine] and [Session]: this layer hands out raw pointers whose lifetime is the
 * caller's problem, exactly as in C.
 *
 * Type mapping:
 * - opaque handles (`grlm_engine *`, `grlm_session *`, `grlm_results *`) are [Pointer];
 *   out-handles (`T **out`) are [PointerByReference];
 * - `uint32_t`, `grlm_status` and `grlm_mode` are [Int] (same bits; every value the
 *   library defines is far below 2^31, and item ids keep their bit pattern);
 * - `size_t` is [NativeLong]. C `long` and `size_t` have the same width on every LP64 and
 *   ILP32 platform, which covers Linux and all four Android ABIs (arm64-v8a, x86_64,
 *   armeabi-v7a, x86), so 32-bit Android stays correct where a Kotlin [Long] would not.
 *   It is wrong only on 64-bit Windows (LLP64), which libgrlm does not target;
 * - `const uint32_t *` arguments are [IntArray] (JNA copies them in for the call);
 * - strings the library returns are [String], decoded as UTF-8 ([Grlm] loads the library
 *   with that encoding) and copied at once, which their "valid until the next call"
 *   lifetimes require anyway.
 */
@Suppress("FunctionName")
interface GrlmLibrary : Library {
    fun grlm_engine_default_params(): GrlmEngineParams.ByValue

    fun grlm_engine_open(params: GrlmEngineParams?, out: PointerByReference?): Int

    fun grlm_engine_free(engine: Pointer?)

    fun grlm_engine_catalog_info(engine: Pointer?, out: GrlmCatalogInfo?): Int

    fun grlm_engine_items(engine: Pointer?, items: IntArray?, len: NativeLong, out: PointerByReference?): Int

    fun grlm_ground(engine: Pointer?, tid: String?, k: Int, out: PointerByReference?): Int

    fun grlm_engine_prior_info(engine: Pointer?, out: GrlmPriorInfo?): Int

    fun grlm_engine_cpu_variant(engine: Pointer?, out: PointerByReference?): Int

    fun grlm_results_len(results: Pointer?): NativeLong

    fun grlm_results_get(results: Pointer?, index: NativeLong, out: GrlmResult?): Int

    fun grlm_results_generated_len(results: Pointer?): NativeLong

    fun grlm_results_generated_get(results: Pointer?, index: NativeLong, out: GrlmGenerated?): Int

    fun grlm_results_stats(results: Pointer?, out: GrlmStats?): Int

    fun grlm_results_free(results: Pointer?)

    fun grlm_session_default_params(): GrlmSessionParams.ByValue

    fun grlm_session_new(engine: Pointer?, params: GrlmSessionParams?, out: PointerByReference?): Int

    fun grlm_session_free(session: Pointer?)

    fun grlm_session_set_history(session: Pointer?, items: IntArray?, len: NativeLong): Int

    fun grlm_session_append_history(session: Pointer?, items: IntArray?, len: NativeLong): Int

    fun grlm_session_history_len(session: Pointer?, out: NativeLongByReference?): Int

    fun grlm_session_save_state(session: Pointer?, out: PointerByReference?): Int

    fun grlm_state_data(state: Pointer?): Pointer?

    fun grlm_state_len(state: Pointer?): NativeLong

    fun grlm_state_free(state: Pointer?)

    fun grlm_session_restore_state(session: Pointer?, data: ByteArray?, len: NativeLong): Int

    fun grlm_recommend_default_params(): GrlmRecommendParams.ByValue

    fun grlm_recommend(session: Pointer?, params: GrlmRecommendParams?, out: PointerByReference?): Int

    fun grlm_last_error_message(): String

    fun grlm_status_name(status: Int): String

    fun grlm_version(): String

    fun grlm_abi_version(): Int
}
