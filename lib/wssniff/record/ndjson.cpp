// The record serializers: each record type's fields, in the order and with the names of the
// record format (DESIGN.md "Record format", schemas/record.schema.json), written through the
// line writer. What a field looks like on the wire is decided here; how its bytes are encoded is
// the line writer's business.

#include "wssniff/record/ndjson.hpp"

#include "wssniff/base/opcode.hpp"
#include "wssniff/record/line_writer.hpp"

#include <string_view>
#include <variant>

namespace wssniff::record {

namespace {

using detail::line_writer;

void write_body(line_writer& w, const handshake& h) {
    if (h.client)
        w.str(R"(,"client":)", *h.client);
    if (h.upstream)
        w.str(R"(,"upstream":)", *h.upstream);
    if (h.request_ts)
        w.timestamp_field(R"(,"request_ts":")", *h.request_ts);
    w.str(R"(,"method":)", h.method);
    w.str(R"(,"target":)", h.target);
    w.num(R"(,"status":)", static_cast<std::uint64_t>(h.status));
    w.headers(R"(,"request_headers":)", h.request_headers);
    w.headers(R"(,"response_headers":)", h.response_headers);
    if (h.subprotocol)
        w.str(R"(,"subprotocol":)", *h.subprotocol);
    else
        w.null(R"(,"subprotocol":)");
    if (h.extensions)
        w.str(R"(,"extensions":)", *h.extensions);
    else
        w.null(R"(,"extensions":)");
    if (const auto& d = h.deflate) {
        w.boolean(R"(,"deflate":{"server_no_context_takeover":)", d->server_no_context_takeover);
        w.boolean(R"(,"client_no_context_takeover":)", d->client_no_context_takeover);
        w.num(R"(,"server_max_window_bits":)", d->server_max_window_bits);
        w.num(R"(,"client_max_window_bits":)", d->client_max_window_bits);
        w.punct("}");
    } else {
        w.null(R"(,"deflate":)");
    }
    if (h.tls) {
        w.punct(R"(,"tls":{)");
        if (const auto& c = h.tls->client) {
            w.str(R"("client":{"version":)", c->version);
            w.str(R"(,"cipher":)", c->cipher);
            w.punct("}");
        }
        if (const auto& u = h.tls->upstream) {
            if (h.tls->client) {
                w.punct(",");
            }
            w.str(R"("upstream":{"version":)", u->version);
            w.str(R"(,"cipher":)", u->cipher);
            if (u->server_name)
                w.str(R"(,"server_name":)", *u->server_name);
            else
                w.null(R"(,"server_name":)");
            w.str(R"(,"subject":)", u->subject);
            w.str(R"(,"issuer":)", u->issuer);
            w.boolean(R"(,"verified":)", u->verified);
            w.punct("}");
        }
        w.punct("}");
    }
    if (h.proxy) {
        w.str(R"(,"proxy":{"mode":)", h.proxy->mode);
        w.str(R"(,"authority":)", h.proxy->authority);
        w.punct("}");
    }
    if (h.repeat) {
        w.num(R"(,"repeat":true,"segment":)", h.segment);
    }
}

void write_body(line_writer& w, const frame& f) {
    w.name(R"(,"dir":)", to_string(f.dir));
    w.num(R"(,"seq":)", f.seq);
    w.num(R"(,"offset":)", f.offset);
    w.boolean(R"(,"fin":)", f.fin);
    w.boolean(R"(,"rsv1":)", f.rsv1);
    w.boolean(R"(,"rsv2":)", f.rsv2);
    w.boolean(R"(,"rsv3":)", f.rsv3);
    w.num(R"(,"opcode":)", f.opcode);
    w.name(R"(,"op":)", op_name(f.opcode));
    w.boolean(R"(,"masked":)", f.masked);
    if (f.masked) {
        w.hex(R"(,"mask":)", std::string_view{reinterpret_cast<const char*>(f.mask.data()), 4});
    }
    w.num(R"(,"len":)", f.len);
    if (f.compressed) {
        w.boolean(R"(,"compressed":)", true);
        w.num(R"(,"data_len":)", f.data_len);
    }
    w.payload_field(f.data);
    if (f.close_code) {
        w.num(R"(,"close_code":)", *f.close_code);
        w.str(R"(,"close_reason":)", f.close_reason ? *f.close_reason : std::string_view{});
    }
}

void write_body(line_writer& w, const message& m) {
    w.name(R"(,"dir":)", to_string(m.dir));
    w.num(R"(,"seq":)", m.seq);
    w.name(R"(,"op":)", op_name(m.opcode));
    w.num(R"(,"frames":)", m.frames);
    w.num(R"(,"len":)", m.len);
    w.boolean(R"(,"compressed":)", m.compressed);
    w.payload_field(m.data);
}

void write_body(line_writer& w, const error& e) {
    w.name(R"(,"code":)", to_string(e.code));
    w.str(R"(,"message":)", e.message);
    w.boolean(R"(,"fatal":)", e.fatal);
    if (e.dir)
        w.name(R"(,"dir":)", to_string(*e.dir));
    if (e.offset)
        w.num(R"(,"offset":)", *e.offset);
}

void write_body(line_writer& w, const close& c) {
    w.name(R"(,"reason":)", to_string(c.reason));
    w.num(R"(,"bytes_c2s":)", c.bytes_c2s);
    w.num(R"(,"bytes_s2c":)", c.bytes_s2c);
    w.num(R"(,"frames_c2s":)", c.frames_c2s);
    w.num(R"(,"frames_s2c":)", c.frames_s2c);
}

constexpr std::string_view type_name(const decltype(record::body)& body) noexcept {
    constexpr std::string_view names[] = {"handshake", "frame", "message", "error", "close"};
    return names[body.index()];
}

} // namespace

void append_ndjson(line_buffer& out, const record& r, std::string_view fields) {
    line_writer w(out);
    w.name(R"({"type":)", type_name(r.body));
    w.num(R"(,"conn":)", r.conn);
    if (!fields.empty()) {
        w.verbatim(fields);
    }
    if (r.ts) {
        w.timestamp_field(*r.ts);
    }
    std::visit([&w](const auto& body) { write_body(w, body); }, r.body);
    w.finish();
}

void append_ndjson(std::string& out, const record& r, std::string_view fields) {
    thread_local line_buffer line;
    line.clear();
    append_ndjson(line, r, fields);
    out.append(line.view());
}

} // namespace wssniff::record
