package org.libgrlm

import com.sun.jna.NativeLong
import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference

/** `grlm_method`: how a result was found. */
enum class Method(val code: Int) {
    /** Recommended by the model. */
    RECOMMENDED(0),

    /** Grounding: the query is exactly this item's TID. */
    DIRECT(1),

    /** Grounding: the item's TID shares (possibly fuzzy) terms with the query. */
    STRUCTURAL(2),

    /** Looked up by id. */
    LOOKUP(3),

    /** A method a newer library added that this binding does not know. */
    UNKNOWN(-1);

    companion object {
        private val byCode = values().associateBy { it.code }

        fun of(code: Int): Method = if (code == UNKNOWN.code) UNKNOWN else byCode[code] ?: UNKNOWN
    }
}

/**
 * One item of a result list: a recommendation, a grounding match or a lookup ([method]
 * says which). [item] is the catalogue's uint32 id; ids of 2^31 and above keep their bit
 * pattern and read as negative ([Int.toLong] `and 0xFFFFFFFFL` recovers them).
 *
 * [score]: a recommendation's log-probability (higher is better), 1 for a direct
 * grounding match, [0, 1) for a structural one, 0 for a lookup.
 */
data class Recommendation(
    val item: Int,
    val method: Method,
    val score: Double,
    val tid: String,
    val title: String?
)

/** One free-mode beam before grounding. */
data class Generated(
    /** What the model wrote. */
    val text: String,
    /** Its log-probability. */
    val score: Double,
    /** It parses as a TID of the catalogue's length. */
    val valid: Boolean,
    /** It names a catalogue TID exactly. */
    val direct: Boolean
)

/** What a recommendation cost. */
data class Stats(
    /** Prompt tokens evaluated: what differed from the cached prompt, at least the last token. */
    val promptTokens: Long,
    /** Prompt tokens reused from the session's cache. */
    val cachedTokens: Long,
    /** Tokens evaluated by the beam search. */
    val evaluatedTokens: Long,
    /** Beam search steps, one llama.cpp call each. */
    val steps: Int,
    /** Milliseconds inside llama.cpp decode calls. */
    val decodeMs: Double,
    /** Milliseconds for the whole request. */
    val totalMs: Double
)

/**
 * A recommendation: [items] best first; in free mode also the model's raw beams
 * ([generated], most probable first; empty in constrained mode).
 */
data class Recommendations(
    val items: List<Recommendation>,
    val generated: List<Generated>,
    val stats: Stats
)

// Results are copied into Kotlin objects and the native list freed before returning, so
// nothing the caller holds points into libgrlm memory.

/** Calls [produce] with an out-pointer, copies the list it made with [read], frees it. */
internal fun <T> GrlmLibrary.takeList(produce: (PointerByReference) -> Int, read: (Pointer) -> T): T {
    val out = PointerByReference()
    check(produce(out))
    val list = out.value
    try {
        return read(list)
    } finally {
        grlm_results_free(list)
    }
}

internal fun GrlmLibrary.readItems(list: Pointer): List<Recommendation> {
    val n = grlm_results_len(list).toLong()
    val r = GrlmResult()
    return (0 until n).map { i ->
        check(grlm_results_get(list, NativeLong(i), r))
        Recommendation(r.item, Method.of(r.method), r.score, utf8(r.tid!!), r.title?.let(::utf8))
    }
}

internal fun GrlmLibrary.readRecommendations(list: Pointer): Recommendations {
    val n = grlm_results_generated_len(list).toLong()
    val g = GrlmGenerated()
    val generated = (0 until n).map { i ->
        check(grlm_results_generated_get(list, NativeLong(i), g))
        Generated(utf8(g.text!!), g.score, g.valid != 0, g.direct != 0)
    }
    val s = GrlmStats()
    check(grlm_results_stats(list, s))
    val stats = Stats(s.prompt_tokens, s.cached_tokens, s.evaluated_tokens, s.steps, s.decode_ms, s.total_ms)
    return Recommendations(readItems(list), generated, stats)
}

private fun utf8(p: Pointer): String = p.getString(0, "UTF-8")
