import CGrlm

/// How a result was found: `GRLM_METHOD_*`, with the header's raw values.
public enum MatchMethod: UInt32, Sendable, CaseIterable {
    /// Recommended by the model.
    case recommended = 0
    /// Grounding: the query is exactly this item's TID.
    case direct = 1
    /// Grounding: the item's TID shares (possibly fuzzy) terms with the query.
    case structural = 2
    /// Looked up by id.
    case lookup = 3
}

/// One item of a result list: a recommendation, a grounding match or a lookup.
public struct Recommendation: Sendable, Hashable {
    /// The item's id in the catalogue.
    public let item: UInt32
    /// How it was found; nil for a method added by a newer library than this binding.
    public let method: MatchMethod?
    /// Recommendations: the log-probability of the item's TID (items sharing a TID share
    /// it). Grounding: 1 for a direct match, [0, 1) for a structural one. Lookups: 0.
    public let score: Double
    /// The item's TID, `"[term, term, ...]"`.
    public let tid: String
    /// The item's title, when the catalogue has one.
    public let title: String?

    // Copies the strings: they point into the native list, which is freed right after.
    init(_ result: grlm_result) {
        item = result.item
        method = MatchMethod(rawValue: result.method)
        score = result.score
        tid = String(cString: result.tid)
        title = result.title.map { String(cString: $0) }
    }
}

/// One free-mode beam as the model wrote it, before grounding.
public struct Generated: Sendable, Hashable {
    /// What the model wrote.
    public let text: String
    /// Its log-probability.
    public let score: Double
    /// Whether it parses as a TID of the catalogue's length.
    public let isValid: Bool
    /// Whether it names a catalogue TID exactly.
    public let isDirect: Bool

    init(_ beam: grlm_generated) {
        text = String(cString: beam.text)
        score = beam.score
        isValid = beam.valid != 0
        isDirect = beam.direct != 0
    }
}

/// What a recommendation cost.
public struct Stats: Sendable, Hashable {
    /// Prompt tokens evaluated (0 when the session's cache already held the prompt).
    public let promptTokens: UInt64
    /// Prompt tokens reused from the session's cache.
    public let cachedTokens: UInt64
    /// Tokens evaluated by the beam search.
    public let evaluatedTokens: UInt64
    /// Beam search steps (one llama.cpp call each).
    public let steps: UInt32
    /// Milliseconds inside llama.cpp decode calls.
    public let decodeMilliseconds: Double
    /// Milliseconds for the whole request.
    public let totalMilliseconds: Double

    init(_ stats: grlm_stats) {
        promptTokens = stats.prompt_tokens
        cachedTokens = stats.cached_tokens
        evaluatedTokens = stats.evaluated_tokens
        steps = stats.steps
        decodeMilliseconds = stats.decode_ms
        totalMilliseconds = stats.total_ms
    }
}

/// The outcome of `Session.recommend`.
public struct Recommendations: Sendable, Hashable {
    /// The items, best first.
    public let items: [Recommendation]
    /// Free mode only: every beam as the model wrote it, most probable first (empty in
    /// constrained mode).
    public let generated: [Generated]
    /// What the request cost.
    public let stats: Stats
}

/// Facts about an engine's catalogue.
public struct CatalogInfo: Sendable, Hashable {
    /// Items.
    public let items: UInt64
    /// Distinct TIDs (fewer than items when items share a TID).
    public let uniqueTIDs: UInt64
    /// Distinct terms.
    public let uniqueTerms: UInt64
    /// Terms per TID.
    public let tidLength: UInt32
    /// Format version of the file, major.
    public let formatMajor: UInt32
    /// Format version of the file, minor.
    public let formatMinor: UInt32
    /// Nodes of the token trie that constrains decoding.
    public let trieNodes: UInt64
    /// Size of the file in bytes.
    public let bytes: UInt64

    init(_ info: grlm_catalog_info) {
        items = info.items
        uniqueTIDs = info.unique_tids
        uniqueTerms = info.unique_terms
        tidLength = info.tid_len
        formatMajor = info.format_major
        formatMinor = info.format_minor
        trieNodes = info.trie_nodes
        bytes = info.bytes
    }
}

/// The catalogue's collaborative prior (`grlm catalog build --sequences`).
public struct PriorInfo: Sendable, Hashable {
    /// Whether the catalogue has a prior (then `.prior` mode and prior weights work); when
    /// not, every other field is 0.
    public let isPresent: Bool
    /// The last this many items of every sequence were held out of the counts.
    public let holdout: UInt32
    /// Users whose sequences were counted.
    public let users: UInt64
    /// Distinct (item, next item) pairs stored.
    public let transitions: UInt64
    /// Bytes of the prior in the catalogue file.
    public let bytes: UInt64

    init(_ info: grlm_prior_info) {
        isPresent = info.present != 0
        holdout = info.holdout
        users = info.users
        transitions = info.transitions
        bytes = info.bytes
    }
}

/// Copies a native list into Swift values and frees it before returning, so no native
/// memory outlives the call that produced it. `list` is what a producing call wrote to its
/// out-parameter after returning OK.
func takeResults(_ list: OpaquePointer?) throws -> Recommendations {
    guard let list else {
        throw GrlmError(code: Status.internal.rawValue, message: "libgrlm returned OK without a result list")
    }
    defer { grlm_results_free(list) }

    let count = grlm_results_len(list)
    var items: [Recommendation] = []
    items.reserveCapacity(count)
    for index in 0..<count {
        var result = grlm_result()
        try check(grlm_results_get(list, index, &result))
        items.append(Recommendation(result))
    }

    let generatedCount = grlm_results_generated_len(list)
    var generated: [Generated] = []
    generated.reserveCapacity(generatedCount)
    for index in 0..<generatedCount {
        var beam = grlm_generated()
        try check(grlm_results_generated_get(list, index, &beam))
        generated.append(Generated(beam))
    }

    var stats = grlm_stats()
    try check(grlm_results_stats(list, &stats))
    return Recommendations(items: items, generated: generated, stats: Stats(stats))
}
