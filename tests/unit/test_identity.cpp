#include "wssniff/archive/record_reader.hpp"
#include "wssniff/record/identity.hpp"
#include "wssniff/record/ndjson.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using namespace wssniff;

TEST_CASE("identity: a run id is 16 hex digits, new each time", "[identity]") {
    const std::string a = record::new_run_id();
    const std::string b = record::new_run_id();
    CHECK(a.size() == 16);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a != b);
    CHECK_FALSE(record::host_name().empty());
}

TEST_CASE("identity: the fields go into every record right after conn, escaped once",
          "[identity]") {
    const record::identity id = record::identity::make("web-\"1\"", "0123456789abcdef");
    CHECK(id.fields == R"(,"instance":"web-\"1\"","run":"0123456789abcdef")");
    record::close c;
    c.reason = record::close_reason::client_closed;
    c.frames_c2s = 2;
    std::string line;
    record::append_ndjson(line, {7, std::nullopt, c}, id.fields);
    CHECK(line.rfind(R"({"type":"close","conn":7,"instance":"web-\"1\"","run":"0123456789abcdef",)",
                     0) == 0);
    const auto j = nlohmann::json::parse(line);
    CHECK(j["instance"] == "web-\"1\"");
    CHECK(j["frames_c2s"] == 2);

    // Read back: the archive reader keeps the record and skips the identity.
    const record::record back = archive::parse_record(line);
    CHECK(back.conn == 7);
    REQUIRE(std::holds_alternative<record::close>(back.body));
    CHECK(std::get<record::close>(back.body).frames_c2s == 2);
    std::string again;
    record::append_ndjson(again, back);
    CHECK(again == R"({"type":"close","conn":7,"reason":"client_closed","bytes_c2s":0,)"
                   R"("bytes_s2c":0,"frames_c2s":2,"frames_s2c":0})"
                   "\n");
}
