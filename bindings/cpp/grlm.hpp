// grlm.hpp: a header-only C++17 wrapper over grlm.h.
//
// Engine and Session own their C handles (move-only, freed in the destructor); results are
// copied into standard containers and the C list is freed at once, so nothing returned
// here refers to library memory. Every failure throws grlm::Error, which carries the C
// status and libgrlm's message.
//
// Thread safety is the C API's: one Engine may be used from any number of threads; a
// Session from one thread at a time (a concurrent call throws GRLM_STATUS_SESSION_BUSY).
#ifndef GRLM_HPP
#define GRLM_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "grlm.h"

namespace grlm {

using Status = grlm_status;  // one of the GRLM_STATUS_* values

// A failed call: what the C function returned, and why.
class Error : public std::runtime_error {
public:
    Error(Status status, const std::string &message)
        : std::runtime_error(std::string(grlm_status_name(status)) + ": " + message),
          status_(status) {}

    Status status() const noexcept { return status_; }

private:
    Status status_;
};

namespace detail {

// Throws for a non-OK status. The message is read at once: it belongs to this thread's
// next call.
inline void check(grlm_status status) {
    if (status != GRLM_STATUS_OK) throw Error(status, grlm_last_error_message());
}

struct EngineFree {
    void operator()(grlm_engine *p) const noexcept { grlm_engine_free(p); }
};
struct SessionFree {
    void operator()(grlm_session *p) const noexcept { grlm_session_free(p); }
};
struct ResultsFree {
    void operator()(grlm_results *p) const noexcept { grlm_results_free(p); }
};
using ResultsPtr = std::unique_ptr<grlm_results, ResultsFree>;

}  // namespace detail

// The library's version, "major.minor.patch".
inline std::string version() { return grlm_version(); }

// True when the linked library speaks the ABI of the header this was compiled against.
inline bool abi_matches() noexcept { return grlm_abi_version() == GRLM_ABI_VERSION; }

// One item of an answer.
struct Item {
    std::uint32_t item = 0;
    grlm_method method = GRLM_METHOD_RECOMMENDED;  // one of the GRLM_METHOD_* values
    double score = 0.0;             // see grlm_result::score
    std::string tid;                // "[term, term, ...]"
    std::optional<std::string> title;
};

// A free-mode beam before grounding.
struct Generated {
    std::string text;
    double score = 0.0;
    bool valid = false;
    bool direct = false;
};

// An answer: items best first, free-mode beams, and what it cost.
struct Response {
    std::vector<Item> items;
    std::vector<Generated> generated;
    grlm_stats stats{};
};

namespace detail {

inline Response copy_out(ResultsPtr list) {
    Response r;
    const std::size_t n = grlm_results_len(list.get());
    r.items.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        grlm_result c;
        check(grlm_results_get(list.get(), i, &c));
        Item item;
        item.item = c.item;
        item.method = c.method;
        item.score = c.score;
        item.tid = c.tid;
        if (c.title) item.title = std::string(c.title);
        r.items.push_back(std::move(item));
    }
    const std::size_t beams = grlm_results_generated_len(list.get());
    r.generated.reserve(beams);
    for (std::size_t i = 0; i < beams; ++i) {
        grlm_generated g;
        check(grlm_results_generated_get(list.get(), i, &g));
        r.generated.push_back(Generated{g.text, g.score, g.valid != 0, g.direct != 0});
    }
    check(grlm_results_stats(list.get(), &r.stats));
    return r;
}

inline ResultsPtr take(grlm_results *raw) { return ResultsPtr(raw); }

}  // namespace detail

// What Engine opens. Paths are UTF-8.
struct EngineOptions {
    std::string model;                  // backbone GGUF
    std::string catalog;                // catalogue built for the model's tokenizer
    std::optional<std::string> lora;    // LoRA adapter GGUF, if any
    float lora_scale = 1.0f;
    std::optional<std::uint32_t> gpu_layers;  // default: all, in GPU builds
};

// Model, adapter and catalogue, shared by sessions. Safe to use from many threads.
class Engine {
public:
    explicit Engine(const EngineOptions &options) {
        if (!abi_matches())
            throw Error(GRLM_STATUS_INTERNAL,
                        "libgrlm ABI " + std::to_string(grlm_abi_version()) +
                            " does not match the header's " + std::to_string(GRLM_ABI_VERSION));
        grlm_engine_params p = grlm_engine_default_params();
        p.model_path = options.model.c_str();
        p.catalog_path = options.catalog.c_str();
        p.lora_path = options.lora ? options.lora->c_str() : nullptr;
        p.lora_scale = options.lora_scale;
        if (options.gpu_layers) p.gpu_layers = *options.gpu_layers;
        grlm_engine *raw = nullptr;
        detail::check(grlm_engine_open(&p, &raw));
        handle_.reset(raw);
    }

    Engine(const std::string &model, const std::string &catalog)
        : Engine(EngineOptions{model, catalog, std::nullopt, 1.0f, std::nullopt}) {}

    grlm_catalog_info catalog_info() const {
        grlm_catalog_info info;
        detail::check(grlm_engine_catalog_info(handle_.get(), &info));
        return info;
    }

    // The catalogue's collaborative prior: present == 0 (and every other field 0) when it
    // has none, and then GRLM_MODE_PRIOR and positive prior weights throw
    // GRLM_STATUS_NO_PRIOR.
    grlm_prior_info prior_info() const {
        grlm_prior_info info;
        detail::check(grlm_engine_prior_info(handle_.get(), &info));
        return info;
    }

    bool has_prior() const { return prior_info().present != 0; }

    // The CPU kernels that run ("built-in", or the variant chosen for this CPU).
    std::string cpu_variant() const {
        const char *name = nullptr;
        detail::check(grlm_engine_cpu_variant(handle_.get(), &name));
        return name;
    }

    // Each item's TID and title, in the order given.
    std::vector<Item> items(const std::vector<std::uint32_t> &ids) const {
        grlm_results *raw = nullptr;
        detail::check(grlm_engine_items(handle_.get(), ids.data(), ids.size(), &raw));
        return detail::copy_out(detail::take(raw)).items;
    }

    // Items for a TID text, exact or approximate; no model is run.
    std::vector<Item> ground(const std::string &tid, std::uint32_t k) const {
        grlm_results *raw = nullptr;
        detail::check(grlm_ground(handle_.get(), tid.c_str(), k, &raw));
        return detail::copy_out(detail::take(raw)).items;
    }

    const grlm_engine *get() const noexcept { return handle_.get(); }

private:
    std::unique_ptr<grlm_engine, detail::EngineFree> handle_;
};

// What a recommendation asks for; defaults come from grlm_recommend_default_params().
// `params` is the C struct: k, beams (GRLM_BEAMS_AUTO by default: the library's width for
// the request), mode (GRLM_MODE_CONSTRAINED, GRLM_MODE_FREE or
// GRLM_MODE_PRIOR), exclude_history, max_history, max_tokens, and the collaborative prior's
// prior_weight (GRLM_PRIOR_WEIGHT_AUTO by default, 0 for the model alone, > 0 an explicit
// weight that needs a catalogue with a prior), prior_window, prior_decay, prior_smoothing,
// prior_evidence, prior_fusion (GRLM_FUSION_PRODUCT by default, or GRLM_FUSION_MIXTURE),
// prior_model_share (the mixture's β), prior_cold_slots (places at the end of a fused
// list for the model's best items the counts never saw) and prior_cold_margin (how much
// surer the model must be of such an item than of the one it pushes out, in nats). Its
// exclude/allow pointers are ignored: set the vectors below instead.
struct RecommendOptions {
    grlm_recommend_params params = grlm_recommend_default_params();
    std::vector<std::uint32_t> exclude;
    std::optional<std::vector<std::uint32_t>> allow;  // nullopt: every item is allowed
};

// One KV cache and history. Use from one thread at a time.
class Session {
public:
    explicit Session(const Engine &engine,
                     const grlm_session_params &params = grlm_session_default_params()) {
        grlm_session *raw = nullptr;
        detail::check(grlm_session_new(engine.get(), &params, &raw));
        handle_.reset(raw);
    }

    void set_history(const std::vector<std::uint32_t> &items) {
        detail::check(grlm_session_set_history(handle_.get(), items.data(), items.size()));
    }

    void append_history(const std::vector<std::uint32_t> &items) {
        detail::check(grlm_session_append_history(handle_.get(), items.data(), items.size()));
    }

    std::size_t history_size() const {
        std::size_t n = 0;
        detail::check(grlm_session_history_len(handle_.get(), &n));
        return n;
    }

    // The session's state (history, cached prompt and its KV cells) to keep while the app
    // is closed; give it back to restore_state.
    std::vector<std::uint8_t> save_state() const {
        grlm_state *raw = nullptr;
        detail::check(grlm_session_save_state(handle_.get(), &raw));
        const std::uint8_t *data = grlm_state_data(raw);
        std::vector<std::uint8_t> bytes(data, data + grlm_state_len(raw));
        grlm_state_free(raw);
        return bytes;
    }

    // Restores a state from save_state: the history becomes the saved one, and the next
    // recommendation evaluates only what is new. Throws grlm::Error with
    // GRLM_STATUS_STATE_REFUSED for a damaged or foreign state; the session is then empty
    // and usable.
    void restore_state(const std::vector<std::uint8_t> &state) {
        const std::uint8_t none = 0;
        detail::check(grlm_session_restore_state(handle_.get(), state.empty() ? &none : state.data(), state.size()));
    }

    Response recommend(const RecommendOptions &options = RecommendOptions()) {
        grlm_recommend_params p = options.params;
        p.exclude = options.exclude.data();
        p.exclude_len = options.exclude.size();
        p.use_allow = options.allow ? 1 : 0;
        p.allow = options.allow ? options.allow->data() : nullptr;
        p.allow_len = options.allow ? options.allow->size() : 0;
        grlm_results *raw = nullptr;
        detail::check(grlm_recommend(handle_.get(), &p, &raw));
        return detail::copy_out(detail::take(raw));
    }

    grlm_session *get() const noexcept { return handle_.get(); }

private:
    std::unique_ptr<grlm_session, detail::SessionFree> handle_;
};

}  // namespace grlm

#endif  // GRLM_HPP
