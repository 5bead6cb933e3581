// The TCP reassembler, from segments as a capture would show them.

#include "wssniff/tcp/reassembler.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <random>
#include <string>
#include <vector>

using namespace wssniff;
using tcp::segment;

namespace {

tcp::endpoint v4(std::uint8_t last, std::uint16_t port) {
    tcp::endpoint e;
    e.address = {127, 0, 0, last};
    e.port = port;
    return e;
}

const tcp::endpoint client = v4(1, 40000);
const tcp::endpoint server = v4(2, 8080);

segment make(const tcp::endpoint& from, const tcp::endpoint& to, std::uint32_t seq) {
    segment s;
    s.src = from;
    s.dst = to;
    s.seq = seq;
    return s;
}

// Every event as a line, and each direction's bytes as delivered.
struct recorder final : tcp::listener {
    std::vector<std::string> events;
    std::string c2s;
    std::string s2c;

    void on_open(std::uint64_t flow, const tcp::endpoint& c, const tcp::endpoint& s,
                 tcp::clock_time) override {
        events.push_back("open " + std::to_string(flow) + " " + tcp::to_string(c) + " " +
                         tcp::to_string(s));
    }
    void on_data(std::uint64_t, direction dir, bytes_view data, tcp::clock_time) override {
        (dir == direction::c2s ? c2s : s2c).append(data.chars());
    }
    void on_gap(std::uint64_t flow, direction dir, std::uint64_t offset, std::uint64_t length,
                tcp::clock_time) override {
        events.push_back("gap " + std::to_string(flow) + " " + std::string(to_string(dir)) + " " +
                         std::to_string(offset) + "+" + std::to_string(length));
        (dir == direction::c2s ? c2s : s2c).append("<gap>");
    }
    void on_conflict(std::uint64_t flow, direction dir, std::uint64_t offset,
                     tcp::clock_time) override {
        events.push_back("conflict " + std::to_string(flow) + " " + std::string(to_string(dir)) +
                         " " + std::to_string(offset));
    }
    void on_end(std::uint64_t flow, direction dir, tcp::clock_time) override {
        events.push_back("end " + std::to_string(flow) + " " + std::string(to_string(dir)));
    }
    void on_close(std::uint64_t flow, tcp::close_cause cause, tcp::clock_time) override {
        static const char* names[] = {"client_fin", "server_fin",   "client_rst",
                                      "server_rst", "end_of_input", "replaced"};
        events.push_back("close " + std::to_string(flow) + " " + names[static_cast<int>(cause)]);
    }
};

// Segments of one connection, built from sequence numbers relative to each side's ISN.
struct connection {
    std::uint32_t client_isn = 1000;
    std::uint32_t server_isn = 5000;
    std::deque<std::string> storage; // keeps payloads alive (a deque never moves them)

    segment syn() const {
        segment s = make(client, server, client_isn);
        s.syn = true;
        return s;
    }
    segment syn_ack() const {
        segment s = make(server, client, server_isn);
        s.syn = true;
        s.ack = true;
        return s;
    }
    // `offset`: stream offset of the first payload byte.
    segment c2s(std::uint64_t offset, std::string payload) {
        return data(client, server, client_isn, offset, std::move(payload));
    }
    segment s2c(std::uint64_t offset, std::string payload) {
        return data(server, client, server_isn, offset, std::move(payload));
    }
    segment data(const tcp::endpoint& from, const tcp::endpoint& to, std::uint32_t isn,
                 std::uint64_t offset, std::string payload) {
        storage.push_back(std::move(payload));
        segment s = make(from, to, static_cast<std::uint32_t>(isn + 1 + offset));
        s.ack = true;
        s.payload = bytes_view(storage.back());
        return s;
    }
};

const std::string request = "GET /chat HTTP/1.1\r\nHost: x\r\n\r\n";

} // namespace

TEST_CASE("tcp: in order, FIN from both sides", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    tcp.feed(c.syn_ack());
    tcp.feed(c.c2s(0, "hello "));
    tcp.feed(c.s2c(0, "answer"));
    tcp.feed(c.c2s(6, "world"));
    auto fin = c.c2s(11, "");
    fin.fin = true;
    tcp.feed(fin);
    auto server_fin = c.s2c(6, "");
    server_fin.fin = true;
    tcp.feed(server_fin);
    CHECK(r.c2s == "hello world");
    CHECK(r.s2c == "answer");
    CHECK(r.events == std::vector<std::string>{"open 1 127.0.0.1:40000 127.0.0.2:8080", "end 1 c2s",
                                               "end 1 s2c", "close 1 client_fin"});
    CHECK(tcp.open_flows() == 0);
}

TEST_CASE("tcp: reordered segments are delivered in order", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    tcp.feed(c.c2s(10, "klmno"));
    tcp.feed(c.c2s(5, "fghij"));
    CHECK(r.c2s.empty());
    CHECK(tcp.held_bytes() == 10);
    tcp.feed(c.c2s(0, "abcde"));
    CHECK(r.c2s == "abcdefghijklmno");
    CHECK(tcp.held_bytes() == 0);
    tcp.finish({});
    CHECK(r.events.back() == "close 1 end_of_input");
}

TEST_CASE("tcp: exact and partial retransmissions are dropped", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    tcp.feed(c.c2s(0, "abcde"));
    tcp.feed(c.c2s(0, "abcde"));
    tcp.feed(c.c2s(3, "defgh")); // overlaps the delivered bytes
    tcp.feed(c.c2s(12, "mnop")); // held
    tcp.feed(c.c2s(12, "mnop")); // held twice
    tcp.feed(c.c2s(10, "klmn")); // overlaps the held bytes
    tcp.feed(c.c2s(7, "hijk"));
    CHECK(r.c2s == "abcdefghijklmnop");
    CHECK(r.events.size() == 1); // open only: no conflict
}

TEST_CASE("tcp: conflicting overlap: the first bytes win and the conflict is said", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    SECTION("against delivered bytes") {
        tcp.feed(c.c2s(0, "abcde"));
        tcp.feed(c.c2s(2, "cXefg"));
        CHECK(r.c2s == "abcdefg");
        CHECK(r.events.back() == "conflict 1 c2s 3");
    }
    SECTION("against held bytes") {
        tcp.feed(c.c2s(5, "fghij"));
        tcp.feed(c.c2s(4, "eYghijk"));
        tcp.feed(c.c2s(0, "abcd"));
        CHECK(r.c2s == "abcdefghijk");
        CHECK(r.events.back() == "conflict 1 c2s 5");
    }
    SECTION("held bytes against a new in-order segment") {
        tcp.feed(c.c2s(3, "dZ"));
        tcp.feed(c.c2s(0, "abcde"));
        CHECK(r.c2s == "abcde");
        CHECK(r.events.back() == "conflict 1 c2s 4");
    }
}

TEST_CASE("tcp: an ISN near 2^32: sequence numbers wrap", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    c.client_isn = 0xfffffff8u;
    c.server_isn = 0xffffffffu;
    tcp.feed(c.syn());
    tcp.feed(c.syn_ack());
    tcp.feed(c.c2s(10, "klmnopqrst")); // past the wrap, before the bytes in front of it
    tcp.feed(c.c2s(0, "abcdefghij"));
    tcp.feed(c.s2c(0, "server"));
    CHECK(r.c2s == "abcdefghijklmnopqrst");
    CHECK(r.s2c == "server");
    tcp.finish({});
    CHECK(r.events == std::vector<std::string>{"open 1 127.0.0.1:40000 127.0.0.2:8080",
                                               "close 1 end_of_input"});
}

TEST_CASE("tcp: streams longer than 4 GiB keep their offsets", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    // 2^32 + 100 bytes in: the low 32 bits are 100. A gap is given up at the end only.
    const std::string chunk(16 << 20, 'x');
    const bytes_view view(chunk);
    std::uint64_t offset = 0;
    for (int i = 0; i < 257; ++i) {
        segment s = make(client, server, static_cast<std::uint32_t>(c.client_isn + 1 + offset));
        s.payload = view;
        tcp.feed(s);
        offset += chunk.size();
        r.c2s.clear();
    }
    r.c2s.clear();
    tcp.feed(c.c2s(offset + 10, "late"));
    tcp.feed(c.c2s(offset, "0123456789"));
    CHECK(r.c2s == "0123456789late");
}

TEST_CASE("tcp: holes never filled are given up", "[tcp]") {
    recorder r;
    connection c;
    SECTION("at the end of the input") {
        tcp::reassembler tcp(r);
        tcp.feed(c.syn());
        tcp.feed(c.c2s(0, "abc"));
        tcp.feed(c.c2s(6, "ghi"));
        tcp.finish({});
        CHECK(r.c2s == "abc<gap>ghi");
        CHECK(r.events[1] == "gap 1 c2s 3+3");
    }
    SECTION("when the reorder buffer is full") {
        tcp::reassembler tcp(r, tcp::reassembler_options{8});
        tcp.feed(c.syn());
        tcp.feed(c.c2s(0, "abc"));
        tcp.feed(c.c2s(6, "ghij"));
        tcp.feed(c.c2s(12, "mnop"));
        CHECK(r.c2s == "abc");
        tcp.feed(c.c2s(16, "q")); // 9 bytes held: the first hole goes
        CHECK(r.c2s == "abc<gap>ghij");
        CHECK(tcp.held_bytes() == 5);
        tcp.feed(c.c2s(10, "kl"));
        CHECK(r.c2s == "abc<gap>ghijklmnopq");
    }
    SECTION("before a FIN, at the RST that follows") {
        tcp::reassembler tcp(r);
        tcp.feed(c.syn());
        tcp.feed(c.c2s(0, "abc"));
        auto fin = c.c2s(6, "ghi");
        fin.fin = true;
        tcp.feed(fin);
        CHECK(r.events.size() == 1);
        auto rst = c.s2c(0, "");
        rst.rst = true;
        tcp.feed(rst);
        CHECK(r.c2s == "abc<gap>ghi");
        CHECK(r.events.back() == "close 1 server_rst");
    }
    SECTION("bytes the capture cut (snaplen)") {
        tcp::reassembler tcp(r);
        tcp.feed(c.syn());
        auto cut = c.c2s(0, "abc");
        cut.missing = 5;
        tcp.feed(cut);
        tcp.feed(c.c2s(8, "ijk"));
        CHECK(r.c2s == "abc");
        tcp.finish({});
        CHECK(r.c2s == "abc<gap>ijk");
        CHECK(r.events[1] == "gap 1 c2s 3+5");
    }
}

TEST_CASE("tcp: RST ends the connection", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    tcp.feed(c.c2s(0, "abc"));
    auto rst = c.c2s(3, "");
    rst.rst = true;
    tcp.feed(rst);
    CHECK(r.events.back() == "close 1 client_rst");
    tcp.feed(c.c2s(3, "after")); // a stray segment of the dead connection: a new flow
    CHECK(r.events.back() == "open 2 127.0.0.1:40000 127.0.0.2:8080");
}

TEST_CASE("tcp: a new SYN on the same 4-tuple is a new connection", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection first;
    tcp.feed(first.syn());
    tcp.feed(first.syn()); // retransmitted SYN
    tcp.feed(first.syn_ack());
    tcp.feed(first.syn_ack());
    tcp.feed(first.c2s(0, "one"));
    SECTION("after both FINs") {
        auto fin = first.c2s(3, "");
        fin.fin = true;
        tcp.feed(fin);
        auto server_fin = first.s2c(0, "");
        server_fin.fin = true;
        tcp.feed(server_fin);
        connection second;
        second.client_isn = 77;
        tcp.feed(second.syn());
        tcp.feed(second.c2s(0, "two"));
        tcp.finish({});
        CHECK(r.events == std::vector<std::string>{"open 1 127.0.0.1:40000 127.0.0.2:8080",
                                                   "end 1 c2s", "end 1 s2c", "close 1 client_fin",
                                                   "open 2 127.0.0.1:40000 127.0.0.2:8080",
                                                   "close 2 end_of_input"});
    }
    SECTION("while the old one is still open") {
        tcp.feed(first.c2s(10, "held"));
        connection second;
        second.client_isn = 77;
        tcp.feed(second.syn());
        tcp.feed(second.c2s(0, "two"));
        CHECK(r.c2s == "one<gap>heldtwo");
        CHECK(r.events[2] == "close 1 replaced");
        CHECK(r.events[3] == "open 2 127.0.0.1:40000 127.0.0.2:8080");
    }
}

TEST_CASE("tcp: mid-stream: the client is the side that sends an HTTP request", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    SECTION("the request first") {
        tcp.feed(c.c2s(100, request));
        CHECK(r.events.back() == "open 1 127.0.0.1:40000 127.0.0.2:8080");
    }
    SECTION("the response first") {
        tcp.feed(c.s2c(100, "HTTP/1.1 101 Switching Protocols\r\n\r\n"));
        CHECK(r.events.back() == "open 1 127.0.0.1:40000 127.0.0.2:8080");
        tcp.feed(c.c2s(100, request));
        CHECK(r.c2s == request);
    }
    SECTION("the server's SYN-ACK alone") {
        tcp.feed(c.syn_ack());
        CHECK(r.events.back() == "open 1 127.0.0.1:40000 127.0.0.2:8080");
    }
    SECTION("segments before the first one seen are dropped") {
        tcp.feed(c.c2s(100, request));
        tcp.feed(c.c2s(90, "0123456789" + request));
        CHECK(r.c2s == request);
    }
}

TEST_CASE("tcp: keep-alive probes are ignored", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    tcp.feed(c.c2s(0, "abc"));
    tcp.feed(c.c2s(2, "\xff")); // seq = next - 1, one garbage byte
    tcp.feed(c.c2s(3, "def"));
    CHECK(r.c2s == "abcdef");
    CHECK(r.events.size() == 1);
}

TEST_CASE("tcp: ignored flows hold nothing, and still end", "[tcp]") {
    recorder r;
    tcp::reassembler tcp(r);
    connection c;
    tcp.feed(c.syn());
    tcp.ignore(1);
    tcp.feed(c.c2s(10, "held?"));
    tcp.feed(c.c2s(0, "abc"));
    CHECK(tcp.held_bytes() == 0);
    CHECK(r.c2s.empty());
    auto rst = c.s2c(0, "");
    rst.rst = true;
    tcp.feed(rst);
    CHECK(r.events.back() == "close 1 server_rst");
}

TEST_CASE("tcp: any segmentation and reordering within the limit gives the same stream", "[tcp]") {
    std::mt19937 random(12);
    std::string stream(20000, '\0');
    for (auto& ch : stream) {
        ch = static_cast<char>(random());
    }
    for (int round = 0; round < 200; ++round) {
        recorder r;
        tcp::reassembler tcp(r, tcp::reassembler_options{64 * 1024});
        connection c;
        c.client_isn = static_cast<std::uint32_t>(random());
        std::vector<segment> segments;
        for (std::size_t at = 0; at < stream.size();) {
            const std::size_t n = std::min<std::size_t>(1 + random() % 1500, stream.size() - at);
            segments.push_back(c.c2s(at, stream.substr(at, n)));
            // Now and then a retransmission that overlaps the next segment.
            if (random() % 5 == 0 && at + n + 10 < stream.size()) {
                segments.push_back(c.c2s(at + n / 2, stream.substr(at + n / 2, n)));
            }
            at += n;
        }
        // Local shuffles: each segment moves a few places at most.
        for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
            const std::size_t j = std::min(segments.size() - 1, i + random() % 4);
            std::swap(segments[i], segments[j]);
        }
        tcp.feed(c.syn());
        for (const auto& s : segments) {
            tcp.feed(s);
        }
        tcp.finish({});
        REQUIRE(r.c2s == stream);
        REQUIRE(r.events.size() == 2);
    }
}
