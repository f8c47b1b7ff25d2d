@file:JvmName("BindingTest")

package org.libgrlm

import com.sun.jna.Native
import com.sun.jna.ptr.PointerByReference
import java.io.File
import kotlin.system.exitProcess

// Drives libgrlm through the Kotlin binding on the JVM: tests/kotlin.rs compiles and runs
// it against the tiny model and the 12-item fixture catalogue, without a prior and with the
// prior of tests/fixtures/sequences.txt (holdout 1). Every check prints one line, so a
// failure's output shows how far the run got.

private class CheckFailed(message: String) : Exception(message)

private fun expect(condition: Boolean, what: () -> String) {
    if (!condition) throw CheckFailed(what())
}

private inline fun step(name: String, body: () -> Unit) {
    body()
    println("ok   $name")
}

/** Runs [body], which must throw [GrlmException] with [status] and a non-empty message. */
private fun expectStatus(status: Status, body: () -> Any?): GrlmException {
    val e = try {
        body()
        throw CheckFailed("expected GrlmException($status), but the call succeeded")
    } catch (e: GrlmException) {
        e
    }
    expect(e.status == status) { "expected $status, got ${e.status} (code ${e.code}): ${e.message}" }
    expect(!e.message.isNullOrBlank()) { "$status came without a message" }
    return e
}

private fun expectClosed(body: () -> Any?) {
    try {
        body()
    } catch (e: IllegalStateException) {
        return
    }
    throw CheckFailed("a call after close() did not throw IllegalStateException")
}

private fun checkRanked(r: Recommendations, k: Int, history: Collection<Int>) {
    val items = r.items.map { it.item }
    expect(items.size == k) { "expected $k items, got $items" }
    expect(items.toSet().size == items.size) { "duplicate items in $items" }
    expect(items.none { it in history }) { "$items includes an item of the history $history" }
    expect(r.items.all { it.method == Method.RECOMMENDED }) { "methods ${r.items.map { it.method }}" }
    expect(r.items.all { it.tid.isNotBlank() }) { "an empty TID in ${r.items}" }
    expect(r.items.zipWithNext().all { (a, b) -> a.score >= b.score }) { "scores increase: ${r.items.map { it.score }}" }
    expect(r.generated.isEmpty()) { "constrained mode returned generated beams ${r.generated}" }
}

private fun run(model: String, catalog: String) {
    val lib = Grlm.library

    step("version and ABI") {
        expect(Grlm.version().matches(Regex("""\d+\.\d+\.\d+"""))) { "version '${Grlm.version()}'" }
        expect(Grlm.abiVersion() == Grlm.ABI_VERSION) { "ABI ${Grlm.abiVersion()} != ${Grlm.ABI_VERSION}" }
        val mismatch = try {
            Grlm.checkAbi(Grlm.ABI_VERSION + 1)
            null
        } catch (e: UnsatisfiedLinkError) {
            e
        }
        expect(mismatch?.message?.contains("ABI version") == true) { "an ABI mismatch was not refused" }
    }

    step("status codes match the library's names") {
        for (s in Status.values().filter { it != Status.UNKNOWN }) {
            val name = Grlm.statusName(s.code)
            expect(name == "GRLM_STATUS_${s.name}") { "code ${s.code}: binding says $s, library says $name" }
        }
        expect(Status.of(12345) == Status.UNKNOWN) { "an unknown code did not map to UNKNOWN" }
        expect(Method.of(77) == Method.UNKNOWN) { "an unknown method did not map to UNKNOWN" }
    }

    step("struct layouts match the library's sizeof") {
        // The params structs carry the C sizeof; the written ones are fixed within an ABI.
        val sizes = mapOf(
            "grlm_engine_params" to (GrlmEngineParams().size() to lib.grlm_engine_default_params().size),
            "grlm_session_params" to (GrlmSessionParams().size() to lib.grlm_session_default_params().size),
            "grlm_recommend_params" to (GrlmRecommendParams().size() to lib.grlm_recommend_default_params().size)
        )
        for ((name, pair) in sizes) expect(pair.first == pair.second) { "$name: JNA ${pair.first}, C ${pair.second}" }
        if (Native.POINTER_SIZE == 8) {
            val written = mapOf(
                "grlm_catalog_info" to (GrlmCatalogInfo().size() to 56),
                "grlm_result" to (GrlmResult().size() to 32),
                "grlm_generated" to (GrlmGenerated().size() to 24),
                "grlm_stats" to (GrlmStats().size() to 48),
                "grlm_prior_info" to (GrlmPriorInfo().size() to 32)
            )
            for ((name, pair) in written) expect(pair.first == pair.second) { "$name: JNA ${pair.first}, C ${pair.second}" }
        }
    }

    step("recommend defaults: the prior at its automatic weight") {
        val d = lib.grlm_recommend_default_params()
        expect(d.prior_weight == Grlm.PRIOR_WEIGHT_AUTO && d.prior_window == 5) { "prior defaults ${d.prior_weight} ${d.prior_window}" }
        expect(d.prior_decay == 0.5 && d.prior_smoothing > 0.0 && d.prior_smoothing < 0.1) {
            "prior defaults ${d.prior_decay} ${d.prior_smoothing}"
        }
        expect(d.prior_evidence == 0.0) { "prior evidence default ${d.prior_evidence}" }
        expect(Fusion.of(d.prior_fusion) == Fusion.PRODUCT && d.prior_model_share == 0.5) {
            "fusion defaults ${d.prior_fusion} ${d.prior_model_share}"
        }
        expect(d.prior_cold_slots == Grlm.COLD_SLOTS_AUTO) { "cold slots default ${d.prior_cold_slots}" }
        expect(!d.prior_cold_margin.isNaN()) { "cold margin default ${d.prior_cold_margin}" }
        expect(Mode.of(2) == Mode.PRIOR) { "GRLM_MODE_PRIOR is not Mode.PRIOR" }
    }

    step("raw API: NULL handle is refused with a message") {
        val code = lib.grlm_engine_catalog_info(null, GrlmCatalogInfo())
        expect(Status.of(code) == Status.NULL_ARGUMENT) { "catalog_info(NULL): ${Status.of(code)}" }
        expect(lib.grlm_last_error_message().isNotBlank()) { "no message after NULL_ARGUMENT" }
        expect(lib.grlm_results_len(null).toLong() == 0L) { "results_len(NULL) != 0" }
        lib.grlm_results_free(null)
        lib.grlm_engine_free(null)
        lib.grlm_session_free(null)
    }

    step("missing model file -> IO") {
        val missing = File(File(model).parentFile, "no-such-model.gguf").path
        expectStatus(Status.IO) { Engine.open(missing, catalog) }
    }

    val engine = Engine.open(model, catalog)
    step("engine open and catalog info") {
        val info = engine.catalogInfo()
        expect(info.items == 12L) { "items: $info" }
        expect(info.uniqueTids == 11L) { "items 2 and 12 share a TID: $info" }
        expect(info.tidLen == 5) { "tid_len: $info" }
        expect(info.trieNodes > 0 && info.bytes > 0) { "empty trie or file: $info" }
        expect(info.formatMajor == 1 && info.formatMinor == 2) { "format: $info" }
    }

    step("items lookup") {
        val found = engine.items(listOf(3, 1))
        expect(found.map { it.item } == listOf(3, 1)) { "order: $found" }
        expect(found.all { it.method == Method.LOOKUP && it.score == 0.0 }) { "lookups: $found" }
        expect(found[1].tid == "[hair-mask, color-lock, citrus, protein, unisex]") { "item 1's TID: ${found[1].tid}" }
        expect(found[1].title?.startsWith("Phyto") == true) { "item 1's title: ${found[1].title}" }
        expect(engine.items(emptyList()).isEmpty()) { "an empty lookup returned items" }
        val e = expectStatus(Status.UNKNOWN_ITEM) { engine.items(listOf(1, 999)) }
        expect(e.message!!.contains("999")) { "the message does not name the item: ${e.message}" }
    }

    step("ground") {
        val direct = engine.ground("[Shampoo, color, care, treated, preserve]", 5)
        expect(direct.take(2).map { it.item }.toSet() == setOf(2, 12)) { "direct matches: $direct" }
        expect(direct.take(2).all { it.method == Method.DIRECT && it.score == 1.0 }) { "direct: $direct" }
        val fuzzy = engine.ground("[hair mask, colour-lock, citrus]", 3)
        expect(fuzzy.isNotEmpty() && fuzzy[0].item == 1 && fuzzy[0].method == Method.STRUCTURAL) { "fuzzy: $fuzzy" }
        expect(fuzzy.all { it.score >= 0.0 && it.score < 1.0 }) { "structural scores: $fuzzy" }
        expectStatus(Status.INVALID_ARGUMENT) { engine.ground("[soap]", 0) }
        expectStatus(Status.INVALID_TID) { engine.ground("[a, , b]", 3) }
    }

    val session = engine.session(SessionParams(threads = 1))
    step("session errors: empty history, unknown item") {
        expect(session.historyLength() == 0) { "a new session has history" }
        expectStatus(Status.EMPTY_HISTORY) { session.recommend(k = 3, beams = 5) }
        session.setHistory(listOf(1, 2))
        expectStatus(Status.UNKNOWN_ITEM) { session.setHistory(listOf(4, 999)) }
        expectStatus(Status.UNKNOWN_ITEM) { session.appendHistory(listOf(999)) }
        expect(session.historyLength() == 2) { "a failed history call changed the history" }
    }

    val history = mutableListOf(1, 2, 3)
    var first: Recommendations? = null
    step("recommend k=3 beams=5") {
        session.setHistory(history)
        expect(session.historyLength() == 3) { "history length ${session.historyLength()}" }
        val r = session.recommend(k = 3, beams = 5)
        checkRanked(r, 3, history)
        expect(r.stats.promptTokens > 0 && r.stats.steps > 0 && r.stats.totalMs > 0) { "stats ${r.stats}" }
        first = r
        println("     ${r.items.map { "${it.item} ${it.tid} %.3f".format(it.score) }}")
    }

    step("k=0 and too many beams -> INVALID_ARGUMENT") {
        expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 0, beams = 5) }
        expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 3, beams = 1000) }
    }

    step("append history, recommend from the cached prompt") {
        val next = first!!.items[0].item
        session.appendHistory(listOf(next))
        history.add(next)
        expect(session.historyLength() == 4) { "history length ${session.historyLength()}" }
        val r = session.recommend(k = 3, beams = 5)
        checkRanked(r, 3, history)
        expect(r.stats.cachedTokens > 0) { "the cached prompt was not reused: ${r.stats}" }
    }

    step("exclude and allow") {
        val excluded = session.recommend(k = 3, beams = 5, exclude = listOf(5, 6, 7))
        expect(excluded.items.none { it.item in listOf(5, 6, 7) }) { "excluded items returned: ${excluded.items}" }
        val allowed = session.recommend(k = 2, beams = 5, allow = listOf(8, 9, 10))
        expect(allowed.items.isNotEmpty() && allowed.items.all { it.item in listOf(8, 9, 10) }) { "allow: ${allowed.items}" }
        val nothing = session.recommend(k = 2, beams = 5, allow = emptyList())
        expect(nothing.items.isEmpty()) { "an empty allow-list returned ${nothing.items}" }
        val withHistory = session.recommend(k = 12, beams = 12, excludeHistory = false)
        expect(withHistory.items.any { it.item in history }) { "history items missing with excludeHistory=false" }
    }

    step("free mode") {
        val r = session.recommend(k = 3, beams = 5, mode = Mode.FREE, maxTokens = 24)
        expect(r.generated.isNotEmpty()) { "free mode returned no generated beams" }
        // A tiny random model may end a beam at once: an empty text is legitimate, an
        // invalid beam that claims a direct match is not.
        expect(r.generated.none { it.direct && !it.valid }) { "direct but not valid: ${r.generated}" }
        expect(r.generated.zipWithNext().all { (a, b) -> a.score >= b.score }) { "beam scores increase" }
        expect(r.items.size <= 3 && r.items.none { it.item in history }) { "free-mode items: ${r.items}" }
        println("     ${r.generated.size} beams, best '${r.generated[0].text}', ${r.items.size} items")
    }

    step("a session outlives its engine's close; close twice is a no-op") {
        engine.close()
        engine.close()
        expectClosed { engine.catalogInfo() }
        expectClosed { engine.session() }
        checkRanked(session.recommend(k = 3, beams = 5), 3, history)
        session.close()
        session.close()
        expectClosed { session.recommend(k = 3, beams = 5) }
        expectClosed { session.historyLength() }
    }

    step("raw API: a params struct of the wrong size -> STRUCT_SIZE") {
        val params = lib.grlm_engine_default_params()
        params.size = params.size + 4
        val out = PointerByReference()
        expect(Status.of(lib.grlm_engine_open(params, out)) == Status.STRUCT_SIZE) { "a wrong size was accepted" }
    }
}

/** Both engines and their sessions, closed whatever happens in [body]. */
private fun withPriorEngines(model: String, catalog: String, priorCatalog: String, body: (Engine, Session, Session) -> Unit) {
    val plain = Engine.open(model, catalog)
    try {
        val engine = Engine.open(model, priorCatalog)
        try {
            val plainSession = plain.session(SessionParams(threads = 1))
            try {
                val session = engine.session(SessionParams(threads = 1))
                try {
                    body(engine, session, plainSession)
                } finally {
                    session.close()
                }
            } finally {
                plainSession.close()
            }
        } finally {
            engine.close()
        }
    } finally {
        plain.close()
    }
}

private fun runPrior(model: String, catalog: String, priorCatalog: String) {
    withPriorEngines(model, catalog, priorCatalog) { engine, session, plainSession ->
        step("prior info, with and without a prior") {
            val info = engine.priorInfo()
            expect(info.present && info.holdout == 1 && info.users == 5L && info.transitions == 10L) { "prior: $info" }
            expect(info.bytes > 64) { "prior bytes: $info" }
            expect(engine.catalogInfo().formatMinor == 2) { "format: ${engine.catalogInfo()}" }
            val none = Engine.open(model, catalog)
            try {
                val missing = none.priorInfo()
                expect(missing == PriorInfo(false, 0, 0L, 0L, 0L)) { "a catalogue without a prior: $missing" }
            } finally {
                none.close()
            }
            val raw = Grlm.library.grlm_engine_prior_info(null, GrlmPriorInfo())
            expect(Status.of(raw) == Status.NULL_ARGUMENT) { "prior_info(NULL): ${Status.of(raw)}" }
        }

        step("the CPU kernels are named") {
            expect(engine.cpuVariant().isNotEmpty()) { "cpu variant: '${engine.cpuVariant()}'" }
            val raw = Grlm.library.grlm_engine_cpu_variant(null, PointerByReference())
            expect(Status.of(raw) == Status.NULL_ARGUMENT) { "cpu_variant(NULL): ${Status.of(raw)}" }
        }

        val history = listOf(3, 7, 1, 9)
        session.setHistory(history)
        plainSession.setHistory(history)

        step("prior mode: 1 led to 2, 7 to 8; no model step") {
            val r = session.recommend(k = 4, beams = 8, mode = Mode.PRIOR)
            val items = r.items.map { it.item }
            expect(items.size == 4 && items[0] == 2 && items[1] == 8) { "prior ranking $items" }
            expect(items.none { it in history }) { "$items includes a history item" }
            expect(r.items.zipWithNext().all { (a, b) -> a.score >= b.score }) { "scores increase: ${r.items}" }
            expect(r.stats.steps == 0 && r.stats.promptTokens == 0L) { "prior mode ran the model: ${r.stats}" }
            expect(r.generated.isEmpty()) { "prior mode returned beams ${r.generated}" }
            val allowed = session.recommend(k = 2, beams = 8, mode = Mode.PRIOR, allow = listOf(8, 10, 11))
            expect(allowed.items.isNotEmpty() && allowed.items.all { it.item in listOf(8, 10, 11) }) { "allow: ${allowed.items}" }
            expect(allowed.items[0].item == 8) { "the prior's best allowed item is 8: ${allowed.items}" }
            println("     ${items}")
        }

        step("weight 0 is the model alone") {
            val zero = session.recommend(k = 4, beams = 8, priorWeight = 0.0)
            val alone = plainSession.recommend(k = 4, beams = 8)
            expect(zero.items == alone.items) { "weight 0 ${zero.items} != no prior ${alone.items}" }
        }

        step("automatic and explicit prior weights") {
            checkRanked(session.recommend(k = 4, beams = 8), 4, history)
            val r = session.recommend(k = 4, beams = 8, priorWeight = 2.5, priorWindow = 2, priorDecay = 1.0, priorSmoothing = 0.0)
            val items = r.items.map { it.item }
            expect(items.isNotEmpty() && items.size <= 4 && items.none { it in history }) { "explicit weight: $items" }
            expect(r.items.all { it.method == Method.RECOMMENDED }) { "methods ${r.items.map { it.method }}" }
            expect(r.stats.steps > 0) { "a weighted request skipped the model: ${r.stats}" }
            // An evidence scale that leaves the prior almost no weight: the model alone's scores.
            val scaled = session.recommend(k = 4, beams = 8, priorWeight = 2.0, priorEvidence = 1e12)
            val modelAlone = session.recommend(k = 4, beams = 8, priorWeight = 0.0)
            expect(scaled.items.map { it.score }.zip(modelAlone.items.map { it.score }).all { (a, b) -> Math.abs(a - b) < 1e-6 }) {
                "evidence 1e12: ${scaled.items} != ${modelAlone.items}"
            }
            // The mixture at a model share of 1 is the model alone, item for item.
            val mixed = session.recommend(k = 4, beams = 8, fusion = Fusion.MIXTURE, modelShare = 1.0)
            expect(mixed.items == modelAlone.items) { "mixture at share 1: ${mixed.items} != ${modelAlone.items}" }
            val bad = expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, fusion = Fusion.MIXTURE, modelShare = 1.5) }
            expect(bad.message.orEmpty().contains("model share")) { "model share 1.5: ${bad.message}" }
            // A cold slot: item 4, never counted (only ever a held-out last item), ends the list.
            val fused = session.recommend(k = 4, beams = 8).items.map { it.item }
            val slotted = session.recommend(k = 4, beams = 8, coldSlots = 1, coldMargin = Double.NEGATIVE_INFINITY).items.map { it.item }
            expect(4 !in fused && slotted == fused.take(3) + 4) { "cold slot: $slotted against $fused" }
            // A margin no model score clears keeps the counts' list; NaN is refused.
            val shut = session.recommend(k = 4, beams = 8, coldSlots = 1, coldMargin = Double.POSITIVE_INFINITY).items.map { it.item }
            expect(shut == fused) { "cold margin +inf: $shut against $fused" }
            val nan = expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, coldSlots = 1, coldMargin = Double.NaN) }
            expect(nan.message.orEmpty().contains("cold margin")) { "cold margin NaN: ${nan.message}" }
            val tooMany = expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, coldSlots = 5) }
            expect(tooMany.message.orEmpty().contains("cold_slots")) { "cold slots 5: ${tooMany.message}" }
            // Without a prior the automatic weight is the model alone.
            checkRanked(plainSession.recommend(k = 4, beams = 8, priorWeight = Grlm.PRIOR_WEIGHT_AUTO), 4, history)
            // The automatic width fused with the prior is 10 beams.
            val automatic = session.recommend(k = 4)
            expect(Grlm.recommendDefaults.beams == Grlm.BEAMS_AUTO) { "default beams ${Grlm.recommendDefaults.beams}" }
            val explicit = session.recommend(k = 4, beams = 10)
            expect(automatic.items.map { it.item } == explicit.items.map { it.item }) { "automatic width: ${automatic.items}" }
            println("     $items")
        }

        step("no prior -> NO_PRIOR; bad prior fields -> INVALID_ARGUMENT") {
            val e = expectStatus(Status.NO_PRIOR) { plainSession.recommend(k = 4, beams = 8, mode = Mode.PRIOR) }
            expect(e.message!!.contains("--sequences")) { "the message does not say how to add a prior: ${e.message}" }
            expectStatus(Status.NO_PRIOR) { plainSession.recommend(k = 4, beams = 8, priorWeight = 1.0) }
            expect(Grlm.statusName(Status.NO_PRIOR.code) == "GRLM_STATUS_NO_PRIOR") { "NO_PRIOR's name" }
            expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, priorWeight = -2.0) }
            expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, priorWeight = Double.NaN) }
            expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, priorWindow = 0) }
            expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, priorDecay = 0.0) }
            expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, priorSmoothing = 1.5) }
            expectStatus(Status.INVALID_ARGUMENT) { session.recommend(k = 4, beams = 8, priorEvidence = -1.0) }
        }

        step("session state: saved, restored, refused by another engine") {
            val first = session.recommend(k = 4, beams = 8)
            val state = session.saveState()
            expect(state.size > 40 && String(state, 0, 8, Charsets.US_ASCII) == "GRLMSTAT") { "state of ${state.size} bytes" }
            val restored = engine.session(SessionParams(threads = 1))
            try {
                restored.restoreState(state)
                expect(restored.historyLength() == history.size) { "restored history ${restored.historyLength()}" }
                val again = restored.recommend(k = 4, beams = 8)
                expect(again.items.map { it.item } == first.items.map { it.item }) { "restored ${again.items} != ${first.items}" }
                expect(again.stats.promptTokens == 1L) { "a restored session re-evaluated ${again.stats}" }
                val e = expectStatus(Status.STATE_REFUSED) { plainSession.restoreState(state) }
                expect(e.message.orEmpty().contains("another model")) { "foreign state: ${e.message}" }
                expect(plainSession.historyLength() == 0) { "a refused state left a history" }
                plainSession.setHistory(history)
                val damaged = state.copyOf().also { it[it.size / 2] = (it[it.size / 2].toInt() xor 1).toByte() }
                expectStatus(Status.STATE_REFUSED) { restored.restoreState(damaged) }
                expectStatus(Status.STATE_REFUSED) { restored.restoreState(ByteArray(0)) }
            } finally {
                restored.close()
            }
        }
    }
}

fun main(args: Array<String>) {
    if (args.size != 3) {
        System.err.println("usage: BindingTest <model.gguf> <catalog.grlm> <catalog-with-prior.grlm>")
        exitProcess(2)
    }
    try {
        run(args[0], args[1])
        runPrior(args[0], args[1], args[2])
    } catch (e: CheckFailed) {
        System.err.println("FAILED: ${e.message}")
        e.printStackTrace()
        exitProcess(1)
    } catch (e: Throwable) {
        System.err.println("FAILED with an unexpected exception: $e")
        e.printStackTrace()
        exitProcess(1)
    }
    println("all checks passed")
}
