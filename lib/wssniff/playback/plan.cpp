#include "wssniff/playback/plan.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/playback/frame_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace wssniff::playback {

namespace {

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// The session writes "[redacted]", or keeps the scheme: "Bearer [redacted]".
bool redacted(std::string_view value) {
    constexpr std::string_view mark = "[redacted]";
    return value == mark || (value.size() > mark.size() &&
                             value.substr(value.size() - mark.size() - 1) == " [redacted]");
}

std::string where(std::uint64_t conn, direction dir, std::uint64_t seq, std::uint64_t line,
                  std::string_view what) {
    return fmt::format("conn {} {} {} #{} (line {})", conn, to_string(dir), what, seq, line);
}

const char* const replayable_hint =
    "record archives meant for replay with --payload base64 and a --max-payload above the "
    "largest message";

// The payload bytes a record holds, if they are all the bytes that were sent.
const std::string& complete_payload(const record::payload& p, std::uint64_t expected,
                                    const std::string& who) {
    if (p.truncated) {
        throw unreplayable(fmt::format("{}: payload is truncated at --max-payload, so it cannot "
                                       "be sent again; {}",
                                       who, replayable_hint));
    }
    if (p.encoding == record::payload_encoding::none && expected > 0) {
        throw unreplayable(
            fmt::format("{}: payload was not recorded (--payload none); {}", who, replayable_hint));
    }
    // `text` holds the bytes only when they were valid UTF-8; the writer replaces invalid
    // sequences, which changes the length.
    if (p.bytes.size() != expected) {
        throw unreplayable(fmt::format("{}: payload holds {} bytes where {} were sent (text that "
                                       "was not valid UTF-8 does not round-trip); {}",
                                       who, p.bytes.size(), expected, replayable_hint));
    }
    return p.bytes;
}

bool is_data(std::uint8_t op) {
    return op == opcode::text || op == opcode::binary || op == opcode::continuation;
}

class planner {
  public:
    planner(const archive::connection& conn, const plan_options& options)
        : conn_(conn), options_(options) {
        for (const auto& e : conn.entries) {
            if (const auto* f = std::get_if<record::frame>(&e.record.body)) {
                (f->dir == direction::c2s ? c2s_frames_ : s2c_frames_) = true;
            }
        }
    }

    plan make() {
        plan p;
        p.conn = conn_.conn;
        const auto* h = conn_.handshake();
        if (h == nullptr) {
            throw unreplayable(fmt::format(
                "conn {} has no handshake record (an archive decoded with --no-handshake), so "
                "there is no upgrade request to send",
                conn_.conn));
        }
        if (options_.unit == unit::frames && !c2s_frames_) {
            throw unreplayable(fmt::format("conn {} has no client frame records; --unit frames "
                                           "needs an archive recorded with --emit frames or both",
                                           conn_.conn));
        }
        request(*h, p);
        if (!c2s_frames_) {
            p.warnings.push_back(fmt::format(
                "conn {}: the archive has messages but no client frame records, so client pings "
                "and the close frame are not replayed",
                conn_.conn));
        }
        walk(p);
        return p;
    }

  private:
    void request(const record::handshake& h, plan& p) const {
        p.method = h.method;
        p.target = h.target;
        p.recorded_status = h.status;
        std::vector<bool> used(options_.headers.size(), false);
        const auto supplied = [&](std::string_view name) -> const std::string* {
            for (std::size_t i = 0; i < options_.headers.size(); ++i) {
                if (same_name(options_.headers[i].first, name)) {
                    used[i] = true;
                    return &options_.headers[i].second;
                }
            }
            return nullptr;
        };
        for (const auto& [name, value] : h.request_headers) {
            if (same_name(name, "Sec-WebSocket-Key")) {
                continue; // a fresh one per connection
            }
            if (const auto* mine = supplied(name)) {
                p.headers.emplace_back(name, *mine);
            } else if (same_name(name, "Host")) {
                continue; // the player writes the upstream's authority
            } else if (redacted(value)) {
                p.warnings.push_back(fmt::format(
                    "conn {}: header {} was redacted in the archive and is left out; supply it "
                    "with --header '{}: VALUE'",
                    conn_.conn, name, name));
            } else {
                p.headers.emplace_back(name, value);
            }
        }
        for (std::size_t i = 0; i < options_.headers.size(); ++i) {
            if (!used[i] && !same_name(options_.headers[i].first, "Sec-WebSocket-Key")) {
                p.headers.push_back(options_.headers[i]);
            }
        }
    }

    void walk(plan& p) {
        std::optional<record::timestamp> upgraded; // ts of the 101
        std::uint64_t server_messages = 0;
        bool s2c_in_message = false;
        std::optional<step> message; // c2s data message being built from frames
        for (const auto& e : conn_.entries) {
            const auto& r = e.record;
            if (!p.started && r.ts) {
                p.started = *r.ts;
            }
            const auto stamp = [&](step& s) {
                s.line = e.line;
                s.server_messages_before = server_messages;
                if (r.ts && upgraded) {
                    s.at = std::max(
                        std::chrono::microseconds{0},
                        std::chrono::duration_cast<std::chrono::microseconds>(*r.ts - *upgraded));
                }
            };
            if (const auto* h = std::get_if<record::handshake>(&r.body)) {
                if (h->status == 101) {
                    upgraded = r.ts;
                }
            } else if (const auto* f = std::get_if<record::frame>(&r.body)) {
                if (f->dir == direction::s2c) {
                    // A data message is complete at its FIN frame.
                    if (f->opcode == opcode::text || f->opcode == opcode::binary) {
                        s2c_in_message = !f->fin;
                        server_messages += f->fin ? 1 : 0;
                    } else if (f->opcode == opcode::continuation && s2c_in_message && f->fin) {
                        s2c_in_message = false;
                        ++server_messages;
                    }
                    continue;
                }
                on_client_frame(*f, e.line, p, message, stamp);
            } else if (const auto* m = std::get_if<record::message>(&r.body)) {
                if (m->dir == direction::s2c) {
                    server_messages += s2c_frames_ ? 0 : 1;
                    continue;
                }
                if (c2s_frames_) {
                    continue; // built from the frames, with the control frames between them
                }
                const auto who = where(p.conn, m->dir, m->seq, e.line, "message");
                step s;
                playback::client_frame cf;
                cf.opcode = m->opcode;
                cf.payload = complete_payload(m->data, m->len, who);
                cf.compressed = m->compressed;
                s.frames.push_back(std::move(cf));
                s.compressed = m->compressed;
                stamp(s);
                p.steps.push_back(std::move(s));
            } else if (const auto* c = std::get_if<record::close>(&r.body)) {
                p.client_reset = c->reason == record::close_reason::client_reset;
                p.server_closed_first = c->reason == record::close_reason::server_closed;
            }
        }
        if (message) {
            // The client never finished its last message: send what it sent.
            p.steps.push_back(std::move(*message));
        }
        p.server_messages = server_messages;
    }

    template <class Stamp>
    void on_client_frame(const record::frame& f, std::uint64_t line, plan& p,
                         std::optional<step>& message, const Stamp& stamp) {
        const auto who = where(p.conn, f.dir, f.seq, line, "frame");
        playback::client_frame cf;
        cf.fin = f.fin;
        cf.rsv1 = f.rsv1;
        cf.rsv2 = f.rsv2;
        cf.rsv3 = f.rsv3;
        cf.opcode = f.opcode;
        cf.compressed = f.compressed;
        if (f.opcode == opcode::close && f.data.encoding == record::payload_encoding::none &&
            !f.data.truncated) {
            cf.payload = close_payload(f.close_code, f.close_reason.value_or(""));
        } else {
            cf.payload = complete_payload(f.data, f.compressed ? f.data_len : f.len, who);
        }
        if (f.opcode == opcode::pong) {
            return; // answers to the archive's pings; the player answers the live server's
        }
        if (options_.unit == unit::frames || !is_data(f.opcode)) {
            step s;
            s.compressed = f.compressed;
            s.frames.push_back(std::move(cf));
            stamp(s);
            p.steps.push_back(std::move(s));
            return;
        }
        // Messages unit: the frames of one data message become one frame.
        if (f.opcode != opcode::continuation || !message) {
            if (message) {
                p.steps.push_back(std::move(*message)); // unfinished, as the archive shows
            }
            message.emplace();
            cf.fin = true;
            cf.rsv1 = cf.rsv2 = cf.rsv3 = false; // a clean frame; RSV1 comes from compression
            message->compressed = f.compressed;
            message->frames.push_back(std::move(cf));
            // The sync point is where the message began: the server may have answered its
            // first fragment.
            stamp(*message);
        } else {
            message->frames.front().payload += cf.payload;
        }
        if (f.fin) {
            const auto waited_for = message->server_messages_before;
            stamp(*message); // sent whole at its last fragment's time
            message->server_messages_before = waited_for;
            p.steps.push_back(std::move(*message));
            message.reset();
        }
    }

    const archive::connection& conn_;
    const plan_options& options_;
    bool c2s_frames_ = false;
    bool s2c_frames_ = false;
};

} // namespace

plan make_plan(const archive::connection& conn, const plan_options& options) {
    return planner(conn, options).make();
}

} // namespace wssniff::playback
