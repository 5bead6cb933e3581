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

namespace {

// Appends `e` to its connection, which is made at its first record.
class grouping {
  public:
    void add(entry&& e) {
        const auto conn = e.record.conn;
        auto [it, fresh] = index_.try_emplace(conn, out_.size());
        if (fresh) {
            out_.push_back(connection{conn, {}});
        }
        out_[it->second].entries.push_back(std::move(e));
    }
    std::vector<connection> take() { return std::move(out_); }

  private:
    std::vector<connection> out_;
    std::unordered_map<std::uint64_t, std::size_t> index_;
};

} // namespace

std::vector<connection> read_connections(record_reader& reader) {
    grouping g;
    while (auto e = reader.next()) {
        g.add(std::move(*e));
    }
    return g.take();
}

std::vector<connection> group_connections(std::vector<entry> entries) {
    grouping g;
    for (auto& e : entries) {
        g.add(std::move(e));
    }
    return g.take();
}

} // namespace wssniff::archive
