#include "wssniff/har/har_writer.hpp"

#include "wssniff/har/headers.hpp"
#include "wssniff/har/messages.hpp"
#include "wssniff/record/hex_base64.hpp"
#include "wssniff/record/timestamp.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string_view>
#include <variant>

namespace wssniff::har {

namespace {

using json = nlohmann::ordered_json;

std::string base64(std::string_view bytes) {
    std::string out(((bytes.size() + 2) / 3) * 4, '\0');
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t groups = bytes.size() / 3;
    char* o = record::detail::put_base64_groups(out.data(), p, groups);
    if (const std::size_t tail = bytes.size() % 3; tail != 0) {
        record::detail::put_base64_tail(o, p + groups * 3, tail);
    }
    return out;
}

std::string iso_time(record::timestamp ts) {
    std::string out;
    record::append_timestamp(out, ts);
    return out;
}

double epoch_seconds(record::timestamp ts) {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(ts.time_since_epoch()).count();
    return static_cast<double>(us) / 1e6;
}

json header_array(const record::header_list& headers) {
    json out = json::array();
    for (const auto& [name, value] : headers) {
        out.push_back(json{{"name", name}, {"value", value}});
    }
    return out;
}

// The query string of a request target as HAR lists it (names and values as written).
json query_string(const std::string& target) {
    json out = json::array();
    const auto q = target.find('?');
    if (q == std::string::npos) {
        return out;
    }
    std::string_view rest(target);
    rest.remove_prefix(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        const auto eq = pair.find('=');
        out.push_back(
            json{{"name", std::string(pair.substr(0, eq))},
                 {"value", eq == std::string_view::npos ? std::string()
                                                        : std::string(pair.substr(eq + 1))}});
        if (amp == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(amp + 1);
    }
    return out;
}

// "10.0.0.1:443" -> "10.0.0.1", "[::1]:9000" -> "::1".
std::string host_of(const std::string& address) {
    if (!address.empty() && address.front() == '[') {
        const auto close = address.find(']');
        return address.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    }
    return address.substr(0, address.rfind(':'));
}

std::string_view status_text(int status) {
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 426: return "Upgrade Required";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

} // namespace

har_writer::har_writer(std::FILE* out, export_options options)
    : out_(out), options_(std::move(options)) {
    const json creator{{"name", "wssniff"}, {"version", options_.creator_version}};
    put(R"({"log":{"version":"1.2","creator":)" + creator.dump() + R"(,"pages":[],"entries":[)");
}

void har_writer::put(const std::string& text) {
    if (ok_ && std::fwrite(text.data(), 1, text.size(), out_) != text.size()) {
        ok_ = false;
    }
}

bool har_writer::add(const archive::connection& c) {
    const record::handshake* h = c.handshake();
    if (h == nullptr) {
        return false;
    }
    const record::timestamp base = options_.base_time.value_or(record::timestamp{});
    auto time_of = [&](const std::optional<record::timestamp>& ts) {
        if (!ts) {
            clockless_ = true;
        }
        return ts.value_or(base);
    };

    // The handshake record's own time: when the response head ended.
    std::optional<record::timestamp> handshake_ts;
    for (const archive::entry& e : c.entries) {
        if (std::holds_alternative<record::handshake>(e.record.body)) {
            handshake_ts = e.record.ts;
        }
    }
    // The entry starts when the request head was complete (request_ts) and waits until the
    // response head was (ts); archives without request_ts start at ts and wait 0.
    const record::timestamp started = time_of(h->request_ts ? h->request_ts : handshake_ts);
    double wait_ms = 0;
    if (h->request_ts && handshake_ts && *handshake_ts >= *h->request_ts) {
        wait_ms = std::chrono::duration<double, std::milli>(*handshake_ts - *h->request_ts).count();
    }

    const bool secure = h->tls && h->tls->client;
    const std::string* host = find_header(h->request_headers, "Host");
    const std::string url = std::string(secure ? "wss://" : "ws://") +
                            (host != nullptr ? *host : h->upstream.value_or("localhost")) +
                            h->target;

    json messages = json::array();
    bool truncated = false;
    for (const ws_message& m : messages_of(c, options_.control)) {
        truncated = truncated || m.truncated;
        json message{{"type", m.dir == direction::c2s ? "send" : "receive"},
                     {"time", epoch_seconds(time_of(m.ts))},
                     {"opcode", m.opcode},
                     {"data", m.opcode == 1 ? m.data : base64(m.data)}};
        if (m.truncated) {
            // DevTools reads the four fields above and ignores these; `har import` restores them.
            message["_wssniffTruncated"] = true;
            message["_wssniffLength"] = m.len;
        }
        messages.push_back(std::move(message));
    }

    json entry;
    entry["startedDateTime"] = iso_time(started);
    entry["time"] = wait_ms;
    entry["request"] = json{{"method", h->method.empty() ? "GET" : h->method},
                            {"url", url},
                            {"httpVersion", "HTTP/1.1"},
                            {"cookies", json::array()},
                            {"headers", header_array(h->request_headers)},
                            {"queryString", query_string(h->target)},
                            {"headersSize", -1},
                            {"bodySize", 0}};
    entry["response"] = json{{"status", h->status},
                             {"statusText", status_text(h->status)},
                             {"httpVersion", "HTTP/1.1"},
                             {"cookies", json::array()},
                             {"headers", header_array(h->response_headers)},
                             {"content", json{{"size", 0}, {"mimeType", "x-unknown"}}},
                             {"redirectURL", ""},
                             {"headersSize", -1},
                             {"bodySize", 0}};
    entry["cache"] = json::object();
    // From the request head to the response head is `wait`; the phases before it are unknown
    // (-1), the message stream is not `receive`.
    entry["timings"] = json{{"blocked", -1}, {"dns", -1},       {"connect", -1}, {"ssl", -1},
                            {"send", 0},     {"wait", wait_ms}, {"receive", 0}};
    if (h->upstream) {
        entry["serverIPAddress"] = host_of(*h->upstream);
    }
    entry["connection"] = std::to_string(c.conn);
    entry["_resourceType"] = "websocket";
    entry["_webSocketMessages"] = std::move(messages);
    if (truncated) {
        entry["_wssniffTruncated"] = true;
    }

    put((entries_ == 0 ? "\n" : ",\n") +
        entry.dump(-1, ' ', false, json::error_handler_t::replace));
    ++entries_;
    return true;
}

bool har_writer::finish() {
    std::string end = "\n]";
    if (clockless_) {
        const std::string when = options_.base_time
                                     ? "from --base-time " + iso_time(*options_.base_time)
                                     : std::string("the Unix epoch (no --base-time given)");
        end += ",\"comment\":" +
               json("The archive has records without a time (written by `wssniff decode`, "
                    "which has no clock): their times are " +
                    when + ".")
                   .dump();
    }
    end += "}}\n";
    put(end);
    if (std::fflush(out_) != 0) {
        ok_ = false;
    }
    return ok_;
}

} // namespace wssniff::har
