#include "wssniff/compare/align.hpp"

#include <algorithm>

namespace wssniff::compare {

namespace {

using index_t = std::ptrdiff_t;

// The shortest edit script between a[lo_a, lo_a+n) and b[lo_b, lo_b+m) as same/removed/added
// steps, or false when it is longer than max_edits.
bool myers(index_t lo_a, index_t n, index_t lo_b, index_t m,
           const std::function<bool(std::size_t, std::size_t)>& equal, index_t max_edits,
           std::vector<edit>& out) {
    const auto eq = [&](index_t x, index_t y) {
        return equal(static_cast<std::size_t>(lo_a + x), static_cast<std::size_t>(lo_b + y));
    };
    const index_t limit = std::min(n + m, max_edits);
    // v[k + offset]: the furthest x reached on diagonal k = x - y.
    const index_t offset = limit + 1;
    std::vector<index_t> v(static_cast<std::size_t>(2 * offset + 1), 0);
    // trace[d]: v for k in [-d-1, d+1] as it was when round d started.
    std::vector<std::vector<index_t>> trace;
    index_t found = -1;
    for (index_t d = 0; d <= limit && found < 0; ++d) {
        trace.emplace_back(v.begin() + (offset - d - 1), v.begin() + (offset + d + 2));
        for (index_t k = -d; k <= d; k += 2) {
            const auto at = [&](index_t kk) -> index_t& {
                return v[static_cast<std::size_t>(kk + offset)];
            };
            index_t x = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? at(k + 1) : at(k - 1) + 1;
            index_t y = x - k;
            while (x < n && y < m && eq(x, y)) {
                ++x;
                ++y;
            }
            at(k) = x;
            if (x >= n && y >= m) {
                found = d;
                break;
            }
        }
    }
    if (found < 0) {
        return false;
    }
    std::vector<edit> steps;
    index_t x = n;
    index_t y = m;
    for (index_t d = found; d >= 0; --d) {
        const auto& slice = trace[static_cast<std::size_t>(d)];
        const auto at = [&](index_t kk) { return slice[static_cast<std::size_t>(kk + d + 1)]; };
        const index_t k = x - y;
        const index_t prev_k = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
        const index_t prev_x = at(prev_k);
        const index_t prev_y = prev_x - prev_k;
        while (x > prev_x && y > prev_y) {
            --x;
            --y;
            steps.push_back({step::same, static_cast<std::size_t>(lo_a + x),
                             static_cast<std::size_t>(lo_b + y)});
        }
        if (d > 0) {
            if (x == prev_x) {
                steps.push_back({step::added, 0, static_cast<std::size_t>(lo_b + prev_y)});
            } else {
                steps.push_back({step::removed, static_cast<std::size_t>(lo_a + prev_x), 0});
            }
        }
        x = prev_x;
        y = prev_y;
    }
    out.insert(out.end(), steps.rbegin(), steps.rend());
    return true;
}

// Runs of removals and additions become changed pairs where they can.
std::vector<edit> pair_changes(const std::vector<edit>& steps) {
    std::vector<edit> out;
    out.reserve(steps.size());
    std::vector<std::size_t> removed;
    std::vector<std::size_t> added;
    const auto flush = [&] {
        const std::size_t pairs = std::min(removed.size(), added.size());
        for (std::size_t i = 0; i < pairs; ++i) {
            out.push_back({step::changed, removed[i], added[i]});
        }
        for (std::size_t i = pairs; i < removed.size(); ++i) {
            out.push_back({step::removed, removed[i], 0});
        }
        for (std::size_t i = pairs; i < added.size(); ++i) {
            out.push_back({step::added, 0, added[i]});
        }
        removed.clear();
        added.clear();
    };
    for (const auto& e : steps) {
        switch (e.step) {
        case step::removed: removed.push_back(e.a_index); break;
        case step::added: added.push_back(e.b_index); break;
        default:
            flush();
            out.push_back(e);
            break;
        }
    }
    flush();
    return out;
}

} // namespace

std::vector<edit> align(std::size_t n, std::size_t m,
                        const std::function<bool(std::size_t, std::size_t)>& equal,
                        std::size_t max_edits) {
    std::vector<edit> steps;
    // The common head and tail need no search (most runs of the same scenario are mostly one).
    std::size_t head = 0;
    while (head < n && head < m && equal(head, head)) {
        steps.push_back({step::same, head, head});
        ++head;
    }
    std::size_t tail = 0;
    while (tail < n - head && tail < m - head && equal(n - 1 - tail, m - 1 - tail)) {
        ++tail;
    }
    const std::size_t mid_a = n - head - tail;
    const std::size_t mid_b = m - head - tail;
    if (!myers(static_cast<index_t>(head), static_cast<index_t>(mid_a), static_cast<index_t>(head),
               static_cast<index_t>(mid_b), equal, static_cast<index_t>(max_edits), steps)) {
        for (std::size_t i = 0; i < std::max(mid_a, mid_b); ++i) {
            if (i < mid_a && i < mid_b) {
                const bool same = equal(head + i, head + i);
                steps.push_back({same ? step::same : step::changed, head + i, head + i});
            } else if (i < mid_a) {
                steps.push_back({step::removed, head + i, 0});
            } else {
                steps.push_back({step::added, 0, head + i});
            }
        }
    }
    for (std::size_t i = 0; i < tail; ++i) {
        steps.push_back({step::same, n - tail + i, m - tail + i});
    }
    return pair_changes(steps);
}

} // namespace wssniff::compare
