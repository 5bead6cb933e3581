#include "output.hpp"

#include "options.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace wssniff::app {

output_file::output_file(const std::string& path, bool append) {
    if (path.empty() || path == "-") {
        file_ = stdout;
    } else {
        const int fd = ::open(path.c_str(),
                              O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
        if (fd < 0) {
            throw runtime_failure("cannot open output '" + path + "': " + std::strerror(errno));
        }
        struct stat st {};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
            // An existing file keeps its mode under O_CREAT; a capture must not be readable
            // by others.
            ::fchmod(fd, 0600);
        }
        file_ = ::fdopen(fd, append ? "a" : "w");
        if (file_ == nullptr) {
            ::close(fd);
            throw runtime_failure("cannot open output '" + path + "': " + std::strerror(errno));
        }
        owned_ = true;
    }
    struct stat st {};
    interactive_ = ::fstat(::fileno(file_), &st) == 0 &&
                   (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode));
}

output_file::~output_file() {
    close();
}

bool output_file::close() {
    if (file_ == nullptr) {
        return true;
    }
    bool ok = std::fflush(file_) == 0 && !std::ferror(file_);
    if (owned_) {
        ok = std::fclose(file_) == 0 && ok;
    }
    file_ = nullptr;
    return ok;
}

std::string output_failure(const record::ndjson_sink& sink) {
    const std::error_code ec = sink.error();
    return "cannot write records: " + (ec ? ec.message() : std::string(std::strerror(errno)));
}

std::string output_failure(const output_sink& sink) {
    const std::error_code ec = sink.error();
    return "cannot write records: " + (ec ? ec.message() : std::string(std::strerror(errno)));
}

} // namespace wssniff::app
