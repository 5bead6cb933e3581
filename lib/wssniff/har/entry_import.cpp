#include "wssniff/har/entry_import.hpp"

#include "wssniff/archive/payload_text.hpp"
#include "wssniff/archive/record_reader.hpp"
#include "wssniff/handshake/extensions.hpp"
#include "wssniff/har/headers.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <optional>
#include <string_view>

namespace wssniff::har {

namespace {

using json = nlohmann::json;

const json* member(const json& object, const char* name) {
    if (!object.is_object()) {
        return nullptr;
    }
    const auto it = object.find(name);
    return it == object.end() ? nullptr : &*it;
}

std::string string_member(const json& object, const char* name) {
    const json* v = member(object, name);
    return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

// timings.wait in milliseconds (HAR 1.2: -1 or absent when unknown): from the request's
// start to the response head. Bounded to a day so that a hostile number moves no time far.
record::timestamp::duration wait_of(const json& entry) {
    const json* timings = member(entry, "timings");
    const json* wait = timings != nullptr ? member(*timings, "wait") : nullptr;
    if (wait == nullptr || !wait->is_number()) {
        return {};
    }
    const double ms = wait->get<double>();
    if (!(ms > 0 && ms < 86'400'000.0)) {
        return {};
    }
    return std::chrono::duration_cast<record::timestamp::duration>(
        std::chrono::microseconds(static_cast<std::int64_t>(std::llround(ms * 1e3))));
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// HAR's {name, value} header objects, in order; others are skipped.
record::header_list headers_of(const json* message) {
    record::header_list out;
    const json* headers = message != nullptr ? member(*message, "headers") : nullptr;
    if (headers == nullptr || !headers->is_array()) {
        return out;
    }
    for (const json& h : *headers) {
        const json* name = member(h, "name");
        const json* value = member(h, "value");
        if (name != nullptr && name->is_string() && value != nullptr && value->is_string()) {
            out.emplace_back(name->get<std::string>(), value->get<std::string>());
        }
    }
    return out;
}

std::optional<std::string> header(const record::header_list& headers, std::string_view name) {
    const std::string* value = find_header(headers, name);
    return value != nullptr ? std::optional<std::string>(*value) : std::nullopt;
}

struct url_parts {
    bool secure = false;
    std::string authority; // host[:port]
    std::string target;    // path and query, "/" at least
};

url_parts split_url(const std::string& url) {
    url_parts out;
    std::string_view rest(url);
    for (const std::string_view scheme : {"wss://", "https://"}) {
        if (starts_with(rest, scheme)) {
            out.secure = true;
            rest.remove_prefix(scheme.size());
        }
    }
    for (const std::string_view scheme : {"ws://", "http://"}) {
        if (starts_with(rest, scheme)) {
            rest.remove_prefix(scheme.size());
        }
    }
    const auto slash = rest.find_first_of("/?");
    out.authority = std::string(rest.substr(0, slash));
    out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (out.target.front() == '?') {
        out.target.insert(0, "/");
    }
    const auto hash = out.target.find('#');
    if (hash != std::string::npos) {
        out.target.erase(hash);
    }
    return out;
}

// The port of "host:port" or "[v6]:port", else the scheme's.
std::string port_of(const url_parts& u) {
    const auto colon = u.authority.rfind(':');
    const auto bracket = u.authority.rfind(']');
    if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
        return u.authority.substr(colon + 1);
    }
    return u.secure ? "443" : "80";
}

// Chrome writes `time` in seconds since the epoch, Playwright in milliseconds: a value above
// 1e11 would be a time after the year 5000 in seconds, so it is taken as milliseconds.
record::timestamp from_har_time(double time) {
    const double seconds = time > 1e11 ? time / 1e3 : time;
    return record::timestamp(std::chrono::duration_cast<record::timestamp::duration>(
        std::chrono::microseconds(static_cast<std::int64_t>(std::llround(seconds * 1e6)))));
}

record::handshake handshake_of(const json& entry) {
    const json* request = member(entry, "request");
    const json* response = member(entry, "response");
    const url_parts url = split_url(entry_url(entry));

    record::handshake h;
    h.method = request != nullptr ? string_member(*request, "method") : std::string();
    if (h.method.empty()) {
        h.method = "GET";
    }
    h.target = url.target;
    h.request_headers = headers_of(request);
    h.response_headers = headers_of(response);
    const json* status = response != nullptr ? member(*response, "status") : nullptr;
    h.status = status != nullptr && status->is_number_integer() ? status->get<int>() : 101;

    const std::string server = string_member(entry, "serverIPAddress");
    if (!server.empty()) {
        const bool v6 = server.find(':') != std::string::npos;
        h.upstream = (v6 ? "[" + server + "]" : server) + ":" + port_of(url);
    }
    h.subprotocol = header(h.response_headers, "Sec-WebSocket-Protocol");
    h.extensions = header(h.response_headers, "Sec-WebSocket-Extensions");
    if (h.extensions) {
        const auto negotiated = handshake::parse_response_extensions(*h.extensions);
        if (negotiated.deflate) {
            const auto& d = *negotiated.deflate;
            h.deflate =
                record::deflate_record{d.server_no_context_takeover, d.client_no_context_takeover,
                                       d.server_max_window_bits, d.client_max_window_bits};
        }
    }
    return h;
}

} // namespace

std::string entry_url(const json& entry) {
    const json* request = member(entry, "request");
    return request != nullptr ? string_member(*request, "url") : std::string();
}

bool is_websocket_entry(const json& entry) {
    if (member(entry, "_webSocketMessages") != nullptr ||
        string_member(entry, "_resourceType") == "websocket") {
        return true;
    }
    const std::string url = entry_url(entry);
    return starts_with(url, "ws://") || starts_with(url, "wss://");
}

imported_entry import_entry(const json& entry, std::uint64_t conn) {
    imported_entry out;
    record::record handshake{conn, std::nullopt, handshake_of(entry)};
    if (const auto started = archive::parse_timestamp(string_member(entry, "startedDateTime"))) {
        // The request left at startedDateTime; the 101 came `timings.wait` later (0 when the
        // HAR does not say).
        auto& h = std::get<record::handshake>(handshake.body);
        h.request_ts = *started;
        handshake.ts = *started + wait_of(entry);
    }
    out.records.push_back(std::move(handshake));

    const json* messages = member(entry, "_webSocketMessages");
    if (messages == nullptr || !messages->is_array()) {
        return out;
    }
    std::array<std::uint64_t, 2> seq{};
    for (const json& m : *messages) {
        // DevTools' importer takes a message only with all four fields well typed.
        const std::string type = string_member(m, "type");
        const json* time = member(m, "time");
        const json* opcode = member(m, "opcode");
        const json* data = member(m, "data");
        if ((type != "send" && type != "receive") || time == nullptr || !time->is_number() ||
            opcode == nullptr || !opcode->is_number_integer() || data == nullptr ||
            !data->is_string()) {
            ++out.skipped_messages;
            continue;
        }
        const auto op = opcode->get<std::int64_t>();
        if (op >= 8 && op <= 10) {
            ++out.control_messages;
            continue;
        }
        record::message msg;
        msg.dir = type == "send" ? direction::c2s : direction::s2c;
        msg.opcode = static_cast<std::uint8_t>(op);
        msg.frames = 1;
        if (op == 1) {
            msg.data.encoding = record::payload_encoding::text;
            msg.data.bytes = data->get<std::string>();
            msg.data.valid_utf8 = true; // a JSON string, checked by the parser
        } else if (op == 2) {
            auto bytes = archive::decode_base64(data->get<std::string>());
            if (!bytes) {
                ++out.skipped_messages;
                continue;
            }
            msg.data.encoding = record::payload_encoding::base64;
            msg.data.bytes = std::move(*bytes);
        } else {
            ++out.skipped_messages;
            continue;
        }
        msg.len = msg.data.bytes.size();
        // What `har export` adds to a message it holds only part of.
        if (const json* t = member(m, "_wssniffTruncated"); t != nullptr && t->is_boolean()) {
            msg.data.truncated = t->get<bool>();
            const json* length = member(m, "_wssniffLength");
            if (msg.data.truncated && length != nullptr && length->is_number_unsigned()) {
                msg.len = std::max(msg.len, length->get<std::uint64_t>());
            }
        }
        msg.seq = seq[static_cast<std::size_t>(msg.dir)]++;
        out.records.push_back(
            record::record{conn, from_har_time(time->get<double>()), std::move(msg)});
    }
    return out;
}

} // namespace wssniff::har
