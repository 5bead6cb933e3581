#pragma once
// Incremental HTTP/1.1 head parser (RFC 9112 §2-5): start line and header fields, up to and
// including the empty line. Hand-written rather than websocketpp's parser because the handshake
// record promises header fields in wire order with duplicates kept, and websocketpp folds them
// into a sorted map.

#include "wssniff/base/bytes.hpp"
#include "wssniff/base/error_code.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wssniff::handshake {

using header_fields = std::vector<std::pair<std::string, std::string>>;

struct http_head {
    // Request line.
    std::string method;
    std::string target;
    // Status line.
    int status = 0;
    std::string reason;

    std::string version; // "HTTP/1.1"
    header_fields fields;

    // First field named `name` (case-insensitive), or nullptr.
    const std::string* find(std::string_view name) const noexcept;
    // All values of `name` joined as one comma-separated list (RFC 9110 §5.3).
    std::optional<std::string> joined(std::string_view name) const;
    // Whether the comma-separated list in field `name` has `token` (case-insensitive).
    bool has_token(std::string_view name, std::string_view token) const;
};

class head_parser {
  public:
    enum class kind : std::uint8_t { request, response };
    enum class status : std::uint8_t { need_more, done, failed };

    static constexpr std::size_t default_max_size = 64 * 1024;

    explicit head_parser(kind k, std::size_t max_size = default_max_size);

    // Consumes bytes up to and including the head's empty line and returns how many it took;
    // bytes after the head belong to whatever follows and are not consumed.
    std::size_t feed(bytes_view in);

    status state() const noexcept { return status_; }
    const http_head& head() const noexcept { return head_; }
    error_code error() const noexcept { return error_; }
    std::string_view error_detail() const noexcept { return detail_; }

    // Ready for the next head on the same connection.
    void reset() noexcept;
    // No more heads on this connection (it switched protocols, or is no longer HTTP): the last
    // head and the bytes it came in are let go, with their memory.
    void release() noexcept;

  private:
    bool parse();
    void fail(error_code code, std::string detail);

    kind kind_;
    std::size_t max_size_;
    status status_ = status::need_more;
    std::string buffer_;
    std::size_t line_start_ = 0;
    bool seen_start_line_ = false;
    bool first_byte_judged_ = false;
    http_head head_;
    error_code error_ = error_code::malformed_head;
    std::string detail_;
};

} // namespace wssniff::handshake
