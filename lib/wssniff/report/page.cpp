#include "wssniff/report/page.hpp"

#include "report_assets.hpp" // generated from assets/ at build time

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>

namespace wssniff::report {

namespace {

// Text for an HTML element's content: & < > escaped.
std::string html_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        switch (ch) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += ch;
        }
    }
    return out;
}

} // namespace

std::string escape_script_json(std::string_view json) {
    std::string out;
    out.reserve(json.size() + json.size() / 16);
    for (std::size_t i = 0; i < json.size(); ++i) {
        const char ch = json[i];
        switch (ch) {
        case '<': out += "\\u003c"; continue;
        case '>': out += "\\u003e"; continue;
        case '&': out += "\\u0026"; continue;
        default: break;
        }
        // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
        if (static_cast<unsigned char>(ch) == 0xE2 && i + 2 < json.size() &&
            static_cast<unsigned char>(json[i + 1]) == 0x80 &&
            (static_cast<unsigned char>(json[i + 2]) == 0xA8 ||
             static_cast<unsigned char>(json[i + 2]) == 0xA9)) {
            out += static_cast<unsigned char>(json[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
            i += 2;
            continue;
        }
        out += ch;
    }
    return out;
}

std::string csp_hash(std::string_view text) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
    std::array<unsigned char, 4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1> b64{};
    const int n = EVP_EncodeBlock(b64.data(), digest.data(), static_cast<int>(digest.size()));
    return "sha256-" +
           std::string(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n));
}

std::string_view page_css() {
    return {reinterpret_cast<const char*>(assets::report_css), sizeof assets::report_css};
}

std::string_view page_js() {
    return {reinterpret_cast<const char*>(assets::report_js), sizeof assets::report_js};
}

std::string render_page(std::string_view title, std::string_view model_json) {
    const std::string_view css = page_css();
    const std::string_view js = page_js();
    std::string out;
    out.reserve(model_json.size() + css.size() + js.size() + 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    // First in <head>: nothing before it may load or run.
    out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "script-src '";
    out += csp_hash(js);
    out += "'; style-src '";
    out += csp_hash(css);
    out += "'; img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'\">\n";
    out += "<meta name=\"referrer\" content=\"no-referrer\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out += "<title>";
    out += html_text(title);
    out += "</title>\n<style>";
    out += css;
    out += "</style>\n</head>\n<body>\n<noscript>This report draws itself with "
           "JavaScript.</noscript>\n";
    out += "<script type=\"application/json\" id=\"wssniff-data\">";
    out += escape_script_json(model_json);
    out += "</script>\n<script>";
    out += js;
    out += "</script>\n</body>\n</html>\n";
    return out;
}

} // namespace wssniff::report
