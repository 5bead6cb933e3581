#include "wssniff/session/replay.hpp"

#include <algorithm>

namespace wssniff::session {

namespace {

// One direction's bytes: the current chunk and what is left of it.
struct cursor {
    const chunk_source& next;
    bytes_view rest;
    bool at_end = false;

    // Makes sure rest holds bytes unless the source is exhausted.
    bool fill() {
        while (rest.empty() && !at_end) {
            rest = next();
            at_end = rest.empty();
        }
        return !rest.empty();
    }
};

} // namespace

void replay(session& s, const chunk_source& c2s_source, const chunk_source& s2c_source,
            record::close_reason reason) {
    cursor c2s{c2s_source, {}};
    cursor s2c{s2c_source, {}};
    // HTTP phases, alternating: a refused upgrade sends the client back to HTTP.
    for (bool progressed = true; progressed;) {
        progressed = false;
        for (cursor* c : {&c2s, &s2c}) {
            const direction dir = c == &c2s ? direction::c2s : direction::s2c;
            while (s.in_http(dir) && c->fill()) {
                const std::size_t n = s.feed_head(dir, c->rest);
                if (n == 0) {
                    break;
                }
                c->rest = c->rest.subview(n);
                progressed = true;
            }
        }
    }
    for (cursor* c : {&c2s, &s2c}) {
        const direction dir = c == &c2s ? direction::c2s : direction::s2c;
        while (c->fill()) {
            s.feed(dir, c->rest);
            c->rest = {};
        }
        s.end(dir);
    }
    s.close(reason);
}

void replay(session& s, bytes_view c2s, bytes_view s2c, std::size_t chunk) {
    auto source = [chunk](bytes_view all) {
        return [all, chunk, pos = std::size_t{0}]() mutable {
            const std::size_t n = chunk == 0 ? all.size() - pos : std::min(chunk, all.size() - pos);
            const bytes_view out = all.subview(pos, n);
            pos += n;
            return out;
        };
    };
    replay(s, chunk_source{source(c2s)}, chunk_source{source(s2c)});
}

} // namespace wssniff::session
