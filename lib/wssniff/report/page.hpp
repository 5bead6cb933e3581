#pragma once
// The report as one HTML file: the model's JSON in a <script type="application/json"> block,
// the page's CSS and JS (assets/, compiled in) inline, and a Content-Security-Policy that
// allows nothing but those two inline blocks (by their SHA-256) — no network, no other script.

#include <string>
#include <string_view>

namespace wssniff::report {

// JSON text made safe inside a <script> element: `<`, `>` and `&` become \u003c, \u003e,
// \u0026 and U+2028/U+2029 become \u2028/\u2029. Valid only for JSON (those characters can
// only occur inside its strings, where the escapes mean the same).
std::string escape_script_json(std::string_view json);

// "sha256-<base64>" of `text`, as a CSP source expression.
std::string csp_hash(std::string_view text);

// The whole page; `title` is shown as text.
std::string render_page(std::string_view title, std::string_view model_json);

// The CSS and JS compiled in (for tests).
std::string_view page_css();
std::string_view page_js();

} // namespace wssniff::report
