import CGrlm

/// How a session is set up. Starts from the library's defaults
/// (`grlm_session_default_params()`).
public struct SessionParams: Sendable, Hashable {
    /// CPU threads for llama.cpp, 1...256. Default: the machine's available parallelism.
    public var threads: UInt32
    /// KV cache cells: the prompt plus room for every beam; 64 up to the model's trained
    /// context. Default 2048.
    public var contextSize: UInt32
    /// Most beams a request may ask for, 1...255. Default 32.
    public var maxBeams: UInt32
    /// Whether the prompt shows item titles after the TIDs (must match the model's
    /// training). Default false.
    public var titles: Bool

    public init() {
        let defaults = grlm_session_default_params()
        threads = defaults.threads
        contextSize = defaults.n_ctx
        maxBeams = defaults.max_beams
        titles = defaults.titles != 0
    }
}

/// How a recommendation's beams become items: `GRLM_MODE_*`, with the header's values.
public enum Mode: UInt32, Sendable, CaseIterable {
    /// Beam search inside the catalogue's token trie: every result is a real, eligible item.
    case constrained = 0
    /// Unconstrained beams, then grounding of what the model wrote (the paper's setting).
    case free = 1
    /// The catalogue's collaborative prior alone ranks the eligible items; the model is not
    /// run. Needs a catalogue with a prior (else `.noPrior`).
    case prior = 2
}

/// How constrained decoding combines the model with the collaborative prior:
/// `GRLM_FUSION_*`, with the header's values.
public enum Fusion: UInt32, Sendable, CaseIterable {
    /// A product of experts, s_LLM + λ · ln P: the counts rank, the model reorders ties.
    case product = 0
    /// A mixture, ln((1 − β) · P + β · P_LLM), β the model share: an item the counts know
    /// nothing of (a new one) can still rank where the model is confident. The prior
    /// weight only switches the prior on (0: the model alone).
    case mixture = 1
}

/// One request. Starts from the library's defaults (`grlm_recommend_default_params()`).
public struct RecommendParams: Sendable, Hashable {
    /// Items to return, at least 1 and at most the catalogue's size. Default 10.
    public var k: Int
    /// Beam width, 1 up to the session's `maxBeams`; at least `k` in constrained mode.
    /// 0 (default, `GRLM_BEAMS_AUTO`): the library's width for the request, 10 fused with
    /// the prior and 20 otherwise, never below `k` in constrained mode.
    public var beams: Int
    /// Default `.constrained`.
    public var mode: Mode
    /// Whether the history's items are left out of the results. Default true.
    public var excludeHistory: Bool
    /// Only the last `maxHistory` history items are shown to the model; all are still
    /// excluded. Default 20.
    public var maxHistory: Int
    /// Free mode: most tokens a beam may generate. Default 48.
    public var maxTokens: Int
    /// Items never to return (ids not in the catalogue are ignored).
    public var exclude: [UInt32]
    /// If set, results come only from these items (an empty array allows nothing); nil
    /// allows every item.
    public var allow: [UInt32]?
    /// λ, the weight of the catalogue's collaborative prior in constrained decoding: nil
    /// (default, `GRLM_PRIOR_WEIGHT_AUTO`) for the library's default weight when the
    /// catalogue has a prior and none when it has not; 0 for the model alone; a positive
    /// weight needs a prior (`.noPrior` otherwise).
    public var priorWeight: Double?
    /// History items the prior looks back over, at least 1. Default 5.
    public var priorWindow: Int
    /// Weight of each step further back, in (0, 1]. Default 0.5.
    public var priorDecay: Double
    /// Share of popularity in the prior, in [0, 1]. Default 0.01.
    public var priorSmoothing: Double
    /// κ, finite and >= 0: the prior's weight becomes λ · ΣT / (ΣT + κ), where ΣT is the
    /// history window's transition mass. Default 0: λ whatever the evidence.
    public var priorEvidence: Double
    /// How the model and the prior are combined. Default `.product`.
    public var fusion: Fusion
    /// β, the model's share of a `.mixture`, in [0, 1]. Default 0.5.
    public var modelShare: Double
    /// Places at the end of a fused list kept for the model's best items the prior's counts
    /// never saw (a new item), at most `k`; 0 and below: none. nil (default,
    /// `GRLM_COLD_SLOTS_AUTO`): one place in ten (none when `k` is below 10).
    public var coldSlots: Int?
    /// m, in nats, not NaN: a cold item takes its slot only where the model's
    /// log-probability of its TID is at least m above that of the item it would push out;
    /// `-.infinity`: always. Default: the library's margin.
    public var coldMargin: Double

    public init() {
        let defaults = grlm_recommend_default_params()
        k = Int(defaults.k)
        beams = Int(defaults.beams)
        // The library's default is always a mode it defines.
        mode = Mode(rawValue: defaults.mode) ?? .constrained
        excludeHistory = defaults.exclude_history != 0
        maxHistory = Int(defaults.max_history)
        maxTokens = Int(defaults.max_tokens)
        exclude = []
        allow = nil
        priorWeight = defaults.prior_weight == GRLM_PRIOR_WEIGHT_AUTO ? nil : defaults.prior_weight
        priorWindow = Int(defaults.prior_window)
        priorDecay = defaults.prior_decay
        priorSmoothing = defaults.prior_smoothing
        priorEvidence = defaults.prior_evidence
        // The library's default is always a fusion it defines.
        fusion = Fusion(rawValue: defaults.prior_fusion) ?? .product
        modelShare = defaults.prior_model_share
        coldSlots = defaults.prior_cold_slots == GRLM_COLD_SLOTS_AUTO ? nil : Int(defaults.prior_cold_slots)
        coldMargin = defaults.prior_cold_margin
    }
}

/// One KV cache and one history: make one per user whose prompt should stay cached.
///
/// Not `Sendable`: libgrlm lets a session move between threads but serves one call at a
/// time, and a call made while another thread is inside one on the same session fails with
/// `Status.sessionBusy` rather than racing. Keeping a session inside one actor (or one
/// thread) makes that error impossible instead of merely safe.
public final class Session {
    /// The engine the session was made from. libgrlm does not need this reference (a
    /// session keeps the engine's memory alive by itself); it is here so code holding
    /// only a session can still look items up and ground text.
    public let engine: Engine
    private let handle: OpaquePointer

    /// Makes a session with an empty history. Throws `.invalidArgument` for parameters
    /// out of range and `.backend` when llama.cpp cannot allocate the context.
    public init(engine: Engine, params: SessionParams = SessionParams()) throws {
        var native = grlm_session_default_params()
        native.threads = params.threads
        native.n_ctx = params.contextSize
        native.max_beams = params.maxBeams
        native.titles = params.titles ? 1 : 0
        var session: OpaquePointer?
        try check(grlm_session_new(engine.handle, &native, &session))
        guard let session else {
            throw GrlmError(code: Status.internal.rawValue, message: "grlm_session_new returned OK without a session")
        }
        self.engine = engine
        handle = session
    }

    deinit {
        grlm_session_free(handle)
    }

    /// Replaces the history with these item ids, oldest first (empty clears it). The KV
    /// cache is kept: the next recommendation evaluates only what differs from the last
    /// prompt. On `.unknownItem` the history is left unchanged.
    public func setHistory(_ items: [UInt32]) throws {
        try items.withUnsafeBufferPointer { buffer in
            try check(grlm_session_set_history(handle, buffer.baseAddress, buffer.count))
        }
    }

    /// Appends item ids, oldest first: the cheap way to record what a user just did, since
    /// the cached prompt is extended rather than recomputed. On error nothing is appended.
    public func appendHistory(_ items: [UInt32]) throws {
        try items.withUnsafeBufferPointer { buffer in
            try check(grlm_session_append_history(handle, buffer.baseAddress, buffer.count))
        }
    }

    /// The number of items in the history.
    public func historyCount() throws -> Int {
        var count = 0
        try check(grlm_session_history_len(handle, &count))
        return count
    }

    /// The session's state — its history, the prompt cached for its last recommendation and
    /// that prompt's KV cells (about 23 KB a prompt token for SmolLM2-135M) — to keep while
    /// the app is closed and give back to `restoreState`.
    public func saveState() throws -> [UInt8] {
        var state: OpaquePointer?
        try check(grlm_session_save_state(handle, &state))
        defer { grlm_state_free(state) }
        let count = grlm_state_len(state)
        guard count > 0, let data = grlm_state_data(state) else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    /// Restores a state from `saveState` (of this run of the app or an earlier one): the
    /// history becomes the saved one, and the next recommendation for it, or for it with
    /// items appended, evaluates only what is new. Throws `.stateRefused` for a damaged
    /// state or one saved on another model, adapter or catalogue; the session is then
    /// empty and usable (its next request runs cold).
    public func restoreState(_ state: [UInt8]) throws {
        // An empty array may have no storage to point at; zero bytes are refused as too
        // short either way.
        let bytes = state.isEmpty ? [0] : state
        try bytes.withUnsafeBufferPointer { buffer in
            try check(grlm_session_restore_state(handle, buffer.baseAddress, state.count))
        }
    }

    /// Recommends the next items for the history, with the library's defaults for every
    /// argument left out.
    public func recommend(
        k: Int? = nil,
        beams: Int? = nil,
        mode: Mode? = nil,
        exclude: [UInt32] = [],
        allow: [UInt32]? = nil,
        priorWeight: Double? = nil
    ) throws -> Recommendations {
        var params = RecommendParams()
        if let k {
            params.k = k
        }
        if let beams {
            params.beams = beams
        }
        if let mode {
            params.mode = mode
        }
        params.exclude = exclude
        params.allow = allow
        if let priorWeight {
            params.priorWeight = priorWeight
        }
        return try recommend(params)
    }

    /// Recommends the next items for the history. Throws `.emptyHistory` without a
    /// history, `.invalidArgument` for parameters out of range and `.promptTooLong` when
    /// the history and the beams do not fit the session's context.
    public func recommend(_ params: RecommendParams) throws -> Recommendations {
        var native = grlm_recommend_default_params()
        // Clamping keeps the library's answer: values past UInt32.max are out of range
        // (or mean "all") exactly as UInt32.max is, and negatives are refused like 0.
        native.k = UInt32(clamping: params.k)
        native.beams = UInt32(clamping: params.beams)
        native.mode = params.mode.rawValue
        native.exclude_history = params.excludeHistory ? 1 : 0
        native.max_history = UInt32(clamping: params.maxHistory)
        native.max_tokens = UInt32(clamping: params.maxTokens)
        native.prior_weight = params.priorWeight ?? GRLM_PRIOR_WEIGHT_AUTO
        // Clamping: 0 and below are refused as 0 is, anything past UInt32.max is as valid.
        native.prior_window = UInt32(clamping: params.priorWindow)
        native.prior_decay = params.priorDecay
        native.prior_smoothing = params.priorSmoothing
        native.prior_evidence = params.priorEvidence
        native.prior_fusion = params.fusion.rawValue
        native.prior_model_share = params.modelShare
        // A count past UInt32.max - 1 is refused as any count above k is, not taken as AUTO.
        native.prior_cold_slots = params.coldSlots.map { min(UInt32(clamping: $0), GRLM_COLD_SLOTS_AUTO - 1) }
            ?? GRLM_COLD_SLOTS_AUTO
        native.prior_cold_margin = params.coldMargin
        var list: OpaquePointer?
        // The id pointers are valid only inside these closures, so the call happens there.
        try params.exclude.withUnsafeBufferPointer { excluded in
            native.exclude = excluded.baseAddress
            native.exclude_len = excluded.count
            // use_allow, not the pointer, says whether there is a list: an empty Swift
            // array may have no storage, and an empty list must still mean "no item".
            native.use_allow = params.allow == nil ? 0 : 1
            try (params.allow ?? []).withUnsafeBufferPointer { allowed in
                native.allow = allowed.baseAddress
                native.allow_len = allowed.count
                try check(grlm_recommend(handle, &native, &list))
            }
        }
        return try takeResults(list)
    }
}

// Concurrent use of one session is the caller's mistake that libgrlm reports at run time
// (`.sessionBusy`); marking Sendable unavailable lets the compiler report it instead.
@available(*, unavailable)
extension Session: Sendable {}
