#pragma once
// A HAR file read as a stream: nlohmann/json's SAX parser walks the document and each element
// of `log.entries` is built, handed over and dropped before the next one is read, so memory is
// bounded by the largest entry, not by the file (browsers write HARs of hundreds of MB).

#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

namespace wssniff::har {

// The input is not a HAR: not JSON, or no `log.entries` array. The message names the input.
class har_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Calls `on_entry` with each element of log.entries, in order. `name` is what errors call the
// input. Throws har_error.
void read_entries(std::FILE* in, const std::string& name,
                  const std::function<void(nlohmann::json&& entry)>& on_entry);

} // namespace wssniff::har
