// A second translation unit including the wrapper (see double_include.cpp).
#include "grlm.hpp"

int second_unit_abi() { return static_cast<int>(grlm_abi_version()); }
