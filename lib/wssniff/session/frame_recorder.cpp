#include "wssniff/session/frame_recorder.hpp"

#include "wssniff/decoder/opcode.hpp"
#include "wssniff/record/error_record.hpp"

namespace wssniff::session {

using record::payload_encoding;
using record::payload_mode;

namespace {

constexpr bool is(std::uint8_t raw, decoder::opcode op) noexcept {
    return raw == static_cast<std::uint8_t>(op);
}

// With no payload field to write, nothing is kept.
std::uint64_t kept_per_record(const session_options& options) noexcept {
    return options.payload == payload_mode::none ? 0 : options.max_payload;
}

} // namespace

record::payload make_payload(const session_options& options, std::string&& bytes,
                             std::uint64_t total, bool valid_text, bool stream_ended) {
    record::payload p;
    switch (options.payload) {
    case payload_mode::automatic:
        p.encoding = valid_text ? payload_encoding::text : payload_encoding::hex;
        break;
    case payload_mode::text: p.encoding = payload_encoding::text; break;
    case payload_mode::hex: p.encoding = payload_encoding::hex; break;
    case payload_mode::base64: p.encoding = payload_encoding::base64; break;
    case payload_mode::none: return p;
    }
    p.truncated = total > bytes.size() || stream_ended;
    if (p.encoding == payload_encoding::text && valid_text && total > bytes.size()) {
        // Cut where a character starts, so the kept text is valid on its own.
        bytes.resize(decoder::utf8_boundary(bytes_view{bytes}, bytes.size()));
    }
    p.valid_utf8 = valid_text;
    p.bytes = std::move(bytes);
    return p;
}

frame_recorder::frame_recorder(record_emitter& out, direction dir, const session_options& options,
                               std::optional<deflate_direction> deflate)
    : out_(out), dir_(dir), options_(options),
      frame_data_(options.budget.get(), options.emit_frames ? kept_per_record(options) : 0),
      message_data_(options.budget.get(), options.emit_messages ? kept_per_record(options) : 0) {
    if (out.selective()) {
        record::frame frame;
        frame.dir = dir;
        record::message message;
        message.dir = dir;
        heads_ = std::make_unique<heads>(heads{{options.conn, std::nullopt, std::move(frame)},
                                               {options.conn, std::nullopt, std::move(message)}});
    }
    deflate_negotiated_ = deflate.has_value();
    if (deflate && deflate->inflate) {
        inflater_.emplace(deflate->no_context_takeover,
                          inflate::inflate_limits{options.max_message});
    }
}

void frame_recorder::emit_error(error_code code, std::uint64_t offset, bool fatal,
                                std::string_view detail) {
    count_error(options_, code);
    out_.emit_record(record::make_error(code, detail, dir_, offset, fatal));
}

void frame_recorder::release() noexcept {
    frame_data_.release();
    message_data_.release();
    message_opcode_ = 0;
}

bool frame_recorder::frame_wanted(const decoder::frame_header& h) {
    if (!options_.emit_frames) {
        return false;
    }
    if (!heads_) { // made for a selective sink only
        return true;
    }
    auto& head = std::get<record::frame>(heads_->frame.body);
    head.seq = frames_;
    head.offset = h.offset;
    head.fin = h.fin;
    head.rsv1 = h.rsv1;
    head.rsv2 = h.rsv2;
    head.rsv3 = h.rsv3;
    head.opcode = h.opcode;
    head.masked = h.masked;
    head.mask = h.mask;
    head.len = h.payload_length;
    head.compressed = frame_inflated_;
    return out_.may_keep(heads_->frame);
}

bool frame_recorder::message_wanted(const decoder::frame_header& h) {
    if (!options_.emit_messages) {
        return false;
    }
    if (!heads_) { // made for a selective sink only
        return true;
    }
    auto& head = std::get<record::message>(heads_->message.body);
    head.seq = message_seq_;
    head.opcode = h.message_opcode;
    return out_.may_keep(heads_->message);
}

decoder::payload_delivery frame_recorder::on_frame_header(const decoder::frame_header& h) {
    frame_data_.release();
    frame_data_len_ = 0;
    frame_utf8_.reset();
    if (h.message_begins) {
        // A message still in progress here was abandoned (expected_continuation).
        message_data_.release();
        message_len_ = 0;
        message_frames_ = 0;
        message_opcode_ = h.message_opcode;
        message_utf8_.reset();
        message_utf8_reported_ = false;
        message_compressed_ =
            h.rsv1 && !is(h.opcode, decoder::opcode::continuation) && deflate_negotiated_;
        message_inflated_ = message_compressed_ && inflater_.has_value();
        message_judged_ = is(h.message_opcode, decoder::opcode::text) &&
                          (!message_compressed_ || message_inflated_);
        message_wanted_ = message_wanted(h);
    }
    // Every frame of a compressed message carries compressed data (RSV1 only on the first).
    frame_inflated_ = h.message_opcode != 0 && message_inflated_ && inflater_.has_value();
    frame_wanted_ = frame_wanted(h);
    // Binary data nobody will see needs no unmasking: no payload field is written (none asked,
    // or no record kept), binary is not validated, and only an inflater would read it. On large
    // frames this is most of what sniffing costs beyond forwarding.
    const bool payload_seen = options_.payload != payload_mode::none &&
                              (frame_wanted_ || (h.message_opcode != 0 && message_wanted_));
    frame_counted_only_ =
        !payload_seen && is(h.message_opcode, decoder::opcode::binary) && !message_compressed_;
    return frame_counted_only_ ? decoder::payload_delivery::length_only
                               : decoder::payload_delivery::bytes;
}

void frame_recorder::on_frame_payload(const decoder::frame_header& h, bytes_view data) {
    if (frame_inflated_) {
        if (!inflater_) {
            return; // inflation stopped inside this frame; the rest is not shown
        }
        header_ = &h;
        const auto status = inflater_->feed(data, *this);
        if (status != inflate::inflater::status::ok) {
            inflate_stopped(status, h);
        }
        return;
    }
    take(h, data, h.offset + h.header_size + frame_data_len_);
}

void frame_recorder::on_inflated(bytes_view data) {
    take(*header_, data, std::nullopt);
}

void frame_recorder::inflate_stopped(inflate::inflater::status status,
                                     const decoder::frame_header& h) {
    const error_code code = status == inflate::inflater::status::limit_exceeded
                                ? error_code::inflate_limit
                                : error_code::inflate_failed;
    emit_error(code, h.offset, false, inflater_->problem());
    inflater_.reset();
    // What was inflated so far is not the whole message.
    message_judged_ = false;
    message_inflated_ = false;
}

void frame_recorder::take(const decoder::frame_header& h, bytes_view data,
                          std::optional<std::uint64_t> wire_at) {
    if (frame_wanted_) {
        frame_data_.append(data);
    }
    frame_data_len_ += data.size();
    if (h.message_opcode == 0) {
        return;
    }
    if (message_judged_) {
        // A frame that is a whole message is judged by the message's validator alone.
        if (!(h.message_begins && h.message_ends)) {
            frame_utf8_.feed(data);
        }
        if (!message_utf8_reported_) {
            const std::size_t bad = message_utf8_.feed(data);
            if (bad != decoder::utf8_validator::npos) {
                message_utf8_reported_ = true;
                // Inflated bytes have no place on the wire: the frame's offset stands for them.
                emit_error(error_code::invalid_utf8, wire_at ? *wire_at + bad : h.offset);
            }
        }
    }
    message_len_ += data.size();
    if (message_wanted_) {
        message_data_.append(data);
    }
}

void frame_recorder::on_frame_end(const decoder::frame_header& h, const decoder::frame_end& end) {
    if (frame_counted_only_) {
        frame_data_len_ = end.payload_seen;
        message_len_ += end.payload_seen;
    }
    const bool message_complete = h.message_ends && !end.stream_ended;
    if (frame_inflated_ && message_complete && inflater_) {
        header_ = &h;
        const auto status = inflater_->end_message(*this);
        if (status != inflate::inflater::status::ok) {
            inflate_stopped(status, h);
        }
    }
    const bool text = is(h.message_opcode, decoder::opcode::text) && message_judged_;
    if (text && message_complete && !message_utf8_reported_ && !message_utf8_.complete()) {
        message_utf8_reported_ = true;
        emit_error(error_code::invalid_utf8,
                   frame_inflated_ ? h.offset : h.offset + h.header_size + h.payload_length);
    }
    ++frames_;
    if (frame_wanted_) {
        record::frame f;
        f.dir = dir_;
        f.seq = frames_ - 1;
        f.offset = h.offset;
        f.fin = h.fin;
        f.rsv1 = h.rsv1;
        f.rsv2 = h.rsv2;
        f.rsv3 = h.rsv3;
        f.opcode = h.opcode;
        f.masked = h.masked;
        f.mask = h.mask;
        f.len = h.payload_length;
        f.compressed = frame_inflated_;
        f.data_len = frame_data_len_;
        if (end.close_code) {
            f.close_code = end.close_code;
            // The decoder keeps the 125 bytes a valid close frame can have; a longer one (already
            // an error) shows its reason as far as the record keeps payload.
            f.close_reason = std::string(end.close_reason.chars());
        }
        std::string kept = frame_data_.take();
        if (end.close_code && h.payload_length > 125 && kept.size() > 2) {
            f.close_reason = kept.substr(2);
        }
        const bool valid_text = text && (h.message_begins && h.message_ends
                                             ? !message_utf8_reported_ && message_utf8_.complete()
                                             : frame_utf8_.complete());
        f.data =
            make_payload(options_, std::move(kept), frame_data_len_, valid_text, end.stream_ended);
        out_.emit_record(std::move(f));
    }
    frame_data_.release();
    if (h.message_opcode != 0) {
        ++message_frames_;
    }
    if (end.stream_ended && h.message_opcode != 0 && h.message_ends) {
        // The FIN fragment was cut: the decoder, which counts this message as ended at its
        // header, says the frame was cut; this says the message was. A message of one frame
        // is not a fragmented message: only its record says it was cut.
        message_cut(h.offset + h.header_size + end.payload_seen, !h.message_begins);
        return;
    }
    if (message_complete) {
        if (message_wanted_) {
            record::message m;
            m.dir = dir_;
            m.seq = message_seq_;
            m.opcode = h.message_opcode;
            m.frames = message_frames_;
            m.len = message_len_;
            m.compressed = message_inflated_;
            m.data = make_payload(options_, message_data_.take(), message_len_,
                                  text && message_utf8_.complete(), false);
            out_.emit_record(std::move(m));
        }
        message_data_.release();
        message_opcode_ = 0;
        ++message_seq_;
    }
}

void frame_recorder::message_cut(std::uint64_t offset, bool report) {
    if (report) {
        emit_error(error_code::stream_ended_mid_message, offset);
    }
    if (message_opcode_ == 0) {
        return;
    }
    if (message_wanted_) {
        record::message m;
        m.dir = dir_;
        m.seq = message_seq_;
        m.opcode = message_opcode_;
        m.frames = message_frames_;
        m.len = message_len_;
        m.compressed = message_inflated_;
        // What arrived is text if it is valid so far; it is cut where a character starts.
        const bool valid_text = is(message_opcode_, decoder::opcode::text) && message_judged_ &&
                                !message_utf8_.failed() && !message_utf8_reported_;
        std::string kept = message_data_.take();
        if (valid_text) {
            kept.resize(decoder::utf8_boundary(bytes_view{kept}, kept.size()));
        }
        m.data = make_payload(options_, std::move(kept), message_len_, valid_text, true);
        out_.emit_record(std::move(m));
    }
    message_data_.release();
    message_opcode_ = 0;
    ++message_seq_;
}

void frame_recorder::on_error(const decoder::decode_error& e) {
    if (e.code == error_code::stream_ended_mid_message) {
        message_cut(e.offset, true);
        return;
    }
    emit_error(e.code, e.offset, e.fatal);
}

} // namespace wssniff::session
