#pragma once
// An archive's records grouped by connection, each connection's in the order they were
// written: what replay and diff work on.

#include "wssniff/archive/record_reader.hpp"

#include <cstdint>
#include <vector>

namespace wssniff::archive {

struct connection {
    std::uint64_t conn = 0;
    std::vector<entry> entries; // in archive order

    // The connection's (last) handshake record, if it has one.
    const record::handshake* handshake() const noexcept;
};

// Every record of the archive, grouped by `conn`, connections in order of their first record.
// Throws as record_reader::next() does.
std::vector<connection> read_connections(record_reader& reader);

// Records already in memory (a replay's own, say), grouped the same way.
std::vector<connection> group_connections(std::vector<entry> entries);

} // namespace wssniff::archive
