// Recommends the next items for a history given on the command line:
//   grlm-example MODEL.gguf CATALOG.grlm ITEM [ITEM...]
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "grlm.hpp"

int main(int argc, char **argv) {
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " MODEL.gguf CATALOG.grlm ITEM [ITEM...]\n";
        return 2;
    }
    try {
        grlm::Engine engine(argv[1], argv[2]);
        std::vector<std::uint32_t> history;
        for (int i = 3; i < argc; ++i) history.push_back(std::stoul(argv[i]));

        grlm_session_params params = grlm_session_default_params();
        params.threads = 1;
        grlm::Session session(engine, params);
        session.set_history(history);

        std::cout << "libgrlm " << grlm::version() << ", " << engine.catalog_info().items
                  << " items, CPU kernels: " << engine.cpu_variant() << "\nhistory:\n";
        for (const auto &item : engine.items(history))
            std::cout << "  " << item.item << " " << item.tid << "\n";

        // A catalogue built with `grlm catalog build --sequences` has a collaborative prior:
        // show what it alone ranks first (no model step). Recommendations below then fuse it
        // with the model at the library's default weight (GRLM_PRIOR_WEIGHT_AUTO).
        const grlm_prior_info prior = engine.prior_info();
        if (prior.present) {
            std::cout << "prior: " << prior.users << " users, " << prior.transitions
                      << " transitions\nby prior:\n";
            grlm::RecommendOptions by_prior;
            by_prior.params.k = 3;
            by_prior.params.mode = GRLM_MODE_PRIOR;
            for (const auto &item : session.recommend(by_prior).items)
                std::cout << "  " << item.item << " " << item.score << " " << item.tid << "\n";
            // The mixture instead of the product: the model's confidence can bring up an
            // item the counts know nothing of (a new one).
            grlm::RecommendOptions mixed;
            mixed.params.k = 3;
            mixed.params.prior_fusion = GRLM_FUSION_MIXTURE;
            mixed.params.prior_model_share = 0.5;
            std::cout << "by mixture:\n";
            for (const auto &item : session.recommend(mixed).items)
                std::cout << "  " << item.item << " " << item.score << " " << item.tid << "\n";
            // One cold slot: the last place goes to the model's best item nobody has bought,
            // here whatever its lead over the item it pushes out (by default it must lead).
            grlm::RecommendOptions slotted;
            slotted.params.k = 3;
            slotted.params.prior_cold_slots = 1;
            slotted.params.prior_cold_margin = -std::numeric_limits<double>::infinity();
            std::cout << "with a cold slot:\n";
            for (const auto &item : session.recommend(slotted).items)
                std::cout << "  " << item.item << " " << item.score << " " << item.tid << "\n";
        } else {
            std::cout << "prior: none\n";
        }

        grlm::RecommendOptions options;
        options.params.k = 3;
        options.params.beams = 5;
        session.recommend(options);

        // A returning user: the session's state kept while the app was closed, restored
        // into a new session, which then evaluates only what the history added.
        const std::vector<std::uint8_t> state = session.save_state();
        grlm::Session returning(engine, params);
        returning.restore_state(state);
        std::cout << "state: " << state.size() << " bytes, history of " << returning.history_size()
                  << " items restored\n";
        const grlm::Response answer = returning.recommend(options);
        std::cout << "next (" << answer.stats.total_ms << " ms, " << answer.stats.prompt_tokens
                  << " prompt tokens evaluated):\n";
        for (const auto &item : answer.items)
            std::cout << "  " << item.item << " " << item.score << " " << item.tid << " "
                      << item.title.value_or("(no title)") << "\n";
    } catch (const grlm::Error &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
