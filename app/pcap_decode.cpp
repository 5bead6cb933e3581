#include "pcap_decode.hpp"

#include "options.hpp"
#include "output.hpp"

#include "wssniff/filter/selector.hpp"
#include "wssniff/handshake/http_head.hpp"
#include "wssniff/pcap/capture_reader.hpp"
#include "wssniff/pcap/packet.hpp"
#include "wssniff/record/ndjson.hpp"
#include "wssniff/session/session.hpp"
#include "wssniff/tcp/reassembler.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>

namespace wssniff::app {

namespace {

// Bytes kept per direction while a connection's first request head is being read.
constexpr std::size_t max_detect = 64 * 1024;

record::close_reason reason_of(tcp::close_cause cause) noexcept {
    switch (cause) {
    case tcp::close_cause::client_fin: return record::close_reason::client_closed;
    case tcp::close_cause::server_fin: return record::close_reason::server_closed;
    case tcp::close_cause::client_rst: return record::close_reason::client_reset;
    case tcp::close_cause::server_rst: return record::close_reason::server_reset;
    case tcp::close_cause::end_of_input:
    case tcp::close_cause::replaced: break;
    }
    return record::close_reason::end_of_input;
}

// The reassembler's events, turned into sessions for the connections that are WebSocket.
class flow_decoder final : public tcp::listener {
  public:
    flow_decoder(record::sink& sink, const pcap_decode_options& options)
        : sink_(sink), options_(options) {
        apply(options.output, session_options_);
    }

    void attach(tcp::reassembler& tcp) noexcept { tcp_ = &tcp; }

    void on_open(std::uint64_t flow, const tcp::endpoint& client, const tcp::endpoint& server,
                 tcp::clock_time) override {
        auto& f = flows_[flow];
        f.client = tcp::to_string(client);
        f.server = tcp::to_string(server);
    }

    void on_data(std::uint64_t flow, direction dir, bytes_view data, tcp::clock_time ts) override {
        auto it = flows_.find(flow);
        if (it == flows_.end()) {
            return;
        }
        state& f = it->second;
        if (f.session) {
            if (!f.dead[index(dir)]) {
                f.session->feed(dir, data, stamp(ts));
            }
            return;
        }
        std::string& buffer = f.detect[index(dir)];
        buffer.append(data.chars());
        if (buffer.size() > max_detect) {
            skip(it);
            return;
        }
        if (dir == direction::c2s) {
            detect(it, ts);
        }
    }

    void on_gap(std::uint64_t flow, direction dir, std::uint64_t offset, std::uint64_t length,
                tcp::clock_time ts) override {
        auto it = flows_.find(flow);
        if (it == flows_.end()) {
            return;
        }
        state& f = it->second;
        if (!f.session) {
            skip(it); // its first request cannot be read whole
            return;
        }
        if (f.dead[index(dir)]) {
            return;
        }
        f.dead[index(dir)] = true;
        record::error e;
        e.code = error_code::capture_gap;
        e.message = fmt::format("{} bytes of this direction are missing from the capture at TCP "
                                "stream offset {}; its frames are no longer decoded",
                                length, offset);
        e.fatal = true;
        e.dir = dir;
        write(f.conn, ts, std::move(e));
    }

    void on_conflict(std::uint64_t flow, direction dir, std::uint64_t offset,
                     tcp::clock_time ts) override {
        auto it = flows_.find(flow);
        if (it == flows_.end() || !it->second.session || it->second.dead[index(dir)]) {
            return;
        }
        record::error e;
        e.code = error_code::overlap_conflict;
        e.message = fmt::format("a retransmitted TCP segment differs from the bytes first seen at "
                                "TCP stream offset {}; the first ones are decoded",
                                offset);
        e.dir = dir;
        write(it->second.conn, ts, std::move(e));
    }

    void on_end(std::uint64_t flow, direction dir, tcp::clock_time ts) override {
        auto it = flows_.find(flow);
        if (it != flows_.end() && it->second.session) {
            it->second.session->end(dir, stamp(ts));
        }
    }

    void on_close(std::uint64_t flow, tcp::close_cause cause, tcp::clock_time ts) override {
        auto it = flows_.find(flow);
        if (it == flows_.end()) {
            return;
        }
        if (it->second.session) {
            it->second.session->close(reason_of(cause), stamp(ts));
        }
        flows_.erase(it);
        sink_.end_of_batch();
    }

  private:
    struct state {
        std::string client;
        std::string server;
        std::array<std::string, 2> detect; // bytes seen before the request head was judged
        std::uint64_t conn = 0;
        std::unique_ptr<session::session> session;
        std::array<bool, 2> dead{}; // a hole was given up: that direction's framing is lost
    };
    using iterator = std::map<std::uint64_t, state>::iterator;

    static std::size_t index(direction dir) noexcept { return dir == direction::c2s ? 0 : 1; }
    static record::timestamp stamp(tcp::clock_time ts) noexcept {
        return std::chrono::time_point_cast<record::timestamp::duration>(ts);
    }

    void write(std::uint64_t conn, tcp::clock_time ts, record::error&& e) {
        record::record r;
        r.conn = conn;
        r.ts = stamp(ts);
        r.body = std::move(e);
        sink_.write(std::move(r));
    }

    // Judges the client's first bytes: a TLS ClientHello, a WebSocket upgrade request (decoded
    // from its first byte on), or anything else (skipped without a word).
    void detect(iterator it, tcp::clock_time ts) {
        state& f = it->second;
        const std::string& c2s = f.detect[0];
        // TLS record header: handshake (22), version 3.x.
        if (c2s.size() >= 2 && static_cast<std::uint8_t>(c2s[0]) == 0x16 && c2s[1] == 0x03) {
            if (const auto conn = number(); conn && wanted(*conn)) {
                record::error e;
                e.code = error_code::tls_not_decoded;
                e.message = fmt::format("the connection from {} to {} is TLS: its WebSocket "
                                        "traffic cannot be decoded from a capture",
                                        f.client, f.server);
                write(*conn, ts, std::move(e));
            }
            skip(it);
            return;
        }
        const bool request_so_far = c2s.size() < 17 ? c2s.find(' ') == std::string::npos : false;
        if (!tcp::looks_like_http_request(bytes_view(c2s)) && !request_so_far) {
            skip(it);
            return;
        }
        const auto head_end = c2s.find("\r\n\r\n");
        if (head_end == std::string::npos) {
            return; // the rest of the head is still to come
        }
        handshake::head_parser parser(handshake::head_parser::kind::request);
        parser.feed(bytes_view(std::string_view(c2s).substr(0, head_end + 4)));
        if (parser.state() != handshake::head_parser::status::done ||
            !parser.head().has_token("Upgrade", "websocket")) {
            skip(it);
            return;
        }
        const auto conn = number();
        if (!wanted(conn.value_or(0))) {
            skip(it);
            return;
        }
        session::session_options o = session_options_;
        o.conn = *conn;
        o.client = f.client;
        o.upstream = f.server;
        f.conn = *conn;
        f.session = std::make_unique<session::session>(sink_, o);
        const std::array<std::string, 2> held = std::move(f.detect);
        f.detect = {};
        f.session->feed(direction::c2s, bytes_view(held[0]), stamp(ts));
        if (!held[1].empty()) {
            f.session->feed(direction::s2c, bytes_view(held[1]), stamp(ts));
        }
    }

    std::optional<std::uint64_t> number() { return next_conn_++; }
    bool wanted(std::uint64_t conn) const {
        return options_.conns.empty() || options_.conns.count(conn) != 0;
    }

    void skip(iterator it) {
        tcp_->ignore(it->first);
        flows_.erase(it);
    }

    record::sink& sink_;
    const pcap_decode_options& options_;
    session::session_options session_options_;
    tcp::reassembler* tcp_ = nullptr;
    std::map<std::uint64_t, state> flows_;
    std::uint64_t next_conn_ = 1;
};

} // namespace

int run_pcap_decode(const pcap_decode_options& options) {
    // A bad --filter is a usage mistake, said before the capture is touched.
    filter::filters filters = compile_filters(options.output);
    pcap::capture_reader reader = [&] {
        try {
            return pcap::capture_reader(options.path);
        } catch (const pcap::capture_error& e) {
            throw runtime_failure(e.what());
        }
    }();
    if (!pcap::link_supported(reader.link_type())) {
        throw runtime_failure(fmt::format(
            "cannot decode '{}': link type {} is not supported (Ethernet, Linux cooked v1/v2, "
            "raw IP and BSD loopback are)",
            options.path, reader.link_name()));
    }
    // Opened after the capture: a capture that cannot be read leaves an earlier output file
    // untouched.
    output_file out(options.output.output);
    const std::unique_ptr<output_sink> written =
        make_output_sink(out.get(), out.interactive(), choose_view(options.output));
    output_sink& sink = *written;
    std::optional<filter::filtering_sink> filtered;
    if (filters.any()) {
        filtered.emplace(sink, std::move(filters));
    }
    flow_decoder decoder(filtered ? static_cast<record::sink&>(*filtered) : sink, options);
    tcp::reassembler tcp(decoder, tcp::reassembler_options{options.max_reorder});
    decoder.attach(tcp);

    pcap::packet packet;
    tcp::segment segment;
    tcp::clock_time last{};
    std::optional<std::string> failure;
    try {
        while (reader.next(packet)) {
            last = packet.ts;
            if (pcap::parse_packet(reader.link_type(), packet.data, packet.wire_length, segment) !=
                pcap::parse_status::tcp) {
                continue;
            }
            if (!options.ports.empty() && options.ports.count(segment.src.port) == 0 &&
                options.ports.count(segment.dst.port) == 0) {
                continue;
            }
            segment.ts = packet.ts;
            tcp.feed(segment);
        }
    } catch (const pcap::capture_error& e) {
        // A cut or damaged file: what was read is decoded and ended, then the failure said.
        failure = e.what();
    }
    tcp.finish(last);
    if (!sink.flush() || !out.close()) {
        throw runtime_failure(output_failure(sink));
    }
    if (failure) {
        throw runtime_failure(*failure);
    }
    return 0;
}

} // namespace wssniff::app
