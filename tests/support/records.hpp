#pragma once
// Test helpers: run bytes through a session and read the records back as JSON.

#include "wssniff/base/bytes.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/session/session.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace wssniff::test {

// A sink that keeps each record as its NDJSON line. Every line is also appended to the file
// named by WSSNIFF_RECORDS_OUT (when set), so the schema suite can validate all of them.
class ndjson_capture final : public record::sink {
  public:
    void write(record::record&& r) override;
    std::vector<std::string> lines;
    std::string text() const; // all lines joined
    std::vector<nlohmann::json> json() const;
};

// Bytes from a readable hex string; whitespace is ignored.
std::string unhex(std::string_view hex);

// Builds a frame as a peer would send it. `mask` empty: unmasked.
std::string frame(std::uint8_t first_byte, std::string_view payload, std::string_view mask = {});

// Runs `bytes` through a session with no handshake, as one direction, and returns the NDJSON.
std::string decode_frames(direction dir, std::string_view bytes,
                          session::session_options options = {}, std::size_t chunk = 0);

// Whole-connection helper: both directions through replay(), `chunk` bytes at a time.
std::string decode_connection(std::string_view c2s, std::string_view s2c,
                              session::session_options options = {}, std::size_t chunk = 0);

// The records of `ndjson` as JSON values.
std::vector<nlohmann::json> parse_lines(const std::string& ndjson);

// Records of one type.
std::vector<nlohmann::json> of_type(const std::string& ndjson, std::string_view type);

// The error codes in order.
std::vector<std::string> error_codes(const std::string& ndjson);

} // namespace wssniff::test
