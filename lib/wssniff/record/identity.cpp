#include "wssniff/record/identity.hpp"

#include "wssniff/record/json_string.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <limits.h>
#include <stdexcept>
#include <sys/random.h>
#include <unistd.h>

namespace wssniff::record {

identity identity::make(std::string instance, std::string run) {
    identity id;
    id.fields = R"(,"instance":")";
    append_json_string_contents(id.fields, instance);
    id.fields += R"(","run":")";
    append_json_string_contents(id.fields, run);
    id.fields += '"';
    id.instance = std::move(instance);
    id.run = std::move(run);
    return id;
}

identity identity::for_this_run(std::string instance) {
    return make(std::move(instance), new_run_id());
}

std::string new_run_id() {
    std::array<unsigned char, 8> bytes{};
    std::size_t got = 0;
    while (got < bytes.size()) {
        const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw std::runtime_error("cannot read random bytes for the run id");
        }
        got += static_cast<std::size_t>(n);
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string id;
    id.reserve(bytes.size() * 2);
    for (const unsigned char b : bytes) {
        id += digits[b >> 4];
        id += digits[b & 0xf];
    }
    return id;
}

std::string host_name() {
    char name[HOST_NAME_MAX + 1] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
        return "localhost";
    }
    return name;
}

} // namespace wssniff::record
