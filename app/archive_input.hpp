#pragma once
// An archive read whole for the commands that take one (har export, replay, report), its
// problems thrown as the command's own kind of trouble (which decides the exit status):
// "FILE:LINE: problem" for a bad record, "cannot read archive 'FILE': why" for the file.

#include "wssniff/archive/connections.hpp"
#include "wssniff/archive/record_reader.hpp"

#include <fmt/format.h>

#include <string>
#include <system_error>
#include <vector>

namespace wssniff::app {

template <class Trouble> std::vector<archive::connection> read_archive_as(const std::string& path) {
    try {
        archive::record_reader reader(path);
        return archive::read_connections(reader);
    } catch (const archive::format_error& e) {
        throw Trouble(e.what());
    } catch (const std::system_error& e) {
        throw Trouble(fmt::format("cannot read archive '{}': {}", path, e.code().message()));
    }
}

} // namespace wssniff::app
