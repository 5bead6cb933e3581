#include "wssniff/tcp/reassembler.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

namespace wssniff::tcp {

namespace {

// Delivered bytes kept to compare retransmissions against: at least this much, at most twice.
constexpr std::size_t history_size = 64 * 1024;

std::string_view view(bytes_view b) noexcept {
    return b.chars();
}

} // namespace

std::string to_string(const endpoint& e) {
    char text[64];
    if (!e.v6) {
        std::snprintf(text, sizeof text, "%u.%u.%u.%u:%u", e.address[0], e.address[1], e.address[2],
                      e.address[3], e.port);
        return text;
    }
    // RFC 5952: lowercase hex, the longest run of two or more zero groups as "::".
    std::array<unsigned, 8> groups{};
    for (std::size_t i = 0; i < 8; ++i) {
        groups[i] = static_cast<unsigned>(e.address[2 * i] << 8 | e.address[2 * i + 1]);
    }
    std::size_t best_start = 8;
    std::size_t best_length = 1;
    for (std::size_t i = 0; i < 8;) {
        std::size_t j = i;
        while (j < 8 && groups[j] == 0) {
            ++j;
        }
        if (j - i > best_length) {
            best_start = i;
            best_length = j - i;
        }
        i = j == i ? i + 1 : j;
    }
    std::string out = "[";
    for (std::size_t i = 0; i < 8; ++i) {
        if (i == best_start) {
            out += "::";
            i += best_length - 1;
            continue;
        }
        if (!out.empty() && out.back() != '[' && out.back() != ':') {
            out += ':';
        }
        std::snprintf(text, sizeof text, "%x", groups[i]);
        out += text;
    }
    std::snprintf(text, sizeof text, "]:%u", e.port);
    return out + text;
}

bool looks_like_http_request(bytes_view bytes) noexcept {
    // RFC 9110 §9: a method is a token; the ones a WebSocket client sends are upper case.
    std::size_t i = 0;
    while (i < bytes.size() && i < 16 && bytes[i] >= 'A' && bytes[i] <= 'Z') {
        ++i;
    }
    return i > 0 && i < bytes.size() && bytes[i] == ' ';
}

struct reassembler::stream {
    bool started = false;
    bool syn_seen = false;
    std::uint32_t isn = 0;
    std::uint32_t base = 0;                    // the sequence number of stream offset 0
    std::uint64_t next = 0;                    // offset of the next byte to deliver
    std::uint64_t highest = 0;                 // end of the furthest byte seen on the wire
    std::map<std::uint64_t, std::string> held; // out of order, non-overlapping
    std::size_t held_bytes = 0;
    std::string history; // the last delivered bytes, ending at `next`
    std::optional<std::uint64_t> fin_at;
    bool ended = false;
};

struct reassembler::flow {
    std::uint64_t id = 0;
    std::size_t client = 0; // index of the client's stream: 0 is the lower endpoint's
    bool ignored = false;
    std::optional<close_cause> first_end;
    std::array<stream, 2> streams;
};

reassembler::reassembler(listener& out, reassembler_options options)
    : out_(out), options_(options) {}

reassembler::~reassembler() = default;

direction reassembler::dir_of(const flow& f, std::size_t side) const noexcept {
    return side == f.client ? direction::c2s : direction::s2c;
}

std::size_t reassembler::open_flows() const noexcept {
    return flows_.size();
}

std::size_t reassembler::held_bytes() const noexcept {
    std::size_t total = 0;
    for (const auto& [k, f] : flows_) {
        total += f.streams[0].held_bytes + f.streams[1].held_bytes;
    }
    return total;
}

void reassembler::feed(const segment& s) {
    const bool forward = s.src < s.dst;
    const key k = forward ? key{s.src, s.dst} : key{s.dst, s.src};
    const std::size_t side = forward ? 0 : 1;
    auto it = flows_.find(k);

    if (s.syn) {
        if (it != flows_.end()) {
            stream& st = it->second.streams[side];
            if (st.syn_seen && st.isn == s.seq) {
                return; // a retransmitted SYN or SYN-ACK
            }
            if (!s.ack || st.syn_seen || st.started) {
                // A new SYN on a 4-tuple still open: the old connection is over.
                close(it, close_cause::replaced, s.ts);
                it = flows_.end();
            }
        }
        bool created = false;
        if (it == flows_.end()) {
            it = flows_.emplace(k, flow{}).first;
            // SYN: the sender is the client; SYN-ACK: the receiver is.
            start(it, s.ack ? 1 - side : side, s.ts);
            created = true;
        }
        (void)created;
        stream& st = it->second.streams[side];
        st.started = true;
        st.syn_seen = true;
        st.isn = s.seq;
        st.base = s.seq + 1;
        return;
    }

    const bool carries = !s.payload.empty() || s.missing > 0;
    if (it == flows_.end()) {
        if (!carries) {
            return; // a pure ACK, FIN or RST of a connection the capture never saw
        }
        it = flows_.emplace(k, flow{}).first;
        std::size_t client = side;
        if (!looks_like_http_request(s.payload) &&
            view(s.payload).substr(0, 5) == std::string_view("HTTP/")) {
            client = 1 - side;
        }
        start(it, client, s.ts);
    }
    flow& f = it->second;
    if (s.rst) {
        flush(f, s.ts);
        close(it, side == f.client ? close_cause::client_rst : close_cause::server_rst, s.ts);
        return;
    }
    stream& st = f.streams[side];
    if (!st.started) {
        if (!carries && !s.fin) {
            return;
        }
        st.started = true;
        st.base = s.seq;
    }
    // The offset nearest the next expected byte whose low 32 bits match: sequence numbers
    // compared modulo 2^32.
    const std::uint32_t relative = s.seq - st.base;
    const auto distance = static_cast<std::int64_t>(
        static_cast<std::int32_t>(relative - static_cast<std::uint32_t>(st.next)));
    std::int64_t offset = static_cast<std::int64_t>(st.next) + distance;
    bytes_view bytes = s.payload;
    std::uint64_t missing = s.missing;
    if (offset < 0) {
        // Bytes from before the first byte this capture took as the stream's start.
        const std::uint64_t before = static_cast<std::uint64_t>(-offset);
        if (before >= bytes.size() + missing) {
            return;
        }
        const std::size_t cut =
            static_cast<std::size_t>(std::min<std::uint64_t>(before, bytes.size()));
        bytes = bytes.subview(cut);
        missing -= before - cut;
        offset = 0;
    }
    const auto at = static_cast<std::uint64_t>(offset);
    const std::uint64_t end = at + bytes.size() + missing;
    if (s.fin && !st.fin_at) {
        st.fin_at = end;
    }
    st.highest = std::max(st.highest, end);
    if (f.ignored) {
        st.next = std::max(st.next, st.highest);
    } else if (!bytes.empty() || missing > 0) {
        data(f, side, at, bytes, s.ts);
    }
    check_end(it, side, s.ts);
}

void reassembler::start(std::map<key, flow>::iterator it, std::size_t client, clock_time ts) {
    flow& f = it->second;
    f.id = next_flow_++;
    f.client = client;
    ids_.emplace(f.id, it->first);
    const endpoint& lower = it->first.first;
    const endpoint& upper = it->first.second;
    if (client == 0) {
        out_.on_open(f.id, lower, upper, ts);
    } else {
        out_.on_open(f.id, upper, lower, ts);
    }
}

void reassembler::data(flow& f, std::size_t side, std::uint64_t at, bytes_view bytes,
                       clock_time ts) {
    stream& st = f.streams[side];
    const direction dir = dir_of(f, side);
    if (at < st.next) {
        // Keep-alive probe: one byte (or none) just before the next, often garbage.
        if (bytes.size() <= 1 && at + 1 == st.next) {
            return;
        }
        // Bytes already delivered: compare what the history still holds, then trim.
        const std::uint64_t history_start = st.next - st.history.size();
        const std::uint64_t overlap_end = std::min<std::uint64_t>(at + bytes.size(), st.next);
        const std::uint64_t from = std::max(at, history_start);
        for (std::uint64_t o = from; o < overlap_end; ++o) {
            if (bytes[o - at] != static_cast<std::uint8_t>(st.history[o - history_start])) {
                out_.on_conflict(f.id, dir, o, ts);
                break;
            }
        }
        const std::uint64_t skip = st.next - at;
        if (skip >= bytes.size()) {
            return;
        }
        bytes = bytes.subview(static_cast<std::size_t>(skip));
        at = st.next;
    }
    if (bytes.empty()) {
        return; // only cut bytes: a hole, given up later
    }
    if (at == st.next) {
        // Held segments may overlap the new bytes: the first ones win there too.
        const std::uint64_t end = at + bytes.size();
        for (auto h = st.held.begin(); h != st.held.end() && h->first < end; ++h) {
            const std::uint64_t stop = std::min<std::uint64_t>(end, h->first + h->second.size());
            for (std::uint64_t o = h->first; o < stop; ++o) {
                if (bytes[o - at] != static_cast<std::uint8_t>(h->second[o - h->first])) {
                    out_.on_conflict(f.id, dir, o, ts);
                    break;
                }
            }
        }
        deliver(f, side, bytes, ts);
        drain(f, side, ts);
        return;
    }
    hold(f, side, at, bytes, ts);
    while (st.held_bytes > options_.max_reorder) {
        give_up_first_hole(f, side, ts);
    }
}

void reassembler::hold(flow& f, std::size_t side, std::uint64_t at, bytes_view bytes,
                       clock_time ts) {
    stream& st = f.streams[side];
    const std::uint64_t end = at + bytes.size();
    bool conflict_said = false;
    auto compare = [&](std::uint64_t from, std::uint64_t to, const std::string& held,
                       std::uint64_t held_at) {
        for (std::uint64_t o = from; o < to && !conflict_said; ++o) {
            if (bytes[o - at] != static_cast<std::uint8_t>(held[o - held_at])) {
                out_.on_conflict(f.id, dir_of(f, side), o, ts);
                conflict_said = true;
            }
        }
    };
    std::uint64_t pos = at;
    auto it = st.held.upper_bound(pos);
    if (it != st.held.begin()) {
        const auto prev = std::prev(it);
        const std::uint64_t prev_end = prev->first + prev->second.size();
        if (prev_end > pos) {
            const std::uint64_t stop = std::min(prev_end, end);
            compare(pos, stop, prev->second, prev->first);
            pos = stop;
        }
    }
    while (pos < end) {
        it = st.held.lower_bound(pos);
        const std::uint64_t piece_end = it == st.held.end() ? end : std::min(end, it->first);
        if (piece_end > pos) {
            const auto piece = bytes.subview(static_cast<std::size_t>(pos - at),
                                             static_cast<std::size_t>(piece_end - pos));
            st.held.emplace_hint(it, pos, std::string(piece.chars()));
            st.held_bytes += piece.size();
            pos = piece_end;
        }
        if (pos < end && it != st.held.end() && it->first == pos) {
            const std::uint64_t stop = std::min<std::uint64_t>(end, it->first + it->second.size());
            compare(pos, stop, it->second, it->first);
            pos = stop;
        }
    }
}

void reassembler::deliver(flow& f, std::size_t side, bytes_view bytes, clock_time ts) {
    stream& st = f.streams[side];
    st.next += bytes.size();
    if (bytes.size() >= history_size) {
        st.history.assign(bytes.chars().substr(bytes.size() - history_size));
    } else {
        st.history.append(bytes.chars());
    }
    if (st.history.size() > 2 * history_size) {
        st.history.erase(0, st.history.size() - history_size);
    }
    out_.on_data(f.id, dir_of(f, side), bytes, ts);
}

void reassembler::drain(flow& f, std::size_t side, clock_time ts) {
    stream& st = f.streams[side];
    while (!st.held.empty() && st.held.begin()->first <= st.next) {
        auto first = st.held.begin();
        const std::string piece = std::move(first->second);
        const std::uint64_t at = first->first;
        st.held_bytes -= piece.size();
        st.held.erase(first);
        if (at + piece.size() > st.next) {
            deliver(f, side, bytes_view(std::string_view(piece).substr(st.next - at)), ts);
        }
    }
}

void reassembler::give_up_first_hole(flow& f, std::size_t side, clock_time ts) {
    stream& st = f.streams[side];
    const std::uint64_t to = st.held.empty() ? st.highest : st.held.begin()->first;
    if (to > st.next) {
        out_.on_gap(f.id, dir_of(f, side), st.next, to - st.next, ts);
        st.next = to;
        st.history.clear(); // it must end at `next`
    }
    drain(f, side, ts);
}

void reassembler::flush(flow& f, clock_time ts) {
    for (std::size_t side = 0; side < 2; ++side) {
        stream& st = f.streams[side];
        if (f.ignored) {
            st.held.clear();
            st.held_bytes = 0;
            continue;
        }
        while (!st.held.empty()) {
            give_up_first_hole(f, side, ts);
        }
        // Cut bytes at the end, or a hole right before the FIN.
        give_up_first_hole(f, side, ts);
    }
}

void reassembler::check_end(std::map<key, flow>::iterator it, std::size_t side, clock_time ts) {
    flow& f = it->second;
    stream& st = f.streams[side];
    if (st.ended || !st.fin_at || st.next < *st.fin_at) {
        return;
    }
    st.ended = true;
    if (!f.first_end) {
        f.first_end = side == f.client ? close_cause::client_fin : close_cause::server_fin;
    }
    out_.on_end(f.id, dir_of(f, side), ts);
    if (f.streams[1 - side].ended) {
        close(it, *f.first_end, ts);
    }
}

void reassembler::close(std::map<key, flow>::iterator it, close_cause cause, clock_time ts) {
    flow& f = it->second;
    if (cause == close_cause::replaced) {
        flush(f, ts);
    }
    out_.on_close(f.id, cause, ts);
    ids_.erase(f.id);
    flows_.erase(it);
}

void reassembler::finish(clock_time ts) {
    // In the order the flows were opened: ids_ is sorted by id.
    while (!ids_.empty()) {
        const auto it = flows_.find(ids_.begin()->second);
        flush(it->second, ts);
        close(it, close_cause::end_of_input, ts);
    }
}

void reassembler::ignore(std::uint64_t flow_id) {
    const auto id = ids_.find(flow_id);
    if (id == ids_.end()) {
        return;
    }
    flow& f = flows_.find(id->second)->second;
    f.ignored = true;
    for (stream& st : f.streams) {
        st.held.clear();
        st.held_bytes = 0;
        st.history.clear();
        st.history.shrink_to_fit();
        st.next = std::max(st.next, st.highest);
    }
}

} // namespace wssniff::tcp
