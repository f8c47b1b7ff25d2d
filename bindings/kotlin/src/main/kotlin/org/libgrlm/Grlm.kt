package org.libgrlm

import com.sun.jna.Library
import com.sun.jna.Native

/**
 * The loaded libgrlm and facts about it.
 *
 * The library is loaded on first use, by the name "grlm": JNA finds libgrlm.so on
 * `jna.library.path` (desktop JVM) or among the app's native libraries (Android jniLibs).
 */
object Grlm {
    /** The `GRLM_ABI_VERSION` of the include/grlm.h this binding was written against. */
    const val ABI_VERSION: Int = 1

    /**
     * `GRLM_PRIOR_WEIGHT_AUTO`, the default `priorWeight` of [Session.recommend]: the
     * catalogue's prior at the library's default weight when it has one, none otherwise.
     */
    const val PRIOR_WEIGHT_AUTO: Double = -1.0

    /**
     * `GRLM_BEAMS_AUTO`, the default `beams` of [Session.recommend]: the library's width for
     * the request, 10 fused with the prior and 20 otherwise, never below k when constrained.
     */
    const val BEAMS_AUTO: Int = 0

    /**
     * `GRLM_COLD_SLOTS_AUTO` (`UINT32_MAX`, -1 as a JVM int), the default `coldSlots` of
     * [Session.recommend]: the library's number, one place in ten of a fused list.
     */
    const val COLD_SLOTS_AUTO: Int = -1

    /**
     * The raw C API. Loading checks `grlm_abi_version()` and throws
     * [UnsatisfiedLinkError] on a mismatch; a failed load is retried, and fails the same
     * way, on the next access rather than leaving a half-initialised class behind.
     */
    val library: GrlmLibrary by lazy {
        val lib = Native.load(
            "grlm",
            GrlmLibrary::class.java,
            mapOf(Library.OPTION_STRING_ENCODING to "UTF-8")
        )
        checkAbi(lib.grlm_abi_version())
        lib
    }

    /** The library's version, "major.minor.patch". */
    fun version(): String = library.grlm_version()

    /** The library's ABI version (equal to [ABI_VERSION] once loaded). */
    fun abiVersion(): Int = library.grlm_abi_version()

    /** The C name of a status code, as the library spells it ("GRLM_STATUS_IO"). */
    fun statusName(code: Int): String = library.grlm_status_name(code)

    // A mismatched library would read and write structs with another layout: refuse it
    // before any such call can happen.
    internal fun checkAbi(libraryAbi: Int) {
        if (libraryAbi != ABI_VERSION) {
            throw UnsatisfiedLinkError(
                "libgrlm has ABI version $libraryAbi but the org.libgrlm binding was written for " +
                    "ABI version $ABI_VERSION: use the libgrlm.so built from the same source as the binding"
            )
        }
    }

    internal val engineDefaults: GrlmEngineParams.ByValue by lazy { library.grlm_engine_default_params() }
    internal val sessionDefaults: GrlmSessionParams.ByValue by lazy { library.grlm_session_default_params() }
    internal val recommendDefaults: GrlmRecommendParams.ByValue by lazy { library.grlm_recommend_default_params() }
}
