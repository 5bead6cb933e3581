#pragma once
// Aligns two sequences by a shortest edit script (Myers, "An O(ND) Difference Algorithm"), so
// that one extra item shows as one addition instead of every later item differing.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace wssniff::compare {

enum class step : std::uint8_t { same, removed, added, changed };

// same and changed: a[a_index] pairs with b[b_index]; removed: only a[a_index]; added: only
// b[b_index].
struct edit {
    compare::step step = step::same;
    std::size_t a_index = 0;
    std::size_t b_index = 0;
};

// Edits that turn a (n items) into b (m items), in sequence order. Within each run of removals
// and additions between two equal items, the k-th removed item is paired with the k-th added
// one as `changed` (its fields are diffed), the rest stay removed or added.
//
// The edit script needs memory quadratic in its length, so past `max_edits` the items between
// the common head and tail are paired by position instead (a run that different is reported
// item by item anyway).
std::vector<edit> align(std::size_t n, std::size_t m,
                        const std::function<bool(std::size_t, std::size_t)>& equal,
                        std::size_t max_edits = 2000);

} // namespace wssniff::compare
