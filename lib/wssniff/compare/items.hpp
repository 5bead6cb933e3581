#pragma once
// A connection of an archive as the sequences a comparison walks: per direction the data
// messages and close frames (or every frame with --unit frames), the error codes, the
// handshake and the close record. Internal to the compare unit.

#include "wssniff/archive/connections.hpp"
#include "wssniff/compare/options.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace wssniff::compare {

struct item {
    std::uint8_t opcode = 1; // text, binary, close; with --unit frames any
    std::string payload;     // after --normalize for text
    bool text = false;       // the payload is text (a text message, or a frame shown as text)
    bool truncated = false;
    std::optional<std::uint16_t> close_code;
    std::optional<std::string> close_reason;
    // --unit frames only
    bool fin = true;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    bool masked = false;
    std::uint64_t len = 0;

    std::uint64_t index = 0;            // position in its direction's sequence
    std::uint64_t line = 0;             // archive line of the (last) record it came from
    std::uint64_t epoch = 0;            // client items before it in the connection
    std::optional<nlohmann::json> json; // the payload parsed, when it is a JSON object or array
    std::string key;                    // equal keys: the items compare equal
    std::size_t hash = 0;               // of key
};

struct error_item {
    std::string code;
    std::uint64_t index = 0;
    std::uint64_t line = 0;
};

struct connection_view {
    std::uint64_t conn = 0;
    const record::handshake* handshake = nullptr;
    std::uint64_t handshake_line = 0;
    std::array<std::vector<item>, 2> items;        // [c2s, s2c]
    std::array<std::vector<error_item>, 3> errors; // [c2s, s2c, no direction]
    std::optional<record::close_reason> close;
    std::uint64_t close_line = 0;
};

// The --normalize rules compiled into one rewrite of a text payload; empty when there are none.
// Throws std::invalid_argument when a rule does not compile.
std::function<void(std::string&)> make_normalizer(const options& o);

// Builds the view; `normalize` rewrites text payloads (may be null).
connection_view view_of(const archive::connection& c, const options& o,
                        const std::function<void(std::string&)>& normalize);

// The ignore entries that apply to payloads of `dir`.
std::vector<const json_ignore*> ignores_for(const options& o, direction dir);

// Fills item.key from the fields `o` compares (JSON with ignored values masked).
void make_key(item& it, const options& o, const std::vector<const json_ignore*>& ignores);

// Whether `path` matches the segments of `ig` ("*" matches any one token).
bool matches(const json_ignore& ig, const std::vector<std::string>& path);

json_type type_of(const nlohmann::json& v) noexcept;

// A value as JSON text (invalid UTF-8 replaced), and an item as JSON text.
std::string json_text(const nlohmann::json& v);
std::string string_text(const std::string& s);
std::string payload_text(const item& it);
std::string item_text(const item& it, const options& o);

} // namespace wssniff::compare
