#include "wssniff/filter/selector.hpp"

#include <variant>

namespace wssniff::filter {

filters compile_filters(std::string_view records, std::string_view connections) {
    filters f;
    if (!records.empty()) {
        f.records = expression::compile(records);
    }
    if (!connections.empty()) {
        f.connections = expression::compile(connections);
    }
    return f;
}

bool connection_filter::keep(const record::record& r) {
    const auto* hs = std::get_if<record::handshake>(&r.body);
    const bool is_close = std::holds_alternative<record::close>(r.body);
    if (verdict_ == verdict::undecided && filters_.connections != nullptr && !is_close) {
        verdict_ = filters_.connections->matches(r, hs) ? verdict::accepted : verdict::rejected;
    }
    if (verdict_ == verdict::rejected && !is_close) {
        return false;
    }
    if (hs != nullptr && filters_.records != nullptr && filters_.records->uses_handshake()) {
        hs_ = *hs; // a later upgrade on the same connection (after a refusal) replaces it
    }
    if (filters_.records == nullptr) {
        return true;
    }
    return filters_.records->matches(r, hs != nullptr ? hs : (hs_ ? &*hs_ : nullptr));
}

bool connection_filter::may_keep(const record::record& head) const {
    if (verdict_ == verdict::rejected) {
        return false;
    }
    // An undecided conn-filter decides on this record: asked only of what is known to be kept.
    if (verdict_ == verdict::undecided && filters_.connections != nullptr) {
        return true;
    }
    return filters_.records == nullptr || filters_.records->may_match(head, hs_ ? &*hs_ : nullptr);
}

bool filtering_sink::may_keep(const record::record& head) {
    const auto it = connections_.find(head.conn);
    return it == connections_.end() || it->second.may_keep(head);
}

void filtering_sink::write(record::record&& r) {
    const bool is_close = std::holds_alternative<record::close>(r.body);
    auto it = connections_.find(r.conn);
    if (it == connections_.end()) {
        it = connections_.emplace(r.conn, connection_filter(filters_)).first;
    }
    const bool keep = it->second.keep(r);
    if (is_close) {
        connections_.erase(it); // nothing of the connection follows its close
    }
    if (keep) {
        out_.write(std::move(r));
    }
}

} // namespace wssniff::filter
