package org.libgrlm

import com.sun.jna.Memory
import com.sun.jna.NativeLong
import com.sun.jna.Pointer
import com.sun.jna.ptr.NativeLongByReference
import com.sun.jna.ptr.PointerByReference

/** How a recommendation's beams become items (`GRLM_MODE_*`). */
enum class Mode(val code: Int) {
    /** Beam search inside the catalogue's token trie: every result is a real, eligible item. */
    CONSTRAINED(0),

    /** Unconstrained beams, then grounding of what the model wrote (the paper's setting). */
    FREE(1),

    /**
     * The catalogue's collaborative prior alone ranks the eligible items; the model is not
     * run. Needs a catalogue with a prior, else [Status.NO_PRIOR].
     */
    PRIOR(2);

    companion object {
        fun of(code: Int): Mode = values().firstOrNull { it.code == code }
            ?: throw IllegalArgumentException("unknown grlm_mode $code")
    }
}

/** How constrained decoding combines the model with the collaborative prior (`grlm_fusion`). */
enum class Fusion(val code: Int) {
    /** A product of experts, s_LLM + λ·ln P: the counts rank, the model reorders ties. */
    PRODUCT(0),

    /**
     * A mixture, ln((1 − β)·P + β·P_LLM), β the model share: an item the counts know nothing
     * of (a new one) can still rank where the model is confident. The prior weight only
     * switches the prior on (0: the model alone).
     */
    MIXTURE(1);

    companion object {
        fun of(code: Int): Fusion = values().firstOrNull { it.code == code }
            ?: throw IllegalArgumentException("unknown grlm_fusion $code")
    }
}

/**
 * How a session is set up; the defaults are the library's (`grlm_session_default_params`).
 */
data class SessionParams(
    /** CPU threads for llama.cpp, 1..256. Default: the machine's available parallelism. */
    val threads: Int = Grlm.sessionDefaults.threads,
    /** KV cache cells: the prompt plus room for every beam. */
    val nCtx: Int = Grlm.sessionDefaults.n_ctx,
    /** Most beams a request may ask for, 1..255. */
    val maxBeams: Int = Grlm.sessionDefaults.max_beams,
    /** Show item titles after the TIDs in the prompt (must match the model's training). */
    val titles: Boolean = Grlm.sessionDefaults.titles != 0
)

/**
 * One KV cache and one history: one per user whose prompt should stay cached, or one per
 * thread. Use it from one thread at a time (it may move between threads); a call made
 * while another thread is inside one throws [Status.SESSION_BUSY].
 *
 * Item ids are the catalogue's uint32 ids (see [Recommendation.item]).
 */
class Session private constructor(handle: Pointer) : AutoCloseable {
    private val handle = NativeHandle(handle, "Session") { Grlm.library.grlm_session_free(it) }

    internal companion object {
        fun create(engine: Pointer, params: SessionParams): Session {
            val lib = Grlm.library
            val p = GrlmSessionParams().apply {
                size = Grlm.sessionDefaults.size
                threads = params.threads
                n_ctx = params.nCtx
                max_beams = params.maxBeams
                titles = if (params.titles) 1 else 0
            }
            val out = PointerByReference()
            lib.check(lib.grlm_session_new(engine, p, out))
            return Session(out.value)
        }
    }

    /**
     * Replaces the history with [items], oldest first. The KV cache is kept, so the next
     * recommendation evaluates only what differs. An unknown id throws
     * [Status.UNKNOWN_ITEM] and leaves the history as it was.
     */
    fun setHistory(items: Collection<Int>) = historyCall(items) { s, a, n -> Grlm.library.grlm_session_set_history(s, a, n) }

    /** Appends [items] (oldest first): the cheap way to record what the user just did. */
    fun appendHistory(items: Collection<Int>) =
        historyCall(items) { s, a, n -> Grlm.library.grlm_session_append_history(s, a, n) }

    /** Items in the history. */
    fun historyLength(): Int = handle.use { session ->
        val lib = Grlm.library
        val out = NativeLongByReference()
        lib.check(lib.grlm_session_history_len(session, out))
        // The library caps histories at 2^26 items.
        out.value.toInt()
    }

    /**
     * The session's state — its history, the prompt cached for its last recommendation and
     * that prompt's KV cells (about 23 KB a prompt token for SmolLM2-135M) — to keep while the
     * app is closed and give back to [restoreState].
     */
    fun saveState(): ByteArray = handle.use { session ->
        val lib = Grlm.library
        val out = PointerByReference()
        lib.check(lib.grlm_session_save_state(session, out))
        val state = out.value
        try {
            val len = lib.grlm_state_len(state).toInt()
            lib.grlm_state_data(state)?.getByteArray(0, len) ?: ByteArray(0)
        } finally {
            lib.grlm_state_free(state)
        }
    }

    /**
     * Restores a state from [saveState] (of this run of the app or an earlier one): the history
     * becomes the saved one, and the next recommendation for it, or for it with items appended,
     * evaluates only what is new. Throws [Status.STATE_REFUSED] for a damaged state or one
     * saved on another model, adapter or catalogue; the session is then empty and usable.
     */
    fun restoreState(state: ByteArray) = handle.use { session ->
        val lib = Grlm.library
        // JNA passes an empty array as NULL; the library refuses zero bytes as too short.
        lib.check(lib.grlm_session_restore_state(session, if (state.isEmpty()) ByteArray(1) else state, NativeLong(state.size.toLong())))
    }

    /**
     * The next items for the history, best first. Defaults are the library's
     * (`grlm_recommend_default_params`): k 10, the automatic width, constrained, history excluded,
     * the last 20 history items shown to the model, the catalogue's prior (if any) at the
     * library's default weight.
     *
     * @param beams beam width, at most the session's maxBeams; at least [k] when constrained.
     *   [Grlm.BEAMS_AUTO] (default): 10 fused with the prior, 20 otherwise, never below [k].
     * @param maxTokens free mode only: the longest a beam may grow.
     * @param exclude items never to return (unknown ids are ignored).
     * @param allow if not null, results come only from these items (empty allows nothing).
     * @param priorWeight λ, the collaborative prior's weight in constrained decoding:
     *   [Grlm.PRIOR_WEIGHT_AUTO] (default) for the library's default weight when the
     *   catalogue has a prior and none when it has not, 0 for the model alone, > 0 an
     *   explicit weight, which needs a prior ([Status.NO_PRIOR] otherwise).
     * @param priorWindow history items the prior looks back over, at least 1 (default 5).
     * @param priorDecay weight of each step further back, in (0, 1] (default 0.5).
     * @param priorSmoothing share of popularity in the prior, in [0, 1] (default 0.01).
     * @param priorEvidence κ, finite and >= 0: the prior's weight becomes λ·ΣT/(ΣT+κ), where
     *   ΣT is the history window's transition mass (default 0: λ whatever the evidence).
     * @param fusion how the model and the prior are combined (default [Fusion.PRODUCT]).
     * @param modelShare β, the model's share of a [Fusion.MIXTURE], in [0, 1] (default 0.5).
     * @param coldSlots places at the end of a fused list kept for the model's best items
     *   the prior's counts never saw (a new item), at most [k]; [Grlm.COLD_SLOTS_AUTO]
     *   (default): one place in ten (none when [k] is below 10); 0: none.
     * @param coldMargin m, in nats, not NaN: a cold item takes its slot only where the
     *   model's log-probability of its TID is at least m above that of the item it would
     *   push out; [Double.NEGATIVE_INFINITY]: always (default: the library's margin).
     */
    @JvmOverloads
    fun recommend(
        k: Int = Grlm.recommendDefaults.k,
        beams: Int = Grlm.recommendDefaults.beams,
        mode: Mode = Mode.of(Grlm.recommendDefaults.mode),
        excludeHistory: Boolean = Grlm.recommendDefaults.exclude_history != 0,
        maxHistory: Int = Grlm.recommendDefaults.max_history,
        maxTokens: Int = Grlm.recommendDefaults.max_tokens,
        exclude: Collection<Int> = emptyList(),
        allow: Collection<Int>? = null,
        priorWeight: Double = Grlm.recommendDefaults.prior_weight,
        priorWindow: Int = Grlm.recommendDefaults.prior_window,
        priorDecay: Double = Grlm.recommendDefaults.prior_decay,
        priorSmoothing: Double = Grlm.recommendDefaults.prior_smoothing,
        priorEvidence: Double = Grlm.recommendDefaults.prior_evidence,
        fusion: Fusion = Fusion.of(Grlm.recommendDefaults.prior_fusion),
        modelShare: Double = Grlm.recommendDefaults.prior_model_share,
        coldSlots: Int = Grlm.recommendDefaults.prior_cold_slots,
        coldMargin: Double = Grlm.recommendDefaults.prior_cold_margin
    ): Recommendations = handle.use { session ->
        val lib = Grlm.library
        // The struct holds the Memory blocks, so they outlive the call.
        val p = GrlmRecommendParams().apply {
            size = Grlm.recommendDefaults.size
            this.k = k
            this.beams = beams
            this.mode = mode.code
            exclude_history = if (excludeHistory) 1 else 0
            max_history = maxHistory
            max_tokens = maxTokens
            this.exclude = if (exclude.isEmpty()) null else idMemory(exclude)
            exclude_len = NativeLong(exclude.size.toLong())
            use_allow = if (allow != null) 1 else 0
            this.allow = allow?.takeIf { it.isNotEmpty() }?.let(::idMemory)
            allow_len = NativeLong(allow?.size?.toLong() ?: 0L)
            prior_weight = priorWeight
            prior_window = priorWindow
            prior_decay = priorDecay
            prior_smoothing = priorSmoothing
            prior_evidence = priorEvidence
            prior_fusion = fusion.code
            prior_model_share = modelShare
            prior_cold_slots = coldSlots
            prior_cold_margin = coldMargin
        }
        lib.takeList({ lib.grlm_recommend(session, p, it) }) { lib.readRecommendations(it) }
    }

    /** Frees the session and its KV cache; a second call does nothing, any other call then throws. */
    override fun close() = handle.close()

    private fun historyCall(items: Collection<Int>, call: (Pointer, IntArray?, NativeLong) -> Int) {
        handle.use { session ->
            val array = items.toIntArray()
            Grlm.library.check(call(session, array.orNull(), NativeLong(array.size.toLong())))
        }
    }

    // Only for non-empty lists: JNA refuses zero-byte blocks, and the C API reads no
    // pointer whose length is 0 (use_allow, not the pointer, says whether a list is set).
    private fun idMemory(ids: Collection<Int>): Memory {
        val memory = Memory(4L * ids.size)
        ids.forEachIndexed { i, id -> memory.setInt(4L * i, id) }
        return memory
    }
}
