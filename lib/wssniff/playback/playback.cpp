#include "wssniff/playback/playback.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <memory>

namespace wssniff::playback {

std::vector<connection_outcome> run(const std::vector<plan>& plans, const run_settings& settings,
                                    record::sink& sink) {
    asio::io_context io;
    std::vector<connection_outcome> outcomes(plans.size());
    std::size_t started = 0;
    std::function<void()> start_next;
    const auto start = [&](std::size_t i) {
        play(io, plans[i], i + 1, settings.player, sink, [&, i](connection_outcome o) {
            outcomes[i] = std::move(o);
            if (settings.concurrency > 0 && started < plans.size()) {
                start_next();
            }
        });
    };
    if (settings.concurrency > 0) {
        start_next = [&] { start(started++); };
        for (std::size_t i = 0; i < settings.concurrency && started < plans.size(); ++i) {
            start_next();
        }
        io.run();
        return outcomes;
    }
    // Recorded offsets from the first connection's start, scaled like the gaps within one.
    std::vector<std::unique_ptr<asio::steady_timer>> timers;
    // (A plain time point and a flag, not an optional: GCC 12 under TSan warns falsely about
    // reading an engaged optional's value here.)
    const bool timed = !plans.empty() && plans.front().started.has_value();
    const auto first = timed ? *plans.front().started : record::timestamp{};
    for (std::size_t i = 0; i < plans.size(); ++i) {
        const auto& p = plans[i];
        if (!settings.player.paced || !timed || !p.started || *p.started <= first) {
            start(i);
            continue;
        }
        const std::chrono::duration<double, std::micro> offset = *p.started - first;
        auto& timer = timers.emplace_back(std::make_unique<asio::steady_timer>(io));
        timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            offset / settings.player.speed));
        timer->async_wait([&, i](std::error_code) { start(i); });
    }
    io.run();
    return outcomes;
}

} // namespace wssniff::playback
