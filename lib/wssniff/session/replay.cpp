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
    // HTTP phases, one head at a time: a response is read only once its request has been, so
    // each is matched with the right request (a refused upgrade sends the client back to HTTP).
    auto step = [&s](cursor& c, direction dir) {
        if (!s.in_http(dir) || !c.fill()) {
            return false;
        }
        const std::size_t n = s.feed_head(dir, c.rest);
        c.rest = c.rest.subview(n);
        return n > 0;
    };
    // Strictly alternating by heads (request, its response, next request, ...) unless one
    // side has nothing more to give: the order of head events then depends only on the bytes.
    for (;;) {
        const bool response_due = s.awaiting_response();
        if (response_due ? step(s2c, direction::s2c) : step(c2s, direction::c2s)) {
            continue;
        }
        if (response_due ? step(c2s, direction::c2s) : step(s2c, direction::s2c)) {
            continue;
        }
        break;
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
