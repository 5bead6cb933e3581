#include "wssniff/har/entry_reader.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace wssniff::har {

namespace {

using json = nlohmann::json;

// The SAX events of the whole document; only those inside an element of log.entries build a
// value. `path` holds, for each open container, the key it was opened under ("" for an array
// element), so "inside log.entries[i]" is path[0..2] == {"", "log", "entries"} plus an object.
class entries_sax {
  public:
    explicit entries_sax(const std::function<void(json&&)>& on_entry) : on_entry_(on_entry) {}

    bool null() { return value(json(nullptr)); }
    bool boolean(bool b) { return value(json(b)); }
    bool number_integer(json::number_integer_t n) { return value(json(n)); }
    bool number_unsigned(json::number_unsigned_t n) { return value(json(n)); }
    bool number_float(json::number_float_t x, const std::string&) { return value(json(x)); }
    bool string(std::string& s) { return value(json(std::move(s))); }
    bool binary(json::binary_t& b) { return value(json(std::move(b))); }

    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool key(std::string& k) {
        key_ = std::move(k);
        return true;
    }

    bool parse_error(std::size_t position, const std::string&, const json::exception& e) {
        position_ = position;
        message_ = e.what();
        return false;
    }

    bool saw_entries() const noexcept { return saw_entries_; }
    std::size_t error_position() const noexcept { return position_; }
    const std::string& error_message() const noexcept { return message_; }

  private:
    // Depth of the containers: 1 the document, 2 log, 3 entries, 4 one entry.
    bool in_entries_array() const {
        return path_.size() == 3 && path_[1] == "log" && path_[2] == "entries";
    }

    bool open(json container) {
        const bool entry_starts = in_entries_array() && container.is_object();
        if (path_.size() == 2 && path_[1] == "log" && key_ == "entries" && container.is_array()) {
            saw_entries_ = true;
        }
        path_.push_back(key_);
        if (entry_starts) {
            entry_ = std::move(container);
            stack_.push_back(&entry_);
        } else if (!stack_.empty()) {
            stack_.push_back(add(std::move(container)));
        }
        key_.clear();
        return true;
    }

    bool close() {
        if (!stack_.empty()) {
            stack_.pop_back();
            if (stack_.empty()) {
                on_entry_(std::move(entry_));
                entry_ = json();
            }
        }
        path_.pop_back();
        key_.clear();
        return true;
    }

    bool value(json v) {
        if (!stack_.empty()) {
            add(std::move(v));
        }
        key_.clear();
        return true;
    }

    // Adds `v` to the innermost open container of the entry being built.
    json* add(json v) {
        json& top = *stack_.back();
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        json& slot = top[key_];
        slot = std::move(v);
        return &slot;
    }

    const std::function<void(json&&)>& on_entry_;
    std::vector<std::string> path_;
    std::vector<json*> stack_;
    json entry_;
    std::string key_;
    bool saw_entries_ = false;
    std::size_t position_ = 0;
    std::string message_;
};

} // namespace

void read_entries(std::FILE* in, const std::string& name,
                  const std::function<void(json&&)>& on_entry) {
    entries_sax sax(on_entry);
    const bool ok = json::sax_parse(in, &sax);
    if (!ok) {
        throw har_error(name + ": not JSON (byte " + std::to_string(sax.error_position()) +
                        "): " + sax.error_message());
    }
    if (!sax.saw_entries()) {
        throw har_error(name + ": not a HAR file (no log.entries array)");
    }
}

} // namespace wssniff::har
