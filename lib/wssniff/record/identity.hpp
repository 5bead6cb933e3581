#pragma once
// Who wrote a record: the instance (--instance, by default the host name) and a random id per
// process run. Written on every live record, so (instance, run, conn) names one connection
// across sidecars and restarts, and records merged from many of them stay apart.

#include <string>

namespace wssniff::record {

struct identity {
    std::string instance;
    std::string run;
    // `,"instance":"...","run":"..."`, escaped once: the NDJSON writer copies it into every
    // record after "conn" (append_ndjson's `fields`), at no per-record formatting cost.
    std::string fields;

    static identity make(std::string instance, std::string run);
    // `instance` with a new run id.
    static identity for_this_run(std::string instance);
};

// 16 lowercase hex digits from the kernel's random source (getrandom).
std::string new_run_id();

// The host name (gethostname), or "localhost" if it has none.
std::string host_name();

} // namespace wssniff::record
