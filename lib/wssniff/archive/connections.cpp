#include "wssniff/archive/connections.hpp"

#include <unordered_map>

namespace wssniff::archive {

const record::handshake* connection::handshake() const noexcept {
    const record::handshake* found = nullptr;
    for (const auto& e : entries) {
        if (const auto* h = std::get_if<record::handshake>(&e.record.body)) {
            found = h;
        }
    }
    return found;
}

std::vector<connection> read_connections(record_reader& reader) {
    std::vector<connection> out;
    std::unordered_map<std::uint64_t, std::size_t> index;
    while (auto e = reader.next()) {
        const auto conn = e->record.conn;
        auto [it, fresh] = index.try_emplace(conn, out.size());
        if (fresh) {
            out.push_back(connection{conn, {}});
        }
        out[it->second].entries.push_back(std::move(*e));
    }
    return out;
}

} // namespace wssniff::archive
