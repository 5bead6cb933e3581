#pragma once
// `wssniff decode --pcap`: packets from a capture → TCP reassembly → one session per WebSocket
// connection, both directions interleaved in capture order, records stamped with packet times.

#include "options.hpp"

#include <cstdint>
#include <set>
#include <string>

namespace wssniff::app {

struct pcap_decode_options {
    std::string path;              // "-": stdin
    std::set<std::uint64_t> ports; // empty: every port
    std::set<std::uint64_t> conns; // empty: every connection
    std::uint64_t max_reorder = 4 * 1024 * 1024;
    output_options output;
};

int run_pcap_decode(const pcap_decode_options& options);

} // namespace wssniff::app
