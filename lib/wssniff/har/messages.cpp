#include "wssniff/har/messages.hpp"

#include "wssniff/base/opcode.hpp"

#include <algorithm>
#include <array>
#include <variant>

namespace wssniff::har {

namespace {

// Part of the payload is missing: cut at --max-payload, or not written at all (--payload none).
bool incomplete(const record::payload& p, std::uint64_t payload_len) {
    return p.truncated || (p.encoding == record::payload_encoding::none && payload_len > 0);
}

// A message being reassembled from one direction's frames.
struct partial {
    bool open = false;
    ws_message message;
};

} // namespace

std::vector<ws_message> messages_of(const archive::connection& c, bool control) {
    const bool has_message_records =
        std::any_of(c.entries.begin(), c.entries.end(), [](const archive::entry& e) {
            return std::holds_alternative<record::message>(e.record.body);
        });

    std::vector<ws_message> out;
    std::array<partial, 2> partials;
    for (const archive::entry& e : c.entries) {
        if (const auto* m = std::get_if<record::message>(&e.record.body)) {
            out.push_back(ws_message{m->dir, e.record.ts, m->opcode, m->data.bytes, m->len,
                                     incomplete(m->data, m->len)});
            continue;
        }
        const auto* f = std::get_if<record::frame>(&e.record.body);
        if (f == nullptr) {
            continue;
        }
        const std::uint64_t payload_len = f->compressed ? f->data_len : f->len;
        if (f->opcode >= 8) {
            if (control) {
                out.push_back(ws_message{f->dir, e.record.ts, f->opcode, f->data.bytes, payload_len,
                                         incomplete(f->data, payload_len)});
            }
            continue;
        }
        if (has_message_records) {
            continue; // the message records already carry these frames' payloads
        }
        partial& p = partials[static_cast<std::size_t>(f->dir)];
        if (f->opcode != static_cast<std::uint8_t>(opcode::continuation)) {
            // A new data frame; one still open lost its end (the decoder reported that).
            p = partial{true, ws_message{f->dir, {}, f->opcode, {}, 0, false}};
        } else if (!p.open) {
            continue; // a continuation with no start: nothing to attach it to
        }
        p.message.data += f->data.bytes;
        p.message.len += payload_len;
        p.message.truncated = p.message.truncated || incomplete(f->data, payload_len);
        if (f->fin) {
            p.message.ts = e.record.ts;
            out.push_back(std::move(p.message));
            p = partial{};
        }
    }
    return out;
}

} // namespace wssniff::har
