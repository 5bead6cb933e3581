#pragma once
// Packets from a capture file (pcap with µs or ns timestamps in either byte order, pcapng) or
// from stdin ("-"), read through libpcap. Its edge: nothing else in wssniff includes pcap.h.

#include "wssniff/base/bytes.hpp"
#include "wssniff/tcp/reassembler.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace wssniff::pcap {

// A capture that cannot be opened or read, with libpcap's own words.
struct capture_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct packet {
    bytes_view data;               // valid until the next call to next()
    std::uint32_t wire_length = 0; // on the wire; data may hold fewer bytes (snaplen)
    tcp::clock_time ts{};
};

class capture_reader {
  public:
    // "-" reads stdin. Throws capture_error.
    explicit capture_reader(const std::string& path);
    ~capture_reader();
    capture_reader(const capture_reader&) = delete;
    capture_reader& operator=(const capture_reader&) = delete;

    int link_type() const noexcept { return link_type_; }
    // libpcap's name for the link type ("EN10MB").
    std::string link_name() const;

    // The next packet; false at the end. Throws capture_error for a file cut or damaged.
    bool next(packet& out);

  private:
    struct handle;
    handle* handle_ = nullptr;
    std::string path_;
    int link_type_ = 0;
};

} // namespace wssniff::pcap
