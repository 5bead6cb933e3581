// RFC 3339 timestamps for the `ts` field. gmtime_r and the date digits change once a second, so
// each thread keeps the last second's "YYYY-MM-DDTHH:MM:SS." and writes only the microseconds.

#include "wssniff/record/timestamp.hpp"

#include "wssniff/record/digits.hpp"

#include <cstring>
#include <ctime>

namespace wssniff::record {

namespace detail {

namespace {

struct second_prefix {
    long long second = -1;
    char text[20]; // "2026-11-26T19:05:53."
};

void two_digits(char* o, int v) {
    o[0] = static_cast<char>('0' + v / 10);
    o[1] = static_cast<char>('0' + v % 10);
}

} // namespace

char* put_timestamp(char* o, timestamp ts) noexcept {
    using namespace std::chrono;
    const auto us = duration_cast<microseconds>(ts.time_since_epoch()).count();
    long long secs = us / 1000000;
    long long micros = us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        --secs;
    }
    thread_local second_prefix cache;
    if (cache.second != secs) {
        const auto t = static_cast<std::time_t>(secs);
        std::tm tm{};
        gmtime_r(&t, &tm);
        const int year = tm.tm_year + 1900;
        two_digits(cache.text, year / 100);
        two_digits(cache.text + 2, year % 100);
        cache.text[4] = '-';
        two_digits(cache.text + 5, tm.tm_mon + 1);
        cache.text[7] = '-';
        two_digits(cache.text + 8, tm.tm_mday);
        cache.text[10] = 'T';
        two_digits(cache.text + 11, tm.tm_hour);
        cache.text[13] = ':';
        two_digits(cache.text + 14, tm.tm_min);
        cache.text[16] = ':';
        two_digits(cache.text + 17, tm.tm_sec);
        cache.text[19] = '.';
        cache.second = secs;
    }
    std::memcpy(o, cache.text, sizeof cache.text);
    const auto m = static_cast<unsigned>(micros);
    std::memcpy(o + 20, &two_digit_pairs[m / 10000 * 2], 2);
    std::memcpy(o + 22, &two_digit_pairs[m / 100 % 100 * 2], 2);
    std::memcpy(o + 24, &two_digit_pairs[m % 100 * 2], 2);
    o[26] = 'Z';
    return o + timestamp_size;
}

} // namespace detail

void append_timestamp(std::string& out, timestamp ts) {
    char text[detail::timestamp_size];
    detail::put_timestamp(text, ts);
    out.append(text, sizeof text);
}

} // namespace wssniff::record
