import CGrlm

/// A backbone model, optional LoRA adapter and catalogue, opened once and shared.
///
/// `@unchecked Sendable` because libgrlm documents that every function taking a
/// `const grlm_engine *` may be called from any number of threads at once, and this class
/// only ever calls those on its immutable handle. The one non-thread-safe call,
/// `grlm_engine_free`, runs in `deinit`, when no other reference (and so no call in
/// progress) can exist.
public final class Engine: @unchecked Sendable {
    let handle: OpaquePointer

    /// Opens the model, the adapter and the catalogue and checks that they fit together.
    ///
    /// - Parameters:
    ///   - modelPath: the backbone GGUF.
    ///   - catalogPath: the catalogue, built for this model's tokenizer
    ///     (`grlm catalog build --model`).
    ///   - loraPath: a LoRA adapter GGUF for the backbone, or nil for none.
    ///   - loraScale: the adapter's scale (1 = as trained); must be finite.
    ///   - gpuLayers: layers to offload to the GPU (Metal); nil for the library's default,
    ///     every layer.
    public init(
        modelPath: String,
        catalogPath: String,
        loraPath: String? = nil,
        loraScale: Float = 1,
        gpuLayers: UInt32? = nil
    ) throws {
        try GrlmLibrary.verifyABI()
        var params = grlm_engine_default_params()
        params.lora_scale = loraScale
        if let gpuLayers {
            params.gpu_layers = gpuLayers
        }
        var engine: OpaquePointer?
        // The C strings live only inside these closures, so the call has to happen there.
        let code = try withCheckedCString(modelPath, argument: "modelPath") { model in
            try withCheckedCString(catalogPath, argument: "catalogPath") { catalog in
                try withOptionalCheckedCString(loraPath, argument: "loraPath") { lora -> UInt32 in
                    params.model_path = model
                    params.catalog_path = catalog
                    params.lora_path = lora
                    return grlm_engine_open(&params, &engine)
                }
            }
        }
        try check(code)
        guard let engine else {
            throw GrlmError(code: Status.internal.rawValue, message: "grlm_engine_open returned OK without an engine")
        }
        handle = engine
    }

    deinit {
        // Sessions made from this engine keep working: each holds its own reference to
        // the engine's memory inside libgrlm.
        grlm_engine_free(handle)
    }

    /// Facts about the catalogue.
    public func catalogInfo() throws -> CatalogInfo {
        var info = grlm_catalog_info()
        try check(grlm_engine_catalog_info(handle, &info))
        return CatalogInfo(info)
    }

    /// Whether the catalogue has a collaborative prior, and what it counted. Without one
    /// (`isPresent` false), `.prior` mode and positive prior weights throw `.noPrior`.
    public func priorInfo() throws -> PriorInfo {
        var info = grlm_prior_info()
        try check(grlm_engine_prior_info(handle, &info))
        return PriorInfo(info)
    }

    /// The CPU kernels that run: `"built-in"`, or the variant chosen for this CPU in a
    /// build with run-time CPU variants.
    public func cpuVariant() throws -> String {
        var name: UnsafePointer<CChar>?
        try check(grlm_engine_cpu_variant(handle, &name))
        return String(cString: name!)
    }

    /// Looks items up by id, in the order given (method `.lookup`, score 0): for showing a
    /// user's history. Throws `.unknownItem` naming the first id not in the catalogue.
    public func items(_ ids: [UInt32]) throws -> [Recommendation] {
        var list: OpaquePointer?
        try ids.withUnsafeBufferPointer { buffer in
            try check(grlm_engine_items(handle, buffer.baseAddress, buffer.count, &list))
        }
        return try takeResults(list).items
    }

    /// Grounds a TID text, exact or not, as a model or a person might write it
    /// (`"[hair mask, colour-lock, ...]"`), to at most `k` catalogue items, best first
    /// (methods `.direct` / `.structural`). No model is run.
    public func ground(_ tid: String, k: Int = 10) throws -> [Recommendation] {
        var list: OpaquePointer?
        try withCheckedCString(tid, argument: "tid") { text in
            // Clamping keeps the library's answer: 0 and below is refused as k = 0, and
            // any k past UInt32.max already exceeds every catalogue, so all matches return.
            try check(grlm_ground(handle, text, UInt32(clamping: k), &list))
        }
        return try takeResults(list).items
    }
}
