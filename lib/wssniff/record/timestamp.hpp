#pragma once
// The `ts` field: RFC 3339 UTC with microseconds (2026-11-26T19:05:53.123456Z), written without
// a format string because every live record carries one.

#include "wssniff/record/record.hpp"

#include <cstddef>
#include <string>

namespace wssniff::record {

// RFC 3339 UTC with microseconds: 2026-11-26T19:05:53.123456Z.
void append_timestamp(std::string& out, timestamp ts);

namespace detail {

inline constexpr std::size_t timestamp_size = 27;

// Writes the timestamp_size characters of `ts` at `o`; returns the end.
char* put_timestamp(char* o, timestamp ts) noexcept;

} // namespace detail

} // namespace wssniff::record
