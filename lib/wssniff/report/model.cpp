#include "wssniff/report/model.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/record/timestamp.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <variant>

namespace wssniff::report {

namespace {

constexpr std::size_t index(direction d) noexcept {
    return static_cast<std::size_t>(d);
}

constexpr direction other(direction d) noexcept {
    return d == direction::c2s ? direction::s2c : direction::c2s;
}

double ms_between(record::timestamp from, record::timestamp to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// Microsecond precision is all the records have.
double round_us(double ms) {
    return std::round(ms * 1000.0) / 1000.0;
}

// Part of the payload is missing from the record: cut at --max-payload, or not written.
bool incomplete(const record::payload& p, std::uint64_t len) {
    return p.truncated || p.bytes.size() < len;
}

// A message being reassembled from one direction's frame records.
struct partial {
    bool open = false;
    event message;
    std::string data;
    std::optional<record::timestamp> ts;
};

struct builder {
    connection_summary& s;
    const model_options& options;
    std::vector<std::optional<record::timestamp>> times; // per event, for t_ms afterwards

    void add(event e, std::optional<record::timestamp> ts) {
        s.events.push_back(std::move(e));
        times.push_back(ts);
    }

    void data(direction dir, std::uint8_t op, const std::string& bytes, std::uint64_t len, bool cut,
              std::optional<record::timestamp> ts) {
        event e;
        e.what = event::kind::data;
        e.dir = dir;
        e.opcode = op;
        e.len = len;
        e.preview = op == opcode::text ? utf8_prefix(bytes, options.max_preview)
                                       : bytes.substr(0, options.max_preview);
        e.truncated = cut || e.preview.size() < len;
        ++s.messages[index(dir)];
        s.bytes[index(dir)] += len;
        add(std::move(e), ts);
    }
};

} // namespace

std::size_t histogram_bucket(std::uint64_t len) noexcept {
    std::size_t b = 0;
    while (len != 0 && b + 1 < histogram_buckets) {
        len >>= 1;
        ++b;
    }
    return b;
}

double bucket_width(double duration_s, std::size_t max_buckets) noexcept {
    if (!(duration_s > 0) || max_buckets == 0) {
        return 1;
    }
    for (double scale = 1;; scale *= 10) {
        for (const double step : {1.0, 2.0, 5.0}) {
            const double w = step * scale;
            if (std::floor(duration_s / w) + 1 <= static_cast<double>(max_buckets)) {
                return w;
            }
        }
        if (scale > 1e12) {
            return scale;
        }
    }
}

std::string utf8_prefix(const std::string& bytes, std::size_t max) {
    if (bytes.size() <= max) {
        return bytes;
    }
    std::size_t end = max;
    // Back up over continuation bytes to the start of the sequence that would be split.
    std::size_t back = 0;
    while (end > 0 && back < 4 && (static_cast<unsigned char>(bytes[end]) & 0xC0) == 0x80) {
        --end;
        ++back;
    }
    if (back == 4) {
        end = max; // not UTF-8 here anyway: the writer's repair shows it
    }
    return bytes.substr(0, end);
}

void match_round_trips(const std::vector<event>& events, latencies& out) {
    struct pending_ping {
        const event* ping;
    };
    per_dir<std::deque<pending_ping>> pending;
    for (const event& e : events) {
        if (e.what != event::kind::control || !e.t_ms) {
            continue;
        }
        if (e.opcode == opcode::ping) {
            pending[index(e.dir)].push_back({&e});
        } else if (e.opcode == opcode::pong) {
            auto& waiting = pending[index(other(e.dir))];
            const auto it =
                std::find_if(waiting.begin(), waiting.end(), [&](const pending_ping& p) {
                    return p.ping->preview == e.preview && p.ping->len == e.len;
                });
            if (it == waiting.end()) {
                continue; // unsolicited (a heartbeat) or its ping is not in the archive
            }
            out.round_trips.push_back(
                {it->ping->dir, *it->ping->t_ms, round_us(*e.t_ms - *it->ping->t_ms)});
            waiting.erase(it);
        }
    }
    for (std::size_t d = 0; d < 2; ++d) {
        out.unanswered_pings[d] = pending[d].size();
    }
}

connection_summary summarize(const archive::connection& c, const std::string& source,
                             const model_options& options) {
    connection_summary s;
    s.source = source;
    s.conn = c.conn;
    builder b{s, options, {}};
    s.events.reserve(c.entries.size());
    b.times.reserve(c.entries.size());

    const bool has_message_records =
        std::any_of(c.entries.begin(), c.entries.end(), [](const archive::entry& e) {
            return std::holds_alternative<record::message>(e.record.body);
        });
    std::optional<record::timestamp> last_ts;
    per_dir<std::uint64_t> counted_frames{};
    std::optional<per_dir<std::uint64_t>> closed_frames;
    std::array<partial, 2> partials;

    for (const archive::entry& e : c.entries) {
        const auto& ts = e.record.ts;
        if (ts) {
            if (!s.first_ts || *ts < *s.first_ts) {
                s.first_ts = ts;
            }
            if (!last_ts || *ts > *last_ts) {
                last_ts = ts;
            }
        }
        if (const auto* h = std::get_if<record::handshake>(&e.record.body)) {
            if (!h->repeat || !s.handshake) {
                s.handshake = *h;
                if (h->request_ts && ts && *ts >= *h->request_ts) {
                    s.latency.upgrade_ms = round_us(ms_between(*h->request_ts, *ts));
                }
            }
        } else if (const auto* m = std::get_if<record::message>(&e.record.body)) {
            b.data(m->dir, m->opcode, m->data.bytes, m->len, incomplete(m->data, m->len), ts);
        } else if (const auto* f = std::get_if<record::frame>(&e.record.body)) {
            ++counted_frames[index(f->dir)];
            const std::uint64_t len = f->compressed ? f->data_len : f->len;
            if (f->opcode >= 8) {
                event ev;
                ev.what = event::kind::control;
                ev.dir = f->dir;
                ev.opcode = f->opcode;
                ev.len = len;
                // Control payloads are at most 125 bytes: kept whole, so pongs match pings.
                ev.preview =
                    f->data.bytes.substr(0, std::max<std::size_t>(options.max_preview, 125));
                ev.truncated = incomplete(f->data, len) || ev.preview.size() < len;
                if (f->opcode == opcode::close) {
                    ev.close_code = f->close_code;
                    ev.close_reason = f->close_reason;
                    const std::size_t d = index(f->dir);
                    if (!s.close_code[d] && !s.close_reason[d]) {
                        s.close_code[d] = f->close_code;
                        s.close_reason[d] = f->close_reason ? f->close_reason : std::string();
                    }
                }
                b.add(std::move(ev), ts);
                continue;
            }
            if (has_message_records) {
                continue; // the message records carry these frames' payloads
            }
            partial& p = partials[index(f->dir)];
            if (f->opcode != static_cast<std::uint8_t>(opcode::continuation) &&
                !is_message_start(f->opcode)) {
                continue; // a reserved opcode (3-7): its error record marks it
            }
            if (f->opcode != static_cast<std::uint8_t>(opcode::continuation)) {
                p = partial{};
                p.open = true;
                p.message.dir = f->dir;
                p.message.opcode = f->opcode;
            } else if (!p.open) {
                continue; // a continuation with nothing to attach it to
            }
            if (p.data.size() < options.max_preview) {
                p.data += f->data.bytes;
            }
            p.message.len += len;
            p.message.truncated = p.message.truncated || incomplete(f->data, len);
            if (f->fin) {
                b.data(p.message.dir, p.message.opcode, p.data, p.message.len, p.message.truncated,
                       ts);
                p = partial{};
            }
        } else if (const auto* er = std::get_if<record::error>(&e.record.body)) {
            event ev;
            ev.what = event::kind::error;
            ev.has_dir = er->dir.has_value();
            ev.dir = er->dir.value_or(direction::c2s);
            ev.preview = er->message;
            ev.error_code = std::string(to_string(er->code));
            ev.fatal = er->fatal;
            ++s.errors[ev.error_code];
            b.add(std::move(ev), ts);
        } else if (const auto* cl = std::get_if<record::close>(&e.record.body)) {
            s.tcp_close = cl->reason;
            closed_frames = per_dir<std::uint64_t>{cl->frames_c2s, cl->frames_s2c};
        }
    }
    s.frames = closed_frames.value_or(counted_frames);

    if (s.first_ts) {
        s.duration_ms = round_us(ms_between(*s.first_ts, *last_ts));
        for (std::size_t i = 0; i < s.events.size(); ++i) {
            if (b.times[i]) {
                s.events[i].t_ms = round_us(ms_between(*s.first_ts, *b.times[i]));
            }
        }
    }

    // Latencies.
    match_round_trips(s.events, s.latency);
    const event* first_close = nullptr;
    for (const event& e : s.events) {
        if (e.what != event::kind::control || e.opcode != opcode::close) {
            continue;
        }
        if (first_close == nullptr) {
            first_close = &e;
            s.latency.close_initiator = e.dir;
        } else if (e.dir != first_close->dir) {
            if (e.t_ms && first_close->t_ms) {
                s.latency.close_handshake_ms = round_us(*e.t_ms - *first_close->t_ms);
            }
            break;
        }
    }

    // Rates and sizes.
    const double duration_s = s.duration_ms.value_or(0) / 1000.0;
    s.rate.bucket_s = bucket_width(duration_s, options.max_buckets);
    const auto buckets =
        s.duration_ms ? static_cast<std::size_t>(std::floor(duration_s / s.rate.bucket_s)) + 1 : 0;
    for (std::size_t d = 0; d < 2; ++d) {
        s.rate.messages[d].assign(buckets, 0);
        s.rate.bytes[d].assign(buckets, 0);
    }
    for (const event& e : s.events) {
        if (e.what != event::kind::data) {
            continue;
        }
        ++s.sizes.counts[index(e.dir)][histogram_bucket(e.len)];
        if (e.t_ms && buckets > 0) {
            const auto i =
                std::min(buckets - 1,
                         static_cast<std::size_t>(std::floor(*e.t_ms / 1000.0 / s.rate.bucket_s)));
            ++s.rate.messages[index(e.dir)][i];
            s.rate.bytes[index(e.dir)][i] += e.len;
        }
    }
    return s;
}

namespace {

std::string hex(const std::string& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char ch : bytes) {
        const auto u = static_cast<unsigned char>(ch);
        out += digits[u >> 4];
        out += digits[u & 15];
    }
    return out;
}

nlohmann::json optional_json(const std::optional<std::string>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json optional_json(const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json optional_json(const std::optional<std::uint16_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string tls_text(const record::tls_info& tls) {
    std::string out;
    if (tls.client) {
        out += "client " + tls.client->version;
    }
    if (tls.upstream) {
        out += std::string(out.empty() ? "" : ", ") + "upstream " + tls.upstream->version +
               (tls.upstream->verified ? "" : " (not verified)");
    }
    return out;
}

std::string deflate_text(const record::deflate_record& d) {
    std::string out = "permessage-deflate";
    if (d.client_no_context_takeover) {
        out += "; client_no_context_takeover";
    }
    if (d.server_no_context_takeover) {
        out += "; server_no_context_takeover";
    }
    if (d.client_max_window_bits != 15) {
        out += "; client_max_window_bits=" + std::to_string(d.client_max_window_bits);
    }
    if (d.server_max_window_bits != 15) {
        out += "; server_max_window_bits=" + std::to_string(d.server_max_window_bits);
    }
    return out;
}

// [t_ms|null, dir (0 c2s, 1 s2c, -1 none), op (1 text, 2 binary, 8-10 control, 0 error), len,
//  preview, flags (1 truncated, 2 preview is hex, 4 fatal), extra ([code, reason] for close,
//  the error code for errors, else null)]
nlohmann::json event_json(const event& e) {
    const bool is_text =
        e.what == event::kind::error || (e.what == event::kind::data && e.opcode == opcode::text);
    int flags = (e.truncated ? 1 : 0) | (is_text ? 0 : 2) | (e.fatal ? 4 : 0);
    nlohmann::json extra = nullptr;
    if (e.what == event::kind::error) {
        extra = e.error_code;
    } else if (e.opcode == opcode::close) {
        extra = nlohmann::json::array({optional_json(e.close_code), optional_json(e.close_reason)});
    }
    return nlohmann::json::array({optional_json(e.t_ms), e.has_dir ? static_cast<int>(e.dir) : -1,
                                  e.what == event::kind::error ? 0 : e.opcode, e.len,
                                  is_text ? e.preview : hex(e.preview), flags, std::move(extra)});
}

} // namespace

nlohmann::json to_json(const std::vector<connection_summary>& connections,
                       const std::string& generator) {
    nlohmann::json out;
    out["generator"] = generator;
    out["histogram_buckets"] = histogram_buckets;
    auto& list = out["connections"] = nlohmann::json::array();
    for (const connection_summary& s : connections) {
        nlohmann::json c;
        c["source"] = s.source;
        c["conn"] = s.conn;
        if (s.handshake) {
            const auto& h = *s.handshake;
            c["method"] = h.method;
            c["target"] = h.target;
            c["status"] = h.status;
            c["client"] = optional_json(h.client);
            c["upstream"] = optional_json(h.upstream);
            c["subprotocol"] = optional_json(h.subprotocol);
            c["deflate"] = h.deflate ? nlohmann::json(deflate_text(*h.deflate)) : nullptr;
            c["tls"] = h.tls ? nlohmann::json(tls_text(*h.tls)) : nullptr;
        } else {
            c["target"] = nullptr;
            c["status"] = nullptr;
        }
        if (s.first_ts) {
            std::string start;
            record::append_timestamp(start, *s.first_ts);
            c["start"] = start;
        } else {
            c["start"] = nullptr;
        }
        c["duration_ms"] = optional_json(s.duration_ms);
        c["frames"] = s.frames;
        c["messages"] = s.messages;
        c["bytes"] = s.bytes;
        c["close_code"] = {optional_json(s.close_code[0]), optional_json(s.close_code[1])};
        c["close_reason"] = {optional_json(s.close_reason[0]), optional_json(s.close_reason[1])};
        c["tcp_close"] =
            s.tcp_close ? nlohmann::json(std::string(to_string(*s.tcp_close))) : nullptr;
        c["errors"] = nlohmann::json::object();
        for (const auto& [code, n] : s.errors) {
            c["errors"][code] = n;
        }
        auto& lat = c["latency"];
        lat["upgrade_ms"] = optional_json(s.latency.upgrade_ms);
        lat["round_trips"] = nlohmann::json::array();
        for (const round_trip& r : s.latency.round_trips) {
            lat["round_trips"].push_back({static_cast<int>(r.pinger), r.ping_ms, r.rtt_ms});
        }
        lat["unanswered_pings"] = s.latency.unanswered_pings;
        lat["close_ms"] = optional_json(s.latency.close_handshake_ms);
        lat["close_by"] = s.latency.close_initiator
                              ? nlohmann::json(static_cast<int>(*s.latency.close_initiator))
                              : nullptr;
        c["rates"] = {
            {"bucket_s", s.rate.bucket_s}, {"messages", s.rate.messages}, {"bytes", s.rate.bytes}};
        c["sizes"] = s.sizes.counts;
        auto& events = c["events"] = nlohmann::json::array();
        for (const event& e : s.events) {
            events.push_back(event_json(e));
        }
        list.push_back(std::move(c));
    }
    return out;
}

} // namespace wssniff::report
