#include "network_output.hpp"

#include "options.hpp"

#include "wssniff/record/ndjson.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace wssniff::app {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Lines collect up to this much before they are sent without waiting for a flush.
constexpr std::size_t send_block = 64 * 1024;
constexpr milliseconds first_backoff{50};
constexpr milliseconds max_backoff{1000};

std::error_code errno_code(int e) {
    return {e != 0 ? e : EIO, std::generic_category()};
}

std::string describe(const output_target& t) {
    return t.text;
}

// Waits for `events` on `fd` for at most `limit`; false on timeout.
bool wait_for(int fd, short events, milliseconds limit) {
    pollfd p{fd, events, 0};
    for (;;) {
        const int n = ::poll(&p, 1, static_cast<int>(limit.count()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n > 0;
    }
}

} // namespace

network_output::network_output(settings s) : settings_(std::move(s)) {
    const auto started = clock::now();
    if (!connect_until(started + settings_.connect_timeout, false)) {
        throw runtime_failure(
            fmt::format("cannot connect to --output {}: {} (tried for {:.3g} s; "
                        "--output-connect-timeout)",
                        describe(settings_.target), last_error_.message(),
                        std::chrono::duration<double>(settings_.connect_timeout).count()));
    }
}

network_output::~network_output() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void network_output::on_failure(std::function<void(std::error_code)> report) {
    on_failure_ = std::move(report);
}

void network_output::give_up_at(clock::time_point deadline) noexcept {
    const std::int64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    give_up_ns_.store(ns == 0 ? 1 : ns, std::memory_order_relaxed);
}

bool network_output::given_up() const noexcept {
    const std::int64_t ns = give_up_ns_.load(std::memory_order_relaxed);
    return ns != 0 &&
           std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
                   .count() >= ns;
}

void network_output::failed(std::error_code ec) {
    if (first_failure_) {
        return;
    }
    first_failure_ = ec ? ec : errno_code(ETIMEDOUT);
    if (on_failure_) {
        on_failure_(first_failure_);
    }
}

std::string network_output::failure() const {
    return fmt::format("{} records were not delivered to {}: {}", lost_, describe(settings_.target),
                       first_failure_ ? first_failure_.message() : std::string("closing failed"));
}

void network_output::write(record::record&& r) {
    written_.store(written_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (gave_up_) {
        ++lost_;
        return;
    }
    record::append_ndjson(lines_, r, settings_.identity_fields);
    if (lines_.size() >= send_block) {
        send_held();
    }
}

bool network_output::flush() {
    return send_held() && !gave_up_;
}

bool network_output::close() {
    const bool ok = flush();
    if (fd_ >= 0) {
        // Whatever the kernel holds still goes out after close(); no reset, no linger.
        ::shutdown(fd_, SHUT_WR);
        ::close(fd_);
        fd_ = -1;
    }
    return ok && lost_ == 0;
}

// One attempt, bounded by `limit`; last_error_ says why it failed.
bool network_output::connect_once(milliseconds limit) {
    const output_target& t = settings_.target;
    const auto try_address = [this, limit](int family, const sockaddr* address, socklen_t length) {
        const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last_error_ = errno_code(errno);
            return false;
        }
        if (::connect(fd, address, length) != 0) {
            if (errno != EINPROGRESS && errno != EAGAIN) {
                last_error_ = errno_code(errno);
                ::close(fd);
                return false;
            }
            if (!wait_for(fd, POLLOUT, limit)) {
                last_error_ = errno_code(ETIMEDOUT);
                ::close(fd);
                return false;
            }
            int error = 0;
            socklen_t size = sizeof error;
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
            if (error != 0) {
                last_error_ = errno_code(error);
                ::close(fd);
                return false;
            }
        }
        if (family != AF_UNIX) {
            // The lines go in blocks already; a flush must not wait for Nagle's timer.
            const int on = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        }
        fd_ = fd;
        return true;
    };
    if (t.type == output_target::kind::unix_socket) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, t.path.data(),
                    std::min(t.path.size(), sizeof address.sun_path - 1));
        return try_address(AF_UNIX, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const int status =
        ::getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &found);
    if (status != 0) {
        // A name that does not resolve (yet): "No route to host", or "Resource temporarily
        // unavailable" while the resolver cannot answer.
        last_error_ = errno_code(status == EAI_AGAIN ? EAGAIN : EHOSTUNREACH);
        return false;
    }
    bool connected = false;
    for (const addrinfo* a = found; a != nullptr && !connected; a = a->ai_next) {
        connected = try_address(a->ai_family, a->ai_addr, a->ai_addrlen);
    }
    ::freeaddrinfo(found);
    return connected;
}

// Tries until connected, the deadline passes, or (`giving_up_counts`) the proxy stops waiting.
bool network_output::connect_until(clock::time_point deadline, bool giving_up_counts) {
    milliseconds backoff = first_backoff;
    for (;;) {
        const auto now = clock::now();
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
        if (connect_once(std::clamp(left, milliseconds(1), max_backoff))) {
            return true;
        }
        // Asleep in short steps, so that a stopping proxy is heard within one.
        const auto wake = clock::now() + backoff;
        while (clock::now() < std::min(wake, deadline)) {
            if (giving_up_counts && given_up()) {
                return false;
            }
            std::this_thread::sleep_for(std::min<milliseconds>(
                milliseconds(20),
                std::chrono::duration_cast<milliseconds>(std::min(wake, deadline) - clock::now()) +
                    milliseconds(1)));
        }
        if (clock::now() >= deadline || (giving_up_counts && given_up())) {
            return false;
        }
        backoff = std::min(backoff * 2, max_backoff);
    }
}

// The peer has shut its side (or reset): true, and the socket is to be replaced. Bytes the
// peer sent are read and ignored.
bool network_output::peer_closed() {
    char ignored[512];
    for (;;) {
        const ssize_t n = ::recv(fd_, ignored, sizeof ignored, MSG_DONTWAIT);
        if (n > 0) {
            continue;
        }
        if (n == 0) {
            last_error_ = errno_code(ECONNRESET);
            return true;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return false;
        }
        last_error_ = errno_code(errno);
        return true;
    }
}

void network_output::disconnect(bool clean) {
    if (fd_ < 0) {
        return;
    }
    if (clean) {
        ::shutdown(fd_, SHUT_WR);
    }
    ::close(fd_);
    fd_ = -1;
}

// After a connection is lost: the whole lines sent on it are done with; a line sent in part
// goes again, whole, on the next connection.
void network_output::keep_unsent_lines() {
    const std::string_view held = lines_.view();
    std::size_t done = 0;
    if (sent_ != 0) {
        const std::size_t newline = held.rfind('\n', sent_ - 1);
        done = newline == std::string_view::npos ? 0 : newline + 1;
    }
    sent_ = 0;
    if (done == 0) {
        return;
    }
    record::line_buffer rest;
    char* o = rest.reserve(held.size() - done);
    std::memcpy(o, held.data() + done, held.size() - done);
    rest.commit(o + (held.size() - done));
    lines_ = std::move(rest);
}

// Giving up: every line not yet sent whole is a lost record.
void network_output::lose_held() {
    keep_unsent_lines();
    const std::string_view held = lines_.view();
    lost_ += static_cast<std::uint64_t>(std::count(held.begin(), held.end(), '\n'));
    lines_.clear();
    gave_up_ = true;
    failed(last_error_);
}

bool network_output::send_held() {
    if (gave_up_) {
        return false;
    }
    if (lines_.empty()) {
        return true;
    }
    bool checked = false;
    bool lost_connection = false;
    while (sent_ < lines_.size()) {
        if (fd_ < 0) {
            if (!lost_connection && settings_.say) {
                settings_.say(fmt::format("lost the output {}: {}; reconnecting, records wait",
                                          describe(settings_.target), last_error_.message()));
            }
            lost_connection = true;
            const auto started = clock::now();
            if (!connect_until(clock::time_point::max(), true)) {
                lose_held();
                return false;
            }
            ++reconnects_;
            if (settings_.say) {
                settings_.say(fmt::format(
                    "reconnected to the output {} after {:.1f} s", describe(settings_.target),
                    std::chrono::duration<double>(clock::now() - started).count()));
            }
            checked = true; // a new connection: nothing to hear from yet
        }
        if (!checked) {
            checked = true;
            if (peer_closed()) {
                // The peer is going (a clean restart): it reads on until our end-of-stream, so
                // what it has been sent arrives; the rest goes on the next connection.
                disconnect(true);
                continue;
            }
        }
        const ssize_t n =
            ::send(fd_, lines_.data() + sent_, lines_.size() - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent_ += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            // The peer reads slowly: wait (lossless), listening for the proxy giving up.
            if (!wait_for(fd_, POLLOUT, milliseconds(100)) && given_up()) {
                last_error_ = errno_code(ETIMEDOUT);
                disconnect(false);
                lose_held();
                return false;
            }
            continue;
        }
        last_error_ = errno_code(errno);
        disconnect(false);
        keep_unsent_lines();
    }
    lines_.clear();
    sent_ = 0;
    return true;
}

} // namespace wssniff::app
