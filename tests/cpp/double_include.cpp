// Both headers twice in one translation unit, and again in second_unit.cpp linked into the
// same program: include guards hold and nothing is defined twice (the wrapper is inline).
#include "grlm.h"
#include "grlm.hpp"
#include "grlm.h"
#include "grlm.hpp"

#include <cstdio>
#include <cstring>

int second_unit_abi();

int main() {
    static_assert(sizeof(grlm_status) == 4, "status codes are 32-bit");
    if (!grlm::abi_matches() || second_unit_abi() != GRLM_ABI_VERSION) return 1;
    if (grlm::version().empty()) return 1;
    // An error path from C++: the exception carries the status and the message.
    try {
        grlm::Engine engine("/nonexistent/model.gguf", "/nonexistent/catalog.grlm");
        return 1;
    } catch (const grlm::Error &e) {
        if (e.status() != GRLM_STATUS_IO || std::strstr(e.what(), "nonexistent") == nullptr) {
            std::fprintf(stderr, "unexpected error: %s\n", e.what());
            return 1;
        }
    }
    std::printf("double include ok\n");
    return 0;
}
