package org.libgrlm

import com.sun.jna.Memory
import com.sun.jna.NativeLong
import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference

/** Facts about an engine's catalogue. */
data class CatalogInfo(
    val items: Long,
    /** Distinct TIDs (fewer than [items] when items share a TID). */
    val uniqueTids: Long,
    val uniqueTerms: Long,
    /** Terms per TID. */
    val tidLen: Int,
    val formatMajor: Int,
    val formatMinor: Int,
    /** Nodes of the token trie that constrains decoding. */
    val trieNodes: Long,
    /** Size of the catalogue file. */
    val bytes: Long
)

/** The catalogue's collaborative prior (`grlm catalog build --sequences`). */
data class PriorInfo(
    /** The catalogue has a prior ([Mode.PRIOR] and prior weights work); if not, every other field is 0. */
    val present: Boolean,
    /** The last this many items of every sequence were held out of the counts. */
    val holdout: Int,
    /** Users whose sequences were counted. */
    val users: Long,
    /** Distinct (item, next item) pairs stored. */
    val transitions: Long,
    /** Bytes of the prior in the catalogue file. */
    val bytes: Long
)

/**
 * A backbone model, optional LoRA adapter and catalogue, opened once and shared: every
 * method may be called from any number of threads at once.
 *
 * [close] releases this reference; sessions made from the engine keep working and keep
 * its memory alive until they are closed too.
 */
class Engine private constructor(handle: Pointer) : AutoCloseable {
    private val handle = NativeHandle(handle, "Engine") { Grlm.library.grlm_engine_free(it) }

    companion object {
        /**
         * Opens [model] (a GGUF), [catalog] (a .grlm built for that model's tokenizer) and
         * optionally a LoRA adapter [lora] at [loraScale]. [gpuLayers] is ignored by CPU
         * builds of libgrlm. Defaults are the library's own.
         */
        @JvmStatic
        @JvmOverloads
        fun open(
            model: String,
            catalog: String,
            lora: String? = null,
            loraScale: Float = Grlm.engineDefaults.lora_scale,
            gpuLayers: Int = Grlm.engineDefaults.gpu_layers
        ): Engine {
            val lib = Grlm.library
            // Memory rather than String fields: String fields would use JNA's default
            // encoding, and the paths must be UTF-8. The struct references the Memory
            // objects, so they live until the call returns.
            val params = GrlmEngineParams().apply {
                size = Grlm.engineDefaults.size
                gpu_layers = gpuLayers
                model_path = cString(model)
                catalog_path = cString(catalog)
                lora_path = lora?.let(::cString)
                lora_scale = loraScale
            }
            val out = PointerByReference()
            lib.check(lib.grlm_engine_open(params, out))
            return Engine(out.value)
        }

        private fun cString(s: String): Memory {
            val bytes = s.toByteArray(Charsets.UTF_8)
            return Memory(bytes.size + 1L).apply {
                write(0, bytes, 0, bytes.size)
                setByte(bytes.size.toLong(), 0)
            }
        }
    }

    fun catalogInfo(): CatalogInfo = handle.use { engine ->
        val lib = Grlm.library
        val i = GrlmCatalogInfo()
        lib.check(lib.grlm_engine_catalog_info(engine, i))
        CatalogInfo(i.items, i.unique_tids, i.unique_terms, i.tid_len, i.format_major, i.format_minor, i.trie_nodes, i.bytes)
    }

    /**
     * Whether the catalogue has a collaborative prior, and what it counted. Without one,
     * [Mode.PRIOR] and positive prior weights throw [Status.NO_PRIOR].
     */
    fun priorInfo(): PriorInfo = handle.use { engine ->
        val lib = Grlm.library
        val i = GrlmPriorInfo()
        lib.check(lib.grlm_engine_prior_info(engine, i))
        PriorInfo(i.present != 0, i.holdout, i.users, i.transitions, i.bytes)
    }

    /** The CPU kernels that run: `"built-in"`, or the variant chosen for this CPU. */
    fun cpuVariant(): String = handle.use { engine ->
        val lib = Grlm.library
        val name = PointerByReference()
        lib.check(lib.grlm_engine_cpu_variant(engine, name))
        name.value.getString(0, "UTF-8")
    }

    /**
     * Each of [ids]' TID and title, in the order given (method [Method.LOOKUP]): for
     * showing a history. An id not in the catalogue throws [Status.UNKNOWN_ITEM].
     */
    fun items(ids: Collection<Int>): List<Recommendation> = handle.use { engine ->
        val lib = Grlm.library
        val array = ids.toIntArray()
        lib.takeList({ lib.grlm_engine_items(engine, array.orNull(), NativeLong(array.size.toLong()), it) }) {
            lib.readItems(it)
        }
    }

    /**
     * Grounds a TID text, exact or not ("[hair mask, colour-lock, ...]"), to at most [k]
     * items, best first ([Method.DIRECT] then [Method.STRUCTURAL]). No model runs.
     */
    fun ground(tid: String, k: Int): List<Recommendation> = handle.use { engine ->
        val lib = Grlm.library
        lib.takeList({ lib.grlm_ground(engine, tid, k, it) }) { lib.readItems(it) }
    }

    /** A new session (one KV cache, empty history) on this engine. */
    @JvmOverloads
    fun session(params: SessionParams = SessionParams()): Session = handle.use { engine ->
        Session.create(engine, params)
    }

    /** Releases this engine; a second call does nothing, any other call then throws. */
    override fun close() = handle.close()
}

// JNA passes an empty array as a pointer to nothing; NULL states "no items" in the way
// the header documents for a length of 0.
internal fun IntArray.orNull(): IntArray? = if (isEmpty()) null else this
