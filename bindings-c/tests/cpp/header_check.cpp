// The header compiles as C++17 (g++ -std=c++17 -Wall -Wextra -Werror -pedantic) and its
// types keep the layout C hosts see. Compile-only: nothing here runs.
#include "bearerflow.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>

static_assert(std::is_standard_layout<bf_str>::value, "bf_str is plain data");
static_assert(std::is_trivially_copyable<bf_action>::value, "bf_action is plain data");
static_assert(sizeof(bf_status) == sizeof(std::uint32_t), "statuses are 32-bit");
static_assert(BF_STATUS_OK == 0, "success is zero");
static_assert(offsetof(bf_str, len) == sizeof(const char *), "bf_str is (pointer, length)");

namespace {

// Every entry point can be named (and so linked) from C++ with C linkage.
[[maybe_unused]] bf_status run_once(bf_session *s, std::uint64_t now) {
    std::uint64_t id = 0;
    bf_status st = bf_session_begin_request(s, now, &id);
    if (st != BF_STATUS_OK) {
        return st;
    }
    bf_action action{};
    while ((st = bf_session_poll_action(s, &action)) == BF_STATUS_OK &&
           action.kind != BF_ACTION_KIND_NONE) {
        if (action.kind == BF_ACTION_KIND_SEND) {
            bf_verdict verdict = BF_VERDICT_DELIVER;
            st = bf_session_handle_resource_response(s, action.send.id, 200, nullptr, 0, now,
                                                     &verdict);
        }
    }
    bool has = false;
    std::uint64_t at = 0;
    bf_session_poll_timeout(s, &has, &at);
    return st;
}

}  // namespace
