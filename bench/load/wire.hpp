// RFC 6455 framing and the upgrade handshake, cut down to what a load generator needs: frames
// are encoded once, up front, and the reader only has to keep up with a peer that sends what
// this program sends.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wssniff::load {

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA
};

// Fletcher-style sum over little-endian 64-bit words of the unmasked payload stream: a is the
// sum of the words, b the sum of the running a after each word, so a reordered, dropped or
// altered word changes b. Two sums over word-aligned pieces combine in O(1), which lets the
// sender account for a batch it writes again and again without touching its bytes.
class stream_checksum {
  public:
    void update(const std::uint8_t* data, std::size_t size);
    // Pads a trailing partial word with zeros; call once, after the last update.
    void finish();
    // Appends `next` as if its bytes had followed ours; both must end on a word boundary.
    void append(const stream_checksum& next);
    [[nodiscard]] std::uint64_t a() const { return a_; }
    [[nodiscard]] std::uint64_t b() const { return b_; }
    [[nodiscard]] std::uint64_t words() const { return words_; }
    [[nodiscard]] bool word_aligned() const { return carry_size_ == 0; }

  private:
    void add_word(std::uint64_t word) {
        a_ += word;
        b_ += a_;
        ++words_;
    }

    std::uint64_t a_ = 0;
    std::uint64_t b_ = 0;
    std::uint64_t words_ = 0;
    std::array<std::uint8_t, 8> carry_{};
    std::size_t carry_size_ = 0;
};

// Appends one frame: FIN set, RSV1 as given (permessage-deflate), masked with `mask_key` when
// `masked` (every client frame).
void append_frame(std::vector<std::uint8_t>& out, opcode op, bool rsv1, const std::uint8_t* payload,
                  std::size_t size, bool masked, std::uint32_t mask_key);

struct frame_header {
    bool fin = false;
    bool rsv1 = false;
    opcode op = opcode::continuation;
    bool masked = false;
    std::array<std::uint8_t, 4> mask_key{};
    std::uint64_t payload_length = 0;
    // The header as it arrived, mask key included: the sink sums these to tell a forwarder that
    // passes frames through from one that re-encodes them with the same payloads.
    std::array<std::uint8_t, 14> raw{};
    std::size_t raw_size = 0;
};

// Incremental frame reader. The handler receives unmasked payload in pieces:
//   void on_frame_header(const frame_header&);
//   void on_payload(const std::uint8_t* data, std::size_t size);
//   void on_frame_end(const frame_header&);
class frame_reader {
  public:
    template <typename Handler>
    void feed(const std::uint8_t* data, std::size_t size, Handler& handler);

  private:
    enum class state : std::uint8_t { header, payload };

    // Returns the header size once header_ holds a whole header, else 0.
    std::size_t parse_header();
    void unmask(const std::uint8_t* in, std::size_t size, std::uint8_t* out);

    state state_ = state::header;
    std::array<std::uint8_t, 14> header_bytes_{};
    std::size_t header_size_ = 0;
    frame_header header_;
    std::uint64_t payload_done_ = 0;
    // Allocated at the first masked payload: a client reading unmasked echoes never needs it,
    // and ten thousand idle 16 KiB buffers would be most of a chat run's memory.
    std::vector<std::uint8_t> scratch_;
};

template <typename Handler>
void frame_reader::feed(const std::uint8_t* data, std::size_t size, Handler& handler) {
    while (size > 0) {
        if (state_ == state::header) {
            // Take bytes one at a time only while the header is incomplete: at most 14 per frame.
            header_bytes_[header_size_++] = *data++;
            --size;
            if (parse_header() == 0)
                continue;
            header_size_ = 0;
            payload_done_ = 0;
            handler.on_frame_header(header_);
            if (header_.payload_length == 0) {
                handler.on_frame_end(header_);
                continue;
            }
            state_ = state::payload;
            continue;
        }
        const auto remaining = header_.payload_length - payload_done_;
        auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, size));
        if (header_.masked) {
            if (scratch_.empty())
                scratch_.resize(16 * 1024);
            std::size_t done = 0;
            while (done < take) {
                const auto piece = std::min(take - done, scratch_.size());
                unmask(data + done, piece, scratch_.data());
                handler.on_payload(scratch_.data(), piece);
                payload_done_ += piece;
                done += piece;
            }
        } else {
            handler.on_payload(data, take);
            payload_done_ += take;
        }
        data += take;
        size -= take;
        if (payload_done_ == header_.payload_length) {
            state_ = state::header;
            handler.on_frame_end(header_);
        }
    }
}

// The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 section 4.2.2).
std::string websocket_accept(std::string_view key);

// Value of header `name` (case-insensitive) in an HTTP head, or empty.
std::string header_value(std::string_view head, std::string_view name);

// Raw deflate of `in` as one permessage-deflate message without context takeover: the
// trailing 00 00 ff ff of the sync flush is removed (RFC 7692 section 7.2.1).
std::vector<std::uint8_t> deflate_message(const std::vector<std::uint8_t>& in);

// The reverse, for one short message (the sink's report, which mitmproxy compresses on its way
// back): at most `max_size` bytes, empty when the input is not a raw deflate message.
std::string inflate_message(const std::string& in, std::size_t max_size);

} // namespace wssniff::load
