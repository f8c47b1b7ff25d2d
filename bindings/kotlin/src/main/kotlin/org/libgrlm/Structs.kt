package org.libgrlm

import com.sun.jna.NativeLong
import com.sun.jna.Pointer
import com.sun.jna.Structure

// The C structs of include/grlm.h. JNA lays fields out in @FieldOrder order with the
// platform's C alignment, so the order and widths below must stay exactly the header's;
// field names are the C names so that the two can be compared line by line. The params
// structs carry a `size` that the library checks, which turns a layout slip there into
// GRLM_STATUS_STRUCT_SIZE instead of garbage.

/** `grlm_engine_params`. Path fields point at NUL-terminated UTF-8 the caller keeps alive. */
@Structure.FieldOrder("size", "gpu_layers", "model_path", "catalog_path", "lora_path", "lora_scale")
open class GrlmEngineParams : Structure() {
    @JvmField var size: Int = 0
    @JvmField var gpu_layers: Int = 0
    @JvmField var model_path: Pointer? = null
    @JvmField var catalog_path: Pointer? = null
    @JvmField var lora_path: Pointer? = null
    @JvmField var lora_scale: Float = 0f

    /** The return type of `grlm_engine_default_params`, which returns the struct by value. */
    class ByValue : GrlmEngineParams(), Structure.ByValue
}

/** `grlm_catalog_info`. */
@Structure.FieldOrder(
    "items", "unique_tids", "unique_terms", "tid_len", "format_major", "format_minor", "trie_nodes", "bytes"
)
open class GrlmCatalogInfo : Structure() {
    @JvmField var items: Long = 0
    @JvmField var unique_tids: Long = 0
    @JvmField var unique_terms: Long = 0
    @JvmField var tid_len: Int = 0
    @JvmField var format_major: Int = 0
    @JvmField var format_minor: Int = 0
    @JvmField var trie_nodes: Long = 0
    @JvmField var bytes: Long = 0
}

/** `grlm_prior_info`. */
@Structure.FieldOrder("present", "holdout", "users", "transitions", "bytes")
open class GrlmPriorInfo : Structure() {
    @JvmField var present: Int = 0
    @JvmField var holdout: Int = 0
    @JvmField var users: Long = 0
    @JvmField var transitions: Long = 0
    @JvmField var bytes: Long = 0
}

/** `grlm_result`. `tid` and `title` belong to the list they were read from. */
@Structure.FieldOrder("item", "method", "score", "tid", "title")
open class GrlmResult : Structure() {
    @JvmField var item: Int = 0
    @JvmField var method: Int = 0
    @JvmField var score: Double = 0.0
    @JvmField var tid: Pointer? = null
    @JvmField var title: Pointer? = null
}

/** `grlm_generated`. `text` belongs to the list it was read from. */
@Structure.FieldOrder("text", "score", "valid", "direct")
open class GrlmGenerated : Structure() {
    @JvmField var text: Pointer? = null
    @JvmField var score: Double = 0.0
    @JvmField var valid: Int = 0
    @JvmField var direct: Int = 0
}

/** `grlm_stats`. */
@Structure.FieldOrder("prompt_tokens", "cached_tokens", "evaluated_tokens", "steps", "decode_ms", "total_ms")
open class GrlmStats : Structure() {
    @JvmField var prompt_tokens: Long = 0
    @JvmField var cached_tokens: Long = 0
    @JvmField var evaluated_tokens: Long = 0
    @JvmField var steps: Int = 0
    @JvmField var decode_ms: Double = 0.0
    @JvmField var total_ms: Double = 0.0
}

/** `grlm_session_params`. */
@Structure.FieldOrder("size", "threads", "n_ctx", "max_beams", "titles")
open class GrlmSessionParams : Structure() {
    @JvmField var size: Int = 0
    @JvmField var threads: Int = 0
    @JvmField var n_ctx: Int = 0
    @JvmField var max_beams: Int = 0
    @JvmField var titles: Int = 0

    /** The return type of `grlm_session_default_params`. */
    class ByValue : GrlmSessionParams(), Structure.ByValue
}

/**
 * `grlm_recommend_params`. `exclude_len`/`allow_len` are `size_t`, mapped to [NativeLong]
 * for the reason given on [GrlmLibrary]. The prior fields come last because they were
 * appended later: the library still accepts the struct without them (older headers), and
 * this one, the full struct, is the size `grlm_recommend_default_params` reports.
 */
@Structure.FieldOrder(
    "size", "k", "beams", "mode", "exclude_history", "max_history", "max_tokens",
    "exclude", "exclude_len", "use_allow", "allow", "allow_len",
    "prior_weight", "prior_window", "prior_decay", "prior_smoothing", "prior_evidence",
    "prior_fusion", "prior_model_share", "prior_cold_slots", "prior_cold_margin"
)
open class GrlmRecommendParams : Structure() {
    @JvmField var size: Int = 0
    @JvmField var k: Int = 0
    @JvmField var beams: Int = 0
    @JvmField var mode: Int = 0
    @JvmField var exclude_history: Int = 0
    @JvmField var max_history: Int = 0
    @JvmField var max_tokens: Int = 0
    @JvmField var exclude: Pointer? = null
    @JvmField var exclude_len: NativeLong = NativeLong(0)
    @JvmField var use_allow: Int = 0
    @JvmField var allow: Pointer? = null
    @JvmField var allow_len: NativeLong = NativeLong(0)
    @JvmField var prior_weight: Double = 0.0
    @JvmField var prior_window: Int = 0
    @JvmField var prior_decay: Double = 0.0
    @JvmField var prior_smoothing: Double = 0.0
    @JvmField var prior_evidence: Double = 0.0
    @JvmField var prior_fusion: Int = 0
    @JvmField var prior_model_share: Double = 0.0
    @JvmField var prior_cold_slots: Int = 0
    @JvmField var prior_cold_margin: Double = 0.0

    /** The return type of `grlm_recommend_default_params`. */
    class ByValue : GrlmRecommendParams(), Structure.ByValue
}
