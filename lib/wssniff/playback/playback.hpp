#pragma once
// Replaying a whole archive: every planned connection, each started at its recorded offset from
// the first (paced) or at once, or --concurrency N at a time, all on one io_context.

#include "wssniff/playback/player.hpp"

#include <cstddef>
#include <vector>

namespace wssniff::playback {

struct run_settings {
    player_settings player;
    std::size_t concurrency = 0; // 0: start each at its recorded offset (or at once unpaced)
};

// Plays every plan as connection 1, 2, ... in order; returns when all have ended.
std::vector<connection_outcome> run(const std::vector<plan>& plans, const run_settings& settings,
                                    record::sink& sink);

} // namespace wssniff::playback
