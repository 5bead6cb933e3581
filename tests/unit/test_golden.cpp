// Golden cases as data (after llhttp's test/request/*.md): tests/golden/*.case holds the bytes
// each side sent beside the NDJSON they must produce. Each case runs whole, byte by byte, at
// every chunk size up to its length, and with trailing bytes appended.
//
// Case file format:
//   # comment
//   options: emit=both payload=hex max_payload=16 handshake=no
//   c2s:            then lines of hex (whitespace ignored), or "| text" = text + CRLF
//   s2c:
//   expect:         then the NDJSON, one record per line
// WSSNIFF_UPDATE_GOLDEN=1 rewrites the expect sections from the current output (review the
// diff before committing it).

#include "support/records.hpp"
#include "wssniff/filter/selector.hpp"
#include "wssniff/session/replay.hpp"

#include <catch2/catch.hpp>

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace wssniff;

namespace {

struct golden_case {
    std::string path;
    std::string head; // everything before "expect:", kept for updates
    session::session_options options;
    std::string c2s;
    std::string s2c;
    std::string expect;
};

void apply_option(session::session_options& o, const std::string& key, const std::string& value) {
    if (key == "emit") {
        o.emit_frames = value != "messages";
        o.emit_messages = value != "frames";
    } else if (key == "payload") {
        const std::pair<const char*, record::payload_mode> modes[] = {
            {"auto", record::payload_mode::automatic},
            {"text", record::payload_mode::text},
            {"hex", record::payload_mode::hex},
            {"base64", record::payload_mode::base64},
            {"none", record::payload_mode::none}};
        const auto* m = std::find_if(std::begin(modes), std::end(modes),
                                     [&](const auto& p) { return value == p.first; });
        if (m == std::end(modes)) {
            throw std::runtime_error("unknown payload mode " + value);
        }
        o.payload = m->second;
    } else if (key == "max_payload") {
        o.max_payload = std::stoull(value);
    } else if (key == "handshake") {
        o.handshake = value == "yes";
    } else if (key == "redact") {
        o.redact = value == "yes";
    } else {
        throw std::runtime_error("unknown option " + key);
    }
}

golden_case load(const std::string& path) {
    golden_case c;
    c.path = path;
    std::ifstream in(path, std::ios::binary);
    std::string line;
    std::string* section = nullptr;
    bool expecting = false;
    while (std::getline(in, line)) {
        if (!expecting) {
            c.head += line + "\n";
        }
        if (expecting) {
            if (!line.empty()) {
                c.expect += line + "\n";
            }
        } else if (line.empty() || line[0] == '#') {
            continue;
        } else if (line.rfind("options:", 0) == 0) {
            std::istringstream words(line.substr(8));
            std::string word;
            while (words >> word) {
                const std::size_t eq = word.find('=');
                apply_option(c.options, word.substr(0, eq), word.substr(eq + 1));
            }
        } else if (line == "c2s:") {
            section = &c.c2s;
        } else if (line == "s2c:") {
            section = &c.s2c;
        } else if (line == "expect:") {
            expecting = true;
        } else if (section == nullptr) {
            throw std::runtime_error(path + ": bytes before c2s: or s2c:");
        } else if (line[0] == '|') {
            *section += line.substr(line.size() > 1 ? 2 : 1) + "\r\n";
        } else {
            *section += test::unhex(line);
        }
    }
    return c;
}

std::vector<std::string> case_files() {
    std::vector<std::string> files;
    DIR* dir = opendir(WSSNIFF_GOLDEN_DIR);
    REQUIRE(dir != nullptr);
    while (const dirent* e = readdir(dir)) {
        const std::string name = e->d_name;
        if (name.size() > 5 && name.substr(name.size() - 5) == ".case") {
            files.push_back(std::string(WSSNIFF_GOLDEN_DIR) + "/" + name);
        }
    }
    closedir(dir);
    std::sort(files.begin(), files.end());
    return files;
}

// Feeds without ending the streams: the records that do not depend on where the input stops.
std::vector<std::string> records_before_end(const std::string& c2s, const std::string& s2c,
                                            const session::session_options& options) {
    test::ndjson_capture capture;
    session::session s(capture, options);
    std::size_t c_at = 0;
    std::size_t s_at = 0;
    for (bool progressed = true; progressed;) {
        progressed = false;
        while (s.in_http(direction::c2s) && c_at < c2s.size()) {
            const std::size_t n = s.feed_head(direction::c2s, bytes_view{c2s}.subview(c_at));
            c_at += n;
            progressed = progressed || n > 0;
            if (n == 0)
                break;
        }
        while (s.in_http(direction::s2c) && s_at < s2c.size()) {
            const std::size_t n = s.feed_head(direction::s2c, bytes_view{s2c}.subview(s_at));
            s_at += n;
            progressed = progressed || n > 0;
            if (n == 0)
                break;
        }
    }
    s.feed(direction::c2s, bytes_view{c2s}.subview(c_at));
    s.feed(direction::s2c, bytes_view{s2c}.subview(s_at));
    return capture.lines;
}

bool is_subsequence(const std::vector<std::string>& small, const std::vector<std::string>& big) {
    auto it = big.begin();
    for (const auto& s : small) {
        it = std::find(it, big.end(), s);
        if (it == big.end()) {
            return false;
        }
        ++it;
    }
    return true;
}

// The records that pass `filters`, chosen after they were all built (a sink that is not
// selective), or asked at each frame's and message's header (the filtering sink, selective).
std::vector<std::string> filtered(const golden_case& c, const filter::filters& filters,
                                  bool at_header) {
    test::ndjson_capture all;
    filter::filtering_sink selective(all, filters);
    struct every_record final : record::sink {
        record::sink& out;
        explicit every_record(record::sink& o) : out(o) {}
        void write(record::record&& r) override { out.write(std::move(r)); }
    } after(selective);
    session::session_options options = c.options;
    options.emit_frames = true;
    options.emit_messages = true;
    session::session s(at_header ? static_cast<record::sink&>(selective) : after, options);
    session::replay(s, bytes_view{c.c2s}, bytes_view{c.s2c}, 0);
    return all.lines;
}

} // namespace

TEST_CASE("golden cases: a filter asked at the header writes what it keeps of every record",
          "[golden][filter]") {
    // Known at the header, decided by the payload, and mixtures, under not/and/or.
    const char* const expressions[] = {
        R"(type == "error")",
        R"(op == "text")",
        R"(op == "binary" or type == "message")",
        R"(len > 3)",
        R"(not (len > 3))",
        R"(fin == false or rsv1)",
        R"(text contains "e")",
        R"(not (text contains "e"))",
        R"(dir == "c2s" and truncated)",
        R"(type == "message" and len > 2 and frames >= 1)",
        R"(close_code == 1000 or close_reason contains "bye")",
        R"(seq in {1, 3..4} and not compressed)",
        R"(op == "ping" or data_len > 1)",
        R"(masked and hex matches /^[0-9a-f]{0,8}$/)",
        R"(type in {"frame", "message"} and not (offset > 40 and payload contains "a"))",
    };
    const auto files = case_files();
    REQUIRE(files.size() >= 8);
    std::size_t kept = 0;
    std::size_t written = 0; // with no filter, times the expressions
    for (const auto& path : files) {
        const golden_case c = load(path);
        written +=
            filtered(c, filter::compile_filters("true"), false).size() * std::size(expressions);
        for (const char* e : expressions) {
            INFO(path << ": " << e);
            const auto filters = filter::compile_filters(e);
            const auto after = filtered(c, filters, false);
            const auto asked = filtered(c, filters, true);
            REQUIRE(asked == after);
            kept += after.size();
        }
    }
    // The expressions keep some records and drop others.
    CHECK(kept > 0);
    CHECK(written > kept);
}

TEST_CASE("golden cases", "[golden]") {
    const auto files = case_files();
    REQUIRE(files.size() >= 8);
    const bool update = std::getenv("WSSNIFF_UPDATE_GOLDEN") != nullptr;
    for (const auto& path : files) {
        golden_case c = load(path);
        const std::string whole = test::decode_connection(c.c2s, c.s2c, c.options);
        if (update) {
            std::ofstream(path, std::ios::binary) << c.head << whole;
            continue;
        }
        SECTION(path.substr(path.rfind('/') + 1)) {
            INFO(path);
            REQUIRE(whole == c.expect);
            const std::size_t longest = std::max(c.c2s.size(), c.s2c.size());
            for (std::size_t chunk = 1; chunk <= longest; ++chunk) {
                INFO("chunk " << chunk);
                REQUIRE(test::decode_connection(c.c2s, c.s2c, c.options, chunk) == whole);
            }
            // Trailing bytes change what comes after, never what came before.
            const auto before = records_before_end(c.c2s, c.s2c, c.options);
            for (const std::string& trailing :
                 {std::string("\x81\x00", 2), std::string("\xff\xff\xff"),
                  std::string("\x82\x7f\x80", 3)}) {
                const auto longer_c2s = records_before_end(c.c2s + trailing, c.s2c, c.options);
                const auto longer_s2c = records_before_end(c.c2s, c.s2c + trailing, c.options);
                REQUIRE(is_subsequence(before, longer_c2s));
                REQUIRE(is_subsequence(before, longer_s2c));
            }
        }
    }
}
