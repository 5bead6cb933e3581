#include "wssniff/playback/message_deflater.hpp"

#include <zlib.h>

#include <stdexcept>

namespace wssniff::playback {

struct message_deflater::stream {
    z_stream z{};
};

message_deflater::message_deflater(std::uint8_t window_bits, bool no_context_takeover)
    : z_(std::make_unique<stream>()), no_context_takeover_(no_context_takeover) {
    // zlib refuses a raw window of 8 bits; 9 produces streams a window-8 inflater reads
    // (zlib's own note on deflateInit2), which is how every permessage-deflate client does it.
    const int bits = window_bits < 9 ? 9 : window_bits;
    if (deflateInit2(&z_->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        throw std::runtime_error("zlib could not start a deflate stream");
    }
}

message_deflater::~message_deflater() {
    deflateEnd(&z_->z);
}

std::string message_deflater::compress(std::string_view piece, bool final) {
    auto& z = z_->z;
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    z.avail_in = static_cast<uInt>(piece.size());
    char block[16 * 1024];
    do {
        z.next_out = reinterpret_cast<Bytef*>(block);
        z.avail_out = sizeof block;
        deflate(&z, Z_SYNC_FLUSH);
        out.append(block, sizeof block - z.avail_out);
    } while (z.avail_out == 0 || z.avail_in > 0);
    // Z_SYNC_FLUSH ends with an empty stored block, 00 00 ff ff, which the receiver adds back.
    if (!final) {
        return out;
    }
    if (out.size() >= 4 &&
        out.compare(out.size() - 4, 4, std::string("\x00\x00\xff\xff", 4)) == 0) {
        out.resize(out.size() - 4);
    }
    if (no_context_takeover_) {
        deflateReset(&z);
    }
    return out;
}

} // namespace wssniff::playback
