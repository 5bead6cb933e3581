#include "wssniff/inflate/inflater.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace wssniff::inflate {

struct inflater::stream {
    z_stream z{};
};

namespace {

// Where zlib writes; each piece goes to the handler before the next is inflated.
thread_local std::array<std::uint8_t, 16 * 1024> output_buffer;

} // namespace

inflater::inflater(bool no_context_takeover, inflate_limits limits)
    : z_(std::make_unique<stream>()), no_context_takeover_(no_context_takeover), limits_(limits) {
    // Always the largest window: a window at least as large as the compressor's inflates any
    // stream it produced, whatever max_window_bits said, and zlib rejects raw windows of 8 bits.
    if (inflateInit2(&z_->z, -15) != Z_OK) {
        throw std::runtime_error("zlib inflateInit2 failed");
    }
}

inflater::~inflater() {
    inflateEnd(&z_->z);
}

inflater::status inflater::run(bytes_view in, output_handler& out) {
    z_stream& z = z_->z;
    auto& buffer = output_buffer;
    z.next_in = const_cast<Bytef*>(in.data()); // zlib's API is not const-correct; it only reads
    z.avail_in = static_cast<uInt>(in.size());
    do {
        z.next_out = buffer.data();
        z.avail_out = static_cast<uInt>(buffer.size());
        const int rc = ::inflate(&z, Z_SYNC_FLUSH);
        const std::size_t produced = buffer.size() - z.avail_out;
        // Bytes zlib produced before it hit an error are delivered first: whether they come in
        // the same call as the error depends on how the input was split, and the records must
        // not.
        const bool failed = rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END;
        if (produced > 0) {
            // A message past the cap yields exactly its first max_message bytes: how many bytes
            // one call produces depends on how much input it had, and the records must not.
            const std::uint64_t room = limits_.max_message - message_out_;
            if (produced > room) {
                if (room > 0) {
                    message_out_ += room;
                    out.on_inflated(bytes_view{buffer.data(), static_cast<std::size_t>(room)});
                }
                problem_ =
                    "message inflates past " + std::to_string(limits_.max_message) + " bytes";
                return status::limit_exceeded;
            }
            message_out_ += produced;
            out.on_inflated(bytes_view{buffer.data(), produced});
        }
        if (failed) {
            problem_ = z.msg != nullptr ? z.msg : "inflate error " + std::to_string(rc);
            return status::corrupt;
        }
        if (rc == Z_STREAM_END) {
            // A final block (BFINAL) ends the DEFLATE stream; a sender may start the next
            // message with a fresh one (RFC 7692 §7.2.3.3).
            inflateReset(&z);
        }
        if (rc == Z_BUF_ERROR && produced == 0) {
            break; // needs more input
        }
    } while (z.avail_in > 0 || z.avail_out == 0);
    return status::ok;
}

inflater::status inflater::feed(bytes_view compressed, output_handler& out) {
    // Feed in bounded slices: avail_in is 32 bits.
    constexpr std::size_t slice = 1U << 30;
    for (std::size_t at = 0; at < compressed.size(); at += slice) {
        const status s = run(compressed.subview(at, std::min(slice, compressed.size() - at)), out);
        if (s != status::ok) {
            return s;
        }
    }
    return status::ok;
}

inflater::status inflater::end_message(output_handler& out) {
    static constexpr std::uint8_t tail[] = {0x00, 0x00, 0xff, 0xff};
    const status s = run(bytes_view{tail, sizeof tail}, out);
    message_out_ = 0;
    if (no_context_takeover_) {
        inflateReset(&z_->z);
    }
    return s;
}

} // namespace wssniff::inflate
