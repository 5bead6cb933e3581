#pragma once
// Digit tables the NDJSON writer's parts share: hex digits (hex payloads, masks, \u00XX
// escapes) and the two decimal digits of 0..99 (numbers in records, timestamp fields), so that
// a small number or a timestamp field costs one two-byte copy per pair of digits.

namespace wssniff::record::detail {

inline constexpr char hex_digits[] = "0123456789abcdef";

inline constexpr char two_digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

} // namespace wssniff::record::detail
