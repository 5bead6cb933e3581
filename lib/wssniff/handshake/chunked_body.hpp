#pragma once
// Incremental, sans-I/O reader of a chunked message body (RFC 9112 §7.1): hex chunk sizes with
// optional extensions, chunk data, the last chunk, trailer fields and the final empty line.
// It only delimits: data bytes are counted past in bulk, never kept, and a chunk size is a
// number to count down, never an allocation size. Lines (a size line, a trailer field) are
// bounded, and so is the trailer section, so a peer cannot keep it reading one line forever.

#include "wssniff/base/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wssniff::handshake {

class chunked_body {
  public:
    enum class status : std::uint8_t { in_body, done, failed };

    static constexpr std::size_t default_max_line = 4096;
    static constexpr std::size_t default_max_trailers = 64 * 1024;

    explicit chunked_body(std::size_t max_line = default_max_line,
                          std::size_t max_trailers = default_max_trailers) noexcept
        : max_line_(max_line), max_trailers_(max_trailers) {}

    // Consumes body bytes and returns how many it took: all of `in`, or up to and including
    // the body's last byte (done), or up to the byte that broke the rules (failed).
    std::size_t feed(bytes_view in);

    status state() const noexcept;
    // After failed: what was wrong, in one phrase.
    std::string_view problem() const noexcept { return problem_; }

  private:
    enum class step : std::uint8_t {
        size,          // hex digits of the chunk size
        size_space,    // whitespace after the size, before ";" (BWS)
        size_line,     // chunk extensions up to the line end
        data,          // chunk data
        data_end,      // the CRLF after chunk data
        data_end_lf,   // its LF after the CR
        trailer_start, // a trailer field line, or the final empty line
        trailer_line,  // the rest of a trailer field line
        final_lf,      // the LF of the final empty line after its CR
        done,
        failed,
    };

    std::size_t fail(std::size_t at, std::string problem);

    std::size_t max_line_;
    std::size_t max_trailers_;
    step step_ = step::size;
    std::uint64_t size_ = 0;        // the chunk size being read, then the data left of it
    std::size_t size_digits_ = 0;   // significant hex digits so far
    bool any_digit_ = false;        // at least one hex digit (leading zeros included)
    bool line_cr_ = false;          // the line in progress has just seen a CR
    std::size_t line_length_ = 0;   // bytes of the line in progress
    std::size_t trailer_bytes_ = 0; // of the trailer section so far
    std::string problem_;
};

} // namespace wssniff::handshake
