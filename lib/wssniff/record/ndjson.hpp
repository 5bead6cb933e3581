#pragma once
// The NDJSON writer: one record, one line of JSON, always valid UTF-8.
//
// Hand-written on purpose: a frame record is mostly its payload, and building an nlohmann::json
// DOM for it costs a copy and a slow dump per frame (bench/ compares the two).
//
// This header is the writer's whole public face: the serializers below, and through its
// includes the line buffer, JSON string escaping, timestamps and the stdio sink.

#include "wssniff/record/json_string.hpp"
#include "wssniff/record/line_buffer.hpp"
#include "wssniff/record/ndjson_sink.hpp"
#include "wssniff/record/record.hpp"
#include "wssniff/record/timestamp.hpp"

#include <string>
#include <string_view>

namespace wssniff::record {

// Appends `r` as one JSON object and a newline. `fields`: written as they are right after
// "conn" (the identity's pre-escaped `,"instance":...,"run":...`, identity.hpp).
void append_ndjson(line_buffer& out, const record& r, std::string_view fields = {});
void append_ndjson(std::string& out, const record& r, std::string_view fields = {});

} // namespace wssniff::record
