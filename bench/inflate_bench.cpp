// permessage-deflate, receiving side: one direction's messages inflated by zlib (raw inflate,
// driven as wssniff's inflater drives it), by Intel ISA-L's isal_inflate (raw, its history kept
// across calls; only where libisal is found), by libdeflate (whole messages, so only without
// context takeover; only where libdeflate is found), and by wssniff's own inflater, beside a memcpy
// of the inflated bytes. The same compressed stream for all: JSON-like chat text or half-random
// binary, 1 KiB or 64 KiB messages, a sender's window of 15 or 10 bits, context takeover on or
// off. Each engine first inflates the whole stream once and must give back every message sent.

#include "client_frames.hpp"

#include "wssniff/inflate/inflater.hpp"

#include <benchmark/benchmark.h>
#include <zlib.h>
#if WSSNIFF_BENCH_ISAL
#include <isa-l/igzip_lib.h>
#endif
#if WSSNIFF_BENCH_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <array>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace wssniff;

struct stream_case {
    std::string plain_kind; // "chat" or "binary"
    std::size_t message_size;
    int window_bits;
    bool no_context_takeover;
};

// What one direction carried: messages as sent, and as compressed (tail removed).
struct deflate_stream {
    std::vector<std::string> plain;
    std::vector<std::string> compressed;
    std::size_t plain_bytes = 0;
    std::size_t compressed_bytes = 0;
};

// Half the bytes random, half from 16 values: compresses to about 60%, like binary protocols.
std::string binary_bytes(std::size_t n, std::uint32_t seed) {
    std::string out = bench::random_bytes(n, seed);
    for (std::size_t i = 0; i < out.size(); i += 2) {
        out[i] = static_cast<char>(out[i] & 0x0f);
    }
    return out;
}

// Chat text that differs from message to message (the ids and a counter), so context takeover
// helps as it does in a real chat and does not reduce each message to one back-reference.
std::string chat_message(std::size_t n, std::size_t index) {
    std::string out = bench::chat_text(n);
    const std::string stamp = std::to_string(index * 2654435761U % 1000000007U);
    for (std::size_t at = 0; at + 80 < out.size(); at += 97) {
        out.replace(at + 60, stamp.size(), stamp);
    }
    return out;
}

deflate_stream make_stream(const stream_case& c) {
    deflate_stream s;
    const std::size_t count = bench::frames_for(c.message_size);
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -c.window_bits, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return s;
    }
    for (std::size_t i = 0; i < count; ++i) {
        std::string message = c.plain_kind == "chat"
                                  ? chat_message(c.message_size, i)
                                  : binary_bytes(c.message_size, static_cast<std::uint32_t>(i));
        std::string out(deflateBound(&z, message.size()) + 16, '\0');
        z.next_in = reinterpret_cast<Bytef*>(message.data());
        z.avail_in = static_cast<uInt>(message.size());
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        deflate(&z, Z_SYNC_FLUSH);
        out.resize(out.size() - z.avail_out - 4); // RFC 7692 §7.2.1: drop 00 00 ff ff
        if (c.no_context_takeover) {
            deflateReset(&z);
        }
        s.plain_bytes += message.size();
        s.compressed_bytes += out.size();
        s.plain.push_back(std::move(message));
        s.compressed.push_back(std::move(out));
    }
    deflateEnd(&z);
    return s;
}

constexpr std::uint8_t tail[] = {0x00, 0x00, 0xff, 0xff};

// Receives inflated bytes; checks them against what was sent when asked to.
class sink final : public inflate::output_handler {
  public:
    void on_inflated(bytes_view data) override {
        bytes += data.size();
        benchmark::DoNotOptimize(data.data());
        if (keep) {
            kept.append(data.chars());
        }
    }
    std::uint64_t bytes = 0;
    bool keep = false;
    std::string kept;
};

// zlib as wssniff's inflater drove it: raw inflate, Z_SYNC_FLUSH into a 16 KiB buffer.
class zlib_engine {
  public:
    explicit zlib_engine(bool reset) : reset_(reset) { inflateInit2(&z_, -15); }
    ~zlib_engine() { inflateEnd(&z_); }
    zlib_engine(const zlib_engine&) = delete;
    zlib_engine& operator=(const zlib_engine&) = delete;

    bool message(const std::string& compressed, sink& out) {
        const bool ok = run(bytes_view{compressed}, out) && run(bytes_view{tail, 4}, out);
        if (reset_) {
            inflateReset(&z_);
        }
        return ok;
    }

  private:
    bool run(bytes_view in, sink& out) {
        z_.next_in = const_cast<Bytef*>(in.data());
        z_.avail_in = static_cast<uInt>(in.size());
        do {
            z_.next_out = buffer_.data();
            z_.avail_out = static_cast<uInt>(buffer_.size());
            const int rc = ::inflate(&z_, Z_SYNC_FLUSH);
            const std::size_t produced = buffer_.size() - z_.avail_out;
            if (produced > 0) {
                out.on_inflated(bytes_view{buffer_.data(), produced});
            }
            if (rc != Z_OK && rc != Z_BUF_ERROR) {
                return false;
            }
            if (rc == Z_BUF_ERROR && produced == 0) {
                break;
            }
        } while (z_.avail_in > 0 || z_.avail_out == 0);
        return true;
    }

    z_stream z_{};
    bool reset_;
    std::array<std::uint8_t, 16 * 1024> buffer_{};
};

#if WSSNIFF_BENCH_ISAL
// ISA-L: raw DEFLATE (crc_flag ISAL_DEFLATE), the largest history (hist_bits 0). isal_inflate
// keeps the last 32 KiB it produced in the state's tmp_out_buffer between calls, so a stream
// fed a message at a time needs nothing more; no_context_takeover is isal_inflate_reset. The
// price: every call that returns mid-stream moves those 32 KiB (memmove), however little it
// produced, and each message takes two calls (its bytes, then the 00 00 ff ff tail).
class isal_engine {
  public:
    isal_engine(bool reset, std::size_t buffer_size)
        : state_(std::make_unique<inflate_state>()), reset_(reset), buffer_(buffer_size) {
        isal_inflate_init(state_.get());
        state_->crc_flag = ISAL_DEFLATE;
        state_->hist_bits = 0;
    }

    bool message(const std::string& compressed, sink& out) {
        const bool ok = run(bytes_view{compressed}, out) && run(bytes_view{tail, 4}, out);
        if (reset_) {
            isal_inflate_reset(state_.get());
        }
        return ok;
    }

  private:
    bool run(bytes_view in, sink& out) {
        inflate_state& s = *state_;
        s.next_in = const_cast<std::uint8_t*>(in.data());
        s.avail_in = static_cast<std::uint32_t>(in.size());
        do {
            s.next_out = buffer_.data();
            s.avail_out = static_cast<std::uint32_t>(buffer_.size());
            const int rc = isal_inflate(&s);
            const std::size_t produced = buffer_.size() - s.avail_out;
            if (produced > 0) {
                out.on_inflated(bytes_view{buffer_.data(), produced});
            }
            if (rc < 0) {
                return false;
            }
        } while (s.avail_in > 0 || s.avail_out == 0);
        return true;
    }

    std::unique_ptr<inflate_state> state_;
    bool reset_;
    std::vector<std::uint8_t> buffer_;
};
#endif

#if WSSNIFF_BENCH_LIBDEFLATE
// libdeflate: whole buffers only, and no preset dictionary, so it can stand in for zlib only
// where every message starts afresh (no_context_takeover) and is at hand whole. The message is
// completed to a stream libdeflate accepts: the removed 00 00 ff ff back (ending the empty
// stored block the sender's Z_SYNC_FLUSH began), then an empty final block (03 00). The copy
// that takes is part of what is measured: the inflater would have to make it too.
class libdeflate_engine {
  public:
    explicit libdeflate_engine(bool) : d_(libdeflate_alloc_decompressor()), buffer_(256 * 1024) {}
    ~libdeflate_engine() { libdeflate_free_decompressor(d_); }
    libdeflate_engine(const libdeflate_engine&) = delete;
    libdeflate_engine& operator=(const libdeflate_engine&) = delete;

    bool message(const std::string& compressed, sink& out) {
        whole_.assign(compressed);
        whole_.append("\x00\x00\xff\xff\x03\x00", 6);
        std::size_t used = 0;
        std::size_t produced = 0;
        if (libdeflate_deflate_decompress_ex(d_, whole_.data(), whole_.size(), buffer_.data(),
                                             buffer_.size(), &used,
                                             &produced) != LIBDEFLATE_SUCCESS) {
            return false;
        }
        out.on_inflated(bytes_view{buffer_.data(), produced});
        return true;
    }

  private:
    libdeflate_decompressor* d_;
    std::string whole_;
    std::vector<std::uint8_t> buffer_;
};
#endif

class wssniff_engine {
  public:
    explicit wssniff_engine(bool reset) : z_(reset, inflate::inflate_limits{}) {}
    bool message(const std::string& compressed, sink& out) {
        return z_.feed(bytes_view{compressed}, out) == inflate::inflater::status::ok &&
               z_.end_message(out) == inflate::inflater::status::ok;
    }

  private:
    inflate::inflater z_;
};

template <typename Engine> bool inflates_correctly(Engine& engine, const deflate_stream& s) {
    for (std::size_t i = 0; i < s.plain.size(); ++i) {
        sink out;
        out.keep = true;
        if (!engine.message(s.compressed[i], out) || out.kept != s.plain[i]) {
            return false;
        }
    }
    return true;
}

template <typename MakeEngine>
void run_inflate(benchmark::State& state, const stream_case& c, MakeEngine make_engine) {
    const deflate_stream s = make_stream(c);
    {
        auto check = make_engine(c.no_context_takeover);
        if (s.plain.empty() || !inflates_correctly(*check, s)) {
            state.SkipWithError("the stream did not inflate to the messages sent");
            return;
        }
    }
    auto engine = make_engine(c.no_context_takeover);
    sink out;
    for (auto _ : state) {
        for (const std::string& m : s.compressed) {
            engine->message(m, out);
        }
    }
    if (out.bytes != s.plain_bytes * static_cast<std::uint64_t>(state.iterations())) {
        state.SkipWithError("inflated byte count differs from the bytes sent");
        return;
    }
    // Bytes/s counts inflated bytes; the wire rate is beside it.
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.plain_bytes));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.plain.size()));
    state.counters["compressed_bytes_per_second"] = benchmark::Counter(
        static_cast<double>(s.compressed_bytes) * static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
    state.counters["ratio"] =
        static_cast<double>(s.compressed_bytes) / static_cast<double>(s.plain_bytes);
}

// The baseline: copy the inflated bytes, message by message, into a buffer.
void inflate_memcpy(benchmark::State& state, std::size_t message_size) {
    const deflate_stream s = make_stream({"chat", message_size, 15, false});
    std::vector<char> to(message_size);
    for (auto _ : state) {
        for (const std::string& m : s.plain) {
            std::memcpy(to.data(), m.data(), m.size());
            benchmark::DoNotOptimize(to.data());
            benchmark::ClobberMemory();
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.plain_bytes));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.plain.size()));
}

std::string size_name(std::size_t n) {
    return n >= 1024 ? std::to_string(n / 1024) + "KiB" : std::to_string(n) + "B";
}

// inflate_<engine>/<text|binary>_<size>_w<bits>_<takeover|reset>
const bool registered = [] {
    for (const std::size_t size : {std::size_t{1024}, std::size_t{64 * 1024}}) {
        benchmark::RegisterBenchmark(("inflate_memcpy/" + size_name(size)).c_str(), inflate_memcpy,
                                     size);
        for (const char* kind : {"chat", "binary"}) {
            for (const int bits : {15, 10}) {
                for (const bool reset : {false, true}) {
                    const stream_case c{kind, size, bits, reset};
                    const std::string name = std::string(kind) + "_" + size_name(size) + "_w" +
                                             std::to_string(bits) +
                                             (reset ? "_reset" : "_takeover");
                    benchmark::RegisterBenchmark(
                        ("inflate_zlib/" + name).c_str(), [c](benchmark::State& st) {
                            run_inflate(st, c,
                                        [](bool r) { return std::make_unique<zlib_engine>(r); });
                        });
#if WSSNIFF_BENCH_ISAL
                    // The output buffer the inflater has (16 KiB), and one that lets
                    // isal_inflate decode straight into it more often (64 KiB).
                    for (const std::size_t buffer :
                         {std::size_t{16 * 1024}, std::size_t{64 * 1024}}) {
                        benchmark::RegisterBenchmark(
                            ("inflate_isal" + size_name(buffer) + "/" + name).c_str(),
                            [c, buffer](benchmark::State& st) {
                                run_inflate(st, c, [buffer](bool r) {
                                    return std::make_unique<isal_engine>(r, buffer);
                                });
                            });
                    }
#endif
#if WSSNIFF_BENCH_LIBDEFLATE
                    if (reset) {
                        benchmark::RegisterBenchmark(
                            ("inflate_libdeflate/" + name).c_str(), [c](benchmark::State& st) {
                                run_inflate(st, c, [](bool r) {
                                    return std::make_unique<libdeflate_engine>(r);
                                });
                            });
                    }
#endif
                    benchmark::RegisterBenchmark(
                        ("inflate_wssniff/" + name).c_str(), [c](benchmark::State& st) {
                            run_inflate(st, c,
                                        [](bool r) { return std::make_unique<wssniff_engine>(r); });
                        });
                }
            }
        }
    }
    return true;
}();

} // namespace
