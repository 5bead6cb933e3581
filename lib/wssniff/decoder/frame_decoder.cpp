#include "wssniff/decoder/frame_decoder.hpp"

#include "wssniff/decoder/close.hpp"
#include "wssniff/decoder/opcode.hpp"
#include "wssniff/decoder/utf8.hpp"

#include <algorithm>
#include <cstring>

namespace wssniff::decoder {

namespace {

// Total header size once the first two bytes are known.
std::uint8_t header_size_for(std::uint8_t b1) noexcept {
    std::uint8_t size = 2;
    const std::uint8_t len7 = b1 & 0x7F;
    if (len7 == 126) {
        size += 2;
    } else if (len7 == 127) {
        size += 8;
    }
    if ((b1 & 0x80) != 0) {
        size += 4;
    }
    return size;
}

} // namespace

frame_decoder::frame_decoder(frame_handler& handler, decoder_options options) noexcept
    : handler_(handler), options_(options) {}

void frame_decoder::error(error_code code, std::uint64_t offset, bool fatal) {
    handler_.on_error(decode_error{code, offset, fatal});
}

void frame_decoder::feed(bytes_view in) {
    std::size_t pos = 0;
    while (pos < in.size()) {
        switch (state_) {
        case state::header: {
            // Collect into the fixed header buffer: a header may arrive split anywhere.
            std::size_t want = header_have_ < 2 ? 2 : header_size_for(header_bytes_[1]);
            while (header_have_ < want && pos < in.size()) {
                header_bytes_[header_have_++] = in[pos++];
                if (header_have_ == 2) {
                    want = header_size_for(header_bytes_[1]);
                }
            }
            if (header_have_ < want) {
                break; // header bytes are counted into offset_ when the frame begins
            }
            begin_frame();
            break;
        }
        case state::payload: {
            const std::size_t take = static_cast<std::size_t>(
                std::min<std::uint64_t>(payload_remaining_, in.size() - pos));
            const bytes_view wire = in.subview(pos, take);
            const std::uint64_t done = header_.payload_length - payload_remaining_;
            if (!deliver_payload_) {
                // Counted only: nothing to unmask or hand out.
            } else if (!header_.masked) {
                if (is_control(header_.opcode) && control_have_ < control_payload_.size()) {
                    const std::size_t keep =
                        std::min(take, control_payload_.size() - control_have_);
                    std::memcpy(control_payload_.data() + control_have_, wire.data(), keep);
                    control_have_ += keep;
                }
                handler_.on_frame_payload(header_, wire);
            } else {
                // Unmask into our own buffer in pieces; the forwarded bytes stay untouched.
                std::size_t piece_at = 0;
                while (piece_at < take) {
                    const std::size_t piece = std::min(take - piece_at, unmasked_size);
                    if (piece > unmasked_capacity_) {
                        // Grown to the largest piece so far, in powers of two: a connection
                        // of small messages keeps a small buffer.
                        std::size_t grown = unmasked_min_size;
                        while (grown < piece) {
                            grown *= 2;
                        }
                        unmasked_capacity_ = grown;
                        unmasked_.reset(new std::uint8_t[unmasked_capacity_]);
                    }
                    unmask(unmasked_.get(), wire.data() + piece_at, piece, header_.mask,
                           static_cast<std::size_t>((done + piece_at) & 3));
                    if (is_control(header_.opcode) && control_have_ < control_payload_.size()) {
                        const std::size_t keep =
                            std::min(piece, control_payload_.size() - control_have_);
                        std::memcpy(control_payload_.data() + control_have_, unmasked_.get(), keep);
                        control_have_ += keep;
                    }
                    handler_.on_frame_payload(header_, bytes_view{unmasked_.get(), piece});
                    piece_at += piece;
                }
            }
            pos += take;
            offset_ += take;
            payload_remaining_ -= take;
            if (payload_remaining_ == 0) {
                end_frame(false);
            }
            break;
        }
        case state::failed:
        case state::finished:
            // Nothing more is decoded in this direction; the bytes are still counted.
            offset_ += in.size() - pos;
            return;
        }
    }
}

void frame_decoder::begin_frame() {
    const std::uint8_t b0 = header_bytes_[0];
    const std::uint8_t b1 = header_bytes_[1];
    frame_header h;
    h.offset = offset_;
    h.header_size = header_have_;
    h.fin = (b0 & 0x80) != 0;
    h.rsv1 = (b0 & 0x40) != 0;
    h.rsv2 = (b0 & 0x20) != 0;
    h.rsv3 = (b0 & 0x10) != 0;
    h.opcode = b0 & 0x0F;
    h.masked = (b1 & 0x80) != 0;

    const std::uint8_t len7 = b1 & 0x7F;
    std::size_t at = 2;
    bool non_minimal = false;
    if (len7 == 126) {
        h.payload_length = (std::uint64_t{header_bytes_[2]} << 8) | header_bytes_[3];
        non_minimal = h.payload_length < 126;
        at = 4;
    } else if (len7 == 127) {
        std::uint64_t len = 0;
        for (std::size_t i = 2; i < 10; ++i) {
            len = (len << 8) | header_bytes_[i];
        }
        h.payload_length = len;
        non_minimal = len <= 0xFFFF;
        at = 10;
    } else {
        h.payload_length = len7;
    }
    if (h.masked) {
        std::memcpy(h.mask.data(), header_bytes_.data() + at, 4);
    }
    offset_ += header_have_;
    header_have_ = 0;

    // A 63-bit length cannot be real traffic and no later frame boundary can be trusted.
    if ((h.payload_length >> 63) != 0) {
        error(error_code::length_top_bit_set, h.offset, true);
        state_ = state::failed;
        return;
    }

    // Where the frame belongs in the message sequence; rule checks follow in header order.
    const bool control = is_control(h.opcode);
    const bool reserved = is_reserved(h.opcode);
    if (reserved) {
        error(error_code::reserved_opcode, h.offset);
    }
    if (options_.rsv_defined_by_extension) {
        // Not ours to judge.
    } else if (h.rsv2 || h.rsv3 || (h.rsv1 && !options_.rsv1_allowed)) {
        error(error_code::reserved_bits, h.offset);
    } else if (h.rsv1 && control) {
        error(error_code::rsv1_on_control, h.offset);
    } else if (h.rsv1 && h.opcode == opcode::continuation) {
        error(error_code::rsv1_on_continuation, h.offset);
    }
    if (control && h.payload_length > 125) {
        error(error_code::control_frame_too_long, h.offset);
    }
    if (control && !h.fin) {
        error(error_code::control_frame_fragmented, h.offset);
    }
    if (non_minimal) {
        error(error_code::non_minimal_length, h.offset);
    }
    if (options_.dir == direction::c2s && !h.masked) {
        error(error_code::unmasked_client_frame, h.offset);
    } else if (options_.dir == direction::s2c && h.masked) {
        error(error_code::masked_server_frame, h.offset);
    }
    if (close_seen_) {
        error(error_code::frame_after_close, h.offset);
    }

    if (h.opcode == opcode::continuation) {
        if (message_opcode_ == 0) {
            error(error_code::unexpected_continuation, h.offset);
        } else {
            h.message_opcode = message_opcode_;
            h.message_ends = h.fin;
        }
    } else if (is_message_start(h.opcode)) {
        if (message_opcode_ != 0) {
            // The message in progress is abandoned; this frame starts a new one.
            error(error_code::expected_continuation, h.offset);
        }
        h.message_opcode = h.opcode;
        h.message_begins = true;
        h.message_ends = h.fin;
    }
    if (h.message_opcode != 0) {
        message_opcode_ = h.message_ends ? 0 : h.message_opcode;
    }

    header_ = h;
    payload_remaining_ = h.payload_length;
    control_have_ = 0;
    state_ = state::payload;
    deliver_payload_ =
        handler_.on_frame_header(header_) == payload_delivery::bytes || is_control(header_.opcode);
    if (payload_remaining_ == 0) {
        end_frame(false);
    }
}

void frame_decoder::check_close_payload(frame_end& end) {
    const std::size_t have = control_have_;
    if (header_.payload_length == 1) {
        error(error_code::close_payload_one_byte, header_.offset);
        return;
    }
    if (have < 2) {
        return;
    }
    const auto code = static_cast<std::uint16_t>((control_payload_[0] << 8) | control_payload_[1]);
    end.close_code = code;
    end.close_reason = bytes_view{control_payload_.data() + 2, have - 2};
    if (end.stream_ended) {
        return; // a partial close frame: report what arrived, judge nothing
    }
    if (!is_valid_close_code(code)) {
        error(error_code::invalid_close_code, header_.offset);
    }
    if (header_.payload_length <= control_payload_.size() && !is_valid_utf8(end.close_reason)) {
        error(error_code::invalid_close_reason, header_.offset);
    }
}

void frame_decoder::end_frame(bool stream_ended) {
    frame_end end;
    end.stream_ended = stream_ended;
    end.payload_seen = header_.payload_length - payload_remaining_;
    if (header_.opcode == opcode::close) {
        check_close_payload(end);
        close_seen_ = true;
    }
    if (stream_ended) {
        error(error_code::stream_ended_mid_frame, header_.offset);
    }
    state_ = state::header;
    handler_.on_frame_end(header_, end);
}

void frame_decoder::finish() {
    switch (state_) {
    case state::header:
        if (header_have_ != 0) {
            // Not even the header is complete: there is no frame to record, only the loss.
            error(error_code::stream_ended_mid_frame, offset_);
            offset_ += header_have_;
            header_have_ = 0;
        }
        break;
    case state::payload: end_frame(true); break;
    case state::failed:
    case state::finished: return;
    }
    if (message_opcode_ != 0) {
        error(error_code::stream_ended_mid_message, offset_);
        message_opcode_ = 0;
    }
    state_ = state::finished;
}

} // namespace wssniff::decoder
