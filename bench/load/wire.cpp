#include "wire.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

namespace wssniff::load {

void stream_checksum::update(const std::uint8_t* data, std::size_t size) {
    if (carry_size_ > 0) {
        const auto take = std::min(size, carry_.size() - carry_size_);
        std::memcpy(carry_.data() + carry_size_, data, take);
        carry_size_ += take;
        data += take;
        size -= take;
        if (carry_size_ < carry_.size())
            return;
        std::uint64_t word = 0;
        std::memcpy(&word, carry_.data(), sizeof word);
        add_word(word);
        carry_size_ = 0;
    }
    // Locals rather than members: the compiler keeps them in registers across the loop.
    auto a = a_;
    auto b = b_;
    const auto words = size / 8;
    for (std::size_t i = 0; i < words; ++i) {
        std::uint64_t word = 0;
        std::memcpy(&word, data + i * 8, sizeof word);
        a += word;
        b += a;
    }
    a_ = a;
    b_ = b;
    words_ += words;
    carry_size_ = size - words * 8;
    std::memcpy(carry_.data(), data + words * 8, carry_size_);
}

void stream_checksum::finish() {
    if (carry_size_ == 0)
        return;
    std::fill(carry_.begin() + static_cast<std::ptrdiff_t>(carry_size_), carry_.end(),
              std::uint8_t{0});
    std::uint64_t word = 0;
    std::memcpy(&word, carry_.data(), sizeof word);
    add_word(word);
    carry_size_ = 0;
}

void stream_checksum::append(const stream_checksum& next) {
    b_ += next.b_ + a_ * next.words_;
    a_ += next.a_;
    words_ += next.words_;
}

void append_frame(std::vector<std::uint8_t>& out, opcode op, bool rsv1, const std::uint8_t* payload,
                  std::size_t size, bool masked, std::uint32_t mask_key) {
    out.push_back(
        static_cast<std::uint8_t>(0x80U | (rsv1 ? 0x40U : 0U) | static_cast<unsigned>(op)));
    const std::uint8_t mask_bit = masked ? 0x80 : 0x00;
    if (size < 126) {
        out.push_back(static_cast<std::uint8_t>(mask_bit | size));
    } else if (size <= 0xFFFF) {
        out.push_back(mask_bit | 126);
        out.push_back(static_cast<std::uint8_t>(size >> 8));
        out.push_back(static_cast<std::uint8_t>(size));
    } else {
        out.push_back(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(size) >> shift));
        }
    }
    std::array<std::uint8_t, 4> key{};
    if (masked) {
        std::memcpy(key.data(), &mask_key, key.size());
        out.insert(out.end(), key.begin(), key.end());
    }
    const auto start = out.size();
    out.insert(out.end(), payload, payload + size);
    if (masked) {
        for (std::size_t i = 0; i < size; ++i)
            out[start + i] ^= key[i % 4];
    }
}

std::size_t frame_reader::parse_header() {
    if (header_size_ < 2)
        return 0;
    const auto b0 = header_bytes_[0];
    const auto b1 = header_bytes_[1];
    const bool masked = (b1 & 0x80U) != 0;
    const unsigned length7 = b1 & 0x7FU;
    const std::size_t length_size = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    const std::size_t needed = 2 + length_size + (masked ? 4 : 0);
    if (header_size_ < needed)
        return 0;
    header_.fin = (b0 & 0x80U) != 0;
    header_.rsv1 = (b0 & 0x40U) != 0;
    header_.op = static_cast<opcode>(b0 & 0x0FU);
    header_.masked = masked;
    std::uint64_t length = length7;
    if (length_size > 0) {
        length = 0;
        for (std::size_t i = 0; i < length_size; ++i)
            length = (length << 8) | header_bytes_[2 + i];
    }
    header_.payload_length = length;
    if (masked)
        std::memcpy(header_.mask_key.data(), header_bytes_.data() + 2 + length_size, 4);
    header_.raw = header_bytes_;
    header_.raw_size = needed;
    return needed;
}

void frame_reader::unmask(const std::uint8_t* in, std::size_t size, std::uint8_t* out) {
    // The key rotates with the payload offset, which a read boundary can leave anywhere.
    std::array<std::uint8_t, 8> key8{};
    for (std::size_t i = 0; i < key8.size(); ++i) {
        key8[i] = header_.mask_key[(payload_done_ + i) % 4];
    }
    std::uint64_t key = 0;
    std::memcpy(&key, key8.data(), sizeof key);
    const auto words = size / 8;
    for (std::size_t i = 0; i < words; ++i) {
        std::uint64_t word = 0;
        std::memcpy(&word, in + i * 8, sizeof word);
        word ^= key;
        std::memcpy(out + i * 8, &word, sizeof word);
    }
    for (std::size_t i = words * 8; i < size; ++i)
        out[i] = in[i] ^ key8[i % 8];
}

std::string websocket_accept(std::string_view key) {
    std::string input(key);
    input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
    std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> encoded{};
    const int n = EVP_EncodeBlock(encoded.data(), digest.data(), SHA_DIGEST_LENGTH);
    return {reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n)};
}

std::string header_value(std::string_view head, std::string_view name) {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        const auto start = pos + 2;
        const auto end = head.find("\r\n", start);
        const auto line = head.substr(start, end == std::string_view::npos ? std::string_view::npos
                                                                           : end - start);
        const auto colon = line.find(':');
        if (colon == name.size() &&
            std::equal(name.begin(), name.end(), line.begin(), [](char x, char y) {
                return std::tolower(static_cast<unsigned char>(x)) ==
                       std::tolower(static_cast<unsigned char>(y));
            })) {
            auto value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.remove_suffix(1);
            return std::string(value);
        }
        pos = end;
    }
    return {};
}

std::vector<std::uint8_t> deflate_message(const std::vector<std::uint8_t>& in) {
    z_stream stream{};
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        throw std::runtime_error("deflateInit2 failed");
    }
    std::vector<std::uint8_t> out(deflateBound(&stream, static_cast<uLong>(in.size())) + 16);
    stream.next_in = const_cast<Bytef*>(in.data());
    stream.avail_in = static_cast<uInt>(in.size());
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&stream, Z_SYNC_FLUSH);
    const auto produced = out.size() - stream.avail_out;
    deflateEnd(&stream);
    if (rc != Z_OK || stream.avail_in != 0 || produced < 4)
        throw std::runtime_error("deflate failed");
    out.resize(produced - 4);
    return out;
}

std::string inflate_message(const std::string& in, std::size_t max_size) {
    z_stream stream{};
    if (inflateInit2(&stream, -15) != Z_OK)
        throw std::runtime_error("inflateInit2 failed");
    std::string input = in + std::string("\x00\x00\xff\xff", 4);
    std::string out(max_size, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(input.data());
    stream.avail_in = static_cast<uInt>(input.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&stream, Z_SYNC_FLUSH);
    out.resize(out.size() - stream.avail_out);
    inflateEnd(&stream);
    return rc == Z_OK || rc == Z_STREAM_END ? out : std::string();
}

} // namespace wssniff::load
