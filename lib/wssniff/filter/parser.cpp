// The filter language's tokenizer and recursive-descent parser:
//
//   expr    := or
//   or      := and { "or" and }
//   and     := unary { "and" unary }
//   unary   := "not" unary | "(" expr ")" | "true" | "false" | test
//   test    := field [ cmp literal | "contains" STRING | "matches" REGEX | "in" set ]
//   field   := NAME | "json" { "." NAME | "[" (NUMBER|STRING) "]" } | "hs" "." NAME
//              | "hs" "." "header" "[" STRING "]"
//   set     := "{" member { "," member } "}"      member := literal | NUMBER ".." NUMBER
//
// Every error names the byte column it was found at, for the caret under the expression.

#include "wssniff/filter/ast.hpp"
#include "wssniff/filter/expression.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <unordered_map>

namespace wssniff::filter {

namespace {

enum class tok : std::uint8_t {
    end,
    name,
    string,
    number,
    regex,
    lparen,
    rparen,
    lbrace,
    rbrace,
    lbracket,
    rbracket,
    comma,
    dot,
    dotdot,
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
};

struct token {
    tok type = tok::end;
    std::size_t column = 1; // from 1
    std::string text;       // name, decoded string, regex pattern
    double number = 0;
    bool case_insensitive = false; // regex /.../i
};

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

class lexer {
  public:
    explicit lexer(std::string_view in) : in_(in) {}

    // `regex_next`: a '/' starts a regular expression (right after `matches`).
    token next(bool regex_next) {
        while (pos_ < in_.size() && std::isspace(static_cast<unsigned char>(in_[pos_])) != 0) {
            ++pos_;
        }
        token t;
        t.column = pos_ + 1;
        if (pos_ >= in_.size()) {
            return t;
        }
        const char c = in_[pos_];
        if (regex_next && c == '/') {
            return regex(t);
        }
        if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
            const std::size_t start = pos_;
            while (pos_ < in_.size() &&
                   (std::isalnum(static_cast<unsigned char>(in_[pos_])) != 0 || in_[pos_] == '_')) {
                ++pos_;
            }
            t.type = tok::name;
            t.text = std::string(in_.substr(start, pos_ - start));
            return t;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) != 0 ||
            (c == '-' && pos_ + 1 < in_.size() &&
             std::isdigit(static_cast<unsigned char>(in_[pos_ + 1])) != 0)) {
            return number(t);
        }
        if (c == '"') {
            return string(t);
        }
        ++pos_;
        const char n = pos_ < in_.size() ? in_[pos_] : '\0';
        switch (c) {
        case '(': t.type = tok::lparen; return t;
        case ')': t.type = tok::rparen; return t;
        case '{': t.type = tok::lbrace; return t;
        case '}': t.type = tok::rbrace; return t;
        case '[': t.type = tok::lbracket; return t;
        case ']': t.type = tok::rbracket; return t;
        case ',': t.type = tok::comma; return t;
        case '.':
            if (n == '.') {
                ++pos_;
                t.type = tok::dotdot;
            } else {
                t.type = tok::dot;
            }
            return t;
        case '=':
            if (n == '=') {
                ++pos_;
                t.type = tok::eq;
                return t;
            }
            throw parse_error(t.column, "'=' is not an operator: compare with '=='");
        case '!':
            if (n == '=') {
                ++pos_;
                t.type = tok::ne;
                return t;
            }
            throw parse_error(t.column, "'!' is not an operator: negate with 'not'");
        case '<':
            t.type = n == '=' ? tok::le : tok::lt;
            pos_ += n == '=' ? 1 : 0;
            return t;
        case '>':
            t.type = n == '=' ? tok::ge : tok::gt;
            pos_ += n == '=' ? 1 : 0;
            return t;
        default: break;
        }
        throw parse_error(t.column, std::string("unexpected character '") + c + "'");
    }

  private:
    token number(token& t) {
        const std::size_t start = pos_;
        if (in_[pos_] == '-') {
            ++pos_;
        }
        auto digits = [this] {
            while (pos_ < in_.size() && std::isdigit(static_cast<unsigned char>(in_[pos_])) != 0) {
                ++pos_;
            }
        };
        digits();
        // A fraction needs a digit after the point: `1..5` is a range.
        if (pos_ + 1 < in_.size() && in_[pos_] == '.' &&
            std::isdigit(static_cast<unsigned char>(in_[pos_ + 1])) != 0) {
            ++pos_;
            digits();
        }
        if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
            std::size_t p = pos_ + 1;
            if (p < in_.size() && (in_[p] == '+' || in_[p] == '-')) {
                ++p;
            }
            if (p < in_.size() && std::isdigit(static_cast<unsigned char>(in_[p])) != 0) {
                pos_ = p;
                digits();
            }
        }
        const std::string text(in_.substr(start, pos_ - start));
        t.type = tok::number;
        t.number = std::strtod(text.c_str(), nullptr);
        if (!std::isfinite(t.number)) {
            throw parse_error(t.column, "number out of range");
        }
        return t;
    }

    unsigned hex4(std::size_t at, std::size_t column) {
        if (at + 4 > in_.size()) {
            throw parse_error(column, "\\u needs four hex digits");
        }
        unsigned v = 0;
        for (std::size_t i = at; i < at + 4; ++i) {
            const char h = in_[i];
            v <<= 4;
            if (h >= '0' && h <= '9') {
                v |= static_cast<unsigned>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                v |= static_cast<unsigned>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
                v |= static_cast<unsigned>(h - 'A' + 10);
            } else {
                throw parse_error(column, "\\u needs four hex digits");
            }
        }
        return v;
    }

    // "..." with JSON's escapes.
    token string(token& t) {
        ++pos_;
        t.type = tok::string;
        while (true) {
            if (pos_ >= in_.size()) {
                throw parse_error(t.column, "string not closed: '\"' missing");
            }
            const char c = in_[pos_];
            if (c == '"') {
                ++pos_;
                return t;
            }
            if (c != '\\') {
                t.text += c;
                ++pos_;
                continue;
            }
            const std::size_t escape_column = pos_ + 1;
            if (pos_ + 1 >= in_.size()) {
                throw parse_error(t.column, "string not closed: '\"' missing");
            }
            const char e = in_[pos_ + 1];
            pos_ += 2;
            switch (e) {
            case '"': t.text += '"'; break;
            case '\\': t.text += '\\'; break;
            case '/': t.text += '/'; break;
            case 'b': t.text += '\b'; break;
            case 'f': t.text += '\f'; break;
            case 'n': t.text += '\n'; break;
            case 'r': t.text += '\r'; break;
            case 't': t.text += '\t'; break;
            case 'u': {
                std::uint32_t cp = hex4(pos_, escape_column);
                pos_ += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && pos_ + 1 < in_.size() && in_[pos_] == '\\' &&
                    in_[pos_ + 1] == 'u') {
                    const std::uint32_t low = hex4(pos_ + 2, pos_ + 1);
                    if (low >= 0xDC00 && low < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        pos_ += 6;
                    }
                }
                if (cp >= 0xD800 && cp < 0xE000) {
                    throw parse_error(escape_column, "a lone surrogate is not a character");
                }
                append_utf8(t.text, cp);
                break;
            }
            default: throw parse_error(escape_column, std::string("unknown escape '\\") + e + "'");
            }
        }
    }

    // /pattern/ or /pattern/i; `\/` stands for '/', every other escape is RE2's.
    token regex(token& t) {
        ++pos_;
        t.type = tok::regex;
        while (true) {
            if (pos_ >= in_.size()) {
                throw parse_error(t.column, "regular expression not closed: '/' missing");
            }
            const char c = in_[pos_];
            if (c == '/') {
                ++pos_;
                break;
            }
            if (c == '\\' && pos_ + 1 < in_.size()) {
                if (in_[pos_ + 1] == '/') {
                    t.text += '/';
                } else {
                    t.text += c;
                    t.text += in_[pos_ + 1];
                }
                pos_ += 2;
                continue;
            }
            t.text += c;
            ++pos_;
        }
        while (pos_ < in_.size() && std::isalpha(static_cast<unsigned char>(in_[pos_])) != 0) {
            if (in_[pos_] != 'i') {
                throw parse_error(pos_ + 1, std::string("unknown regular expression flag '") +
                                                in_[pos_] + "' (only i)");
            }
            t.case_insensitive = true;
            ++pos_;
        }
        return t;
    }

    std::string_view in_;
    std::size_t pos_ = 0;
};

const std::unordered_map<std::string_view, field_id>& record_fields() {
    static const std::unordered_map<std::string_view, field_id> fields{
        {"type", field_id::type},
        {"conn", field_id::conn},
        {"ts", field_id::ts},
        {"dir", field_id::dir},
        {"seq", field_id::seq},
        {"offset", field_id::offset},
        {"fin", field_id::fin},
        {"rsv1", field_id::rsv1},
        {"rsv2", field_id::rsv2},
        {"rsv3", field_id::rsv3},
        {"opcode", field_id::opcode},
        {"op", field_id::op},
        {"masked", field_id::masked},
        {"mask", field_id::mask},
        {"len", field_id::len},
        {"compressed", field_id::compressed},
        {"data_len", field_id::data_len},
        {"frames", field_id::frames},
        {"text", field_id::text},
        {"hex", field_id::hex},
        {"base64", field_id::base64},
        {"payload", field_id::payload},
        {"truncated", field_id::truncated},
        {"close_code", field_id::close_code},
        {"close_reason", field_id::close_reason},
        {"code", field_id::code},
        {"message", field_id::message},
        {"fatal", field_id::fatal},
        {"reason", field_id::reason},
        {"bytes_c2s", field_id::bytes_c2s},
        {"bytes_s2c", field_id::bytes_s2c},
        {"frames_c2s", field_id::frames_c2s},
        {"frames_s2c", field_id::frames_s2c},
        {"client", field_id::client},
        {"upstream", field_id::upstream},
        {"method", field_id::method},
        {"target", field_id::target},
        {"status", field_id::status},
        {"request_headers", field_id::request_headers},
        {"response_headers", field_id::response_headers},
        {"subprotocol", field_id::subprotocol},
        {"extensions", field_id::extensions},
        {"deflate", field_id::deflate},
        {"tls", field_id::tls},
    };
    return fields;
}

const std::unordered_map<std::string_view, field_id>& handshake_fields() {
    static const std::unordered_map<std::string_view, field_id> fields{
        {"client", field_id::hs_client},         {"upstream", field_id::hs_upstream},
        {"method", field_id::hs_method},         {"target", field_id::hs_target},
        {"status", field_id::hs_status},         {"subprotocol", field_id::hs_subprotocol},
        {"extensions", field_id::hs_extensions},
    };
    return fields;
}

bool is_keyword(std::string_view name) {
    return name == "and" || name == "or" || name == "not" || name == "contains" ||
           name == "matches" || name == "in" || name == "true" || name == "false";
}

class parser {
  public:
    explicit parser(std::string_view text) : lex_(text) { advance(); }

    std::unique_ptr<node> parse() {
        if (cur_.type == tok::end) {
            throw parse_error(cur_.column, "empty expression");
        }
        auto root = parse_or();
        if (cur_.type != tok::end) {
            throw parse_error(cur_.column, "expected 'and', 'or' or the end, got " + shown(cur_));
        }
        return root;
    }

    bool uses_handshake = false;
    bool uses_json = false;

  private:
    void advance(bool regex_next = false) { cur_ = lex_.next(regex_next); }

    bool at_name(std::string_view name) const {
        return cur_.type == tok::name && cur_.text == name;
    }

    static std::string shown(const token& t) {
        switch (t.type) {
        case tok::end: return "the end";
        case tok::name: return "'" + t.text + "'";
        case tok::string: return "a string";
        case tok::number: return "a number";
        case tok::regex: return "a regular expression";
        case tok::lparen: return "'('";
        case tok::rparen: return "')'";
        case tok::lbrace: return "'{'";
        case tok::rbrace: return "'}'";
        case tok::lbracket: return "'['";
        case tok::rbracket: return "']'";
        case tok::comma: return "','";
        case tok::dot: return "'.'";
        case tok::dotdot: return "'..'";
        case tok::eq: return "'=='";
        case tok::ne: return "'!='";
        case tok::lt: return "'<'";
        case tok::le: return "'<='";
        case tok::gt: return "'>'";
        case tok::ge: return "'>='";
        }
        return "?";
    }

    void expect(tok type, const char* what) {
        if (cur_.type != type) {
            throw parse_error(cur_.column,
                              std::string("expected ") + what + ", got " + shown(cur_));
        }
        advance();
    }

    static std::unique_ptr<node> join(node::kind kind, std::unique_ptr<node> l,
                                      std::unique_ptr<node> r) {
        auto n = std::make_unique<node>();
        n->type = kind;
        n->left = std::move(l);
        n->right = std::move(r);
        return n;
    }

    // Parentheses and `not` nest by recursion here and in the evaluator, and each and/or adds a
    // level to the tree: both are bounded so that no expression can exhaust the stack.
    static constexpr int max_nesting = 100;
    static constexpr int max_operators = 1000;

    void count_operator() {
        if (++operators_ > max_operators) {
            throw parse_error(cur_.column, "more than 1000 'and'/'or' in one expression");
        }
    }

    std::unique_ptr<node> parse_or() {
        auto left = parse_and();
        while (at_name("or")) {
            count_operator();
            advance();
            left = join(node::kind::any_of, std::move(left), parse_and());
        }
        return left;
    }

    std::unique_ptr<node> parse_and() {
        auto left = parse_unary();
        while (at_name("and")) {
            count_operator();
            advance();
            left = join(node::kind::all_of, std::move(left), parse_unary());
        }
        return left;
    }

    std::unique_ptr<node> parse_unary() {
        if (at_name("not") || cur_.type == tok::lparen) {
            if (nesting_ == max_nesting) {
                throw parse_error(cur_.column, "nested more than 100 deep");
            }
            ++nesting_;
            std::unique_ptr<node> n;
            if (at_name("not")) {
                advance();
                n = join(node::kind::negation, parse_unary(), nullptr);
            } else {
                advance();
                n = parse_or();
                expect(tok::rparen, "')'");
            }
            --nesting_;
            return n;
        }
        if (at_name("true") || at_name("false")) {
            auto n = std::make_unique<node>();
            n->type = node::kind::constant;
            n->value.type = literal::kind::boolean;
            n->value.boolean = cur_.text == "true";
            advance();
            return n;
        }
        return parse_test();
    }

    std::unique_ptr<node> parse_test() {
        auto n = std::make_unique<node>();
        n->field = parse_field();
        const token op = cur_;
        switch (cur_.type) {
        case tok::eq: n->op = test_op::eq; break;
        case tok::ne: n->op = test_op::ne; break;
        case tok::lt: n->op = test_op::lt; break;
        case tok::le: n->op = test_op::le; break;
        case tok::gt: n->op = test_op::gt; break;
        case tok::ge: n->op = test_op::ge; break;
        case tok::name:
            if (cur_.text == "contains") {
                advance();
                if (cur_.type != tok::string) {
                    throw parse_error(cur_.column, "contains needs a string, got " + shown(cur_));
                }
                n->op = test_op::contains;
                n->value.type = literal::kind::string;
                n->value.string = cur_.text;
                advance();
                return n;
            }
            if (cur_.text == "matches") {
                advance(true);
                if (cur_.type != tok::regex) {
                    throw parse_error(cur_.column,
                                      "matches needs a regular expression /.../, got " +
                                          shown(cur_));
                }
                n->op = test_op::matches;
                RE2::Options options;
                options.set_log_errors(false);
                options.set_case_sensitive(!cur_.case_insensitive);
                n->regex = std::make_unique<RE2>(cur_.text, options);
                if (!n->regex->ok()) {
                    throw parse_error(cur_.column, "bad regular expression: " + n->regex->error());
                }
                advance();
                return n;
            }
            if (cur_.text == "in") {
                advance();
                n->op = test_op::in;
                parse_set(*n);
                return n;
            }
            return n; // a bare field; what follows is the caller's ('and', 'or', ...)
        default: return n;
        }
        advance();
        if (cur_.type != tok::string && cur_.type != tok::number && !at_name("true") &&
            !at_name("false")) {
            throw parse_error(cur_.column,
                              "expected a value (string, number, true or false) after " +
                                  shown(op) + ", got " + shown(cur_));
        }
        n->value = parse_literal();
        if (n->op != test_op::eq && n->op != test_op::ne &&
            n->value.type == literal::kind::boolean) {
            throw parse_error(op.column, shown(op) + " orders numbers and strings, not true/false");
        }
        return n;
    }

    literal parse_literal() {
        literal v;
        if (cur_.type == tok::string) {
            v.type = literal::kind::string;
            v.string = cur_.text;
        } else if (cur_.type == tok::number) {
            v.type = literal::kind::number;
            v.number = cur_.number;
        } else if (at_name("true") || at_name("false")) {
            v.type = literal::kind::boolean;
            v.boolean = cur_.text == "true";
        } else {
            throw parse_error(cur_.column,
                              "expected a value (string, number, true or false), got " +
                                  shown(cur_));
        }
        advance();
        return v;
    }

    void parse_set(node& n) {
        expect(tok::lbrace, "'{' after in");
        while (true) {
            set_member m;
            const token first = cur_;
            m.value = parse_literal();
            if (cur_.type == tok::dotdot) {
                if (first.type != tok::number) {
                    throw parse_error(first.column, "a range lo..hi is of numbers");
                }
                advance();
                if (cur_.type != tok::number) {
                    throw parse_error(cur_.column,
                                      "expected a number after '..', got " + shown(cur_));
                }
                m.range = true;
                m.low = first.number;
                m.high = cur_.number;
                advance();
            }
            n.set.push_back(std::move(m));
            if (cur_.type == tok::comma) {
                advance();
                continue;
            }
            expect(tok::rbrace, "',' or '}'");
            return;
        }
    }

    field_ref parse_field() {
        field_ref f;
        if (cur_.type != tok::name || is_keyword(cur_.text)) {
            throw parse_error(cur_.column, "expected a field name, got " + shown(cur_));
        }
        const token name = cur_;
        advance();
        if (name.text == "json") {
            uses_json = true;
            f.id = field_id::json;
            parse_json_path(f);
            return f;
        }
        if (name.text == "hs") {
            uses_handshake = true;
            expect(tok::dot, "'.' after hs (hs.target, hs.header[\"name\"], ...)");
            if (cur_.type != tok::name) {
                throw parse_error(cur_.column,
                                  "expected a handshake field after 'hs.', got " + shown(cur_));
            }
            if (cur_.text == "header") {
                advance();
                expect(tok::lbracket, "'[' after hs.header");
                if (cur_.type != tok::string) {
                    throw parse_error(cur_.column,
                                      "expected a header name in quotes, got " + shown(cur_));
                }
                f.id = field_id::hs_header;
                f.header = cur_.text;
                std::transform(f.header.begin(), f.header.end(), f.header.begin(), [](char c) {
                    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                });
                advance();
                expect(tok::rbracket, "']'");
                return f;
            }
            const auto& fields = handshake_fields();
            const auto it = fields.find(cur_.text);
            if (it == fields.end()) {
                throw parse_error(
                    cur_.column,
                    "unknown handshake field 'hs." + cur_.text +
                        "' (hs.target, hs.status, hs.subprotocol, hs.header[\"name\"], "
                        "hs.client, hs.upstream, hs.method, hs.extensions)");
            }
            f.id = it->second;
            advance();
            return f;
        }
        const auto& fields = record_fields();
        const auto it = fields.find(name.text);
        if (it == fields.end()) {
            throw parse_error(name.column, "unknown field '" + name.text + "'");
        }
        f.id = it->second;
        return f;
    }

    void parse_json_path(field_ref& f) {
        while (true) {
            if (cur_.type == tok::dot) {
                advance();
                if (cur_.type != tok::name) {
                    throw parse_error(cur_.column,
                                      "expected a member name after '.' (json[\"key\"] for "
                                      "others), got " +
                                          shown(cur_));
                }
                path_step s;
                s.key = cur_.text;
                f.path.push_back(std::move(s));
                advance();
            } else if (cur_.type == tok::lbracket) {
                advance();
                path_step s;
                if (cur_.type == tok::string) {
                    s.key = cur_.text;
                } else if (cur_.type == tok::number && cur_.number >= 0 &&
                           cur_.number == std::floor(cur_.number) && cur_.number < 1e15) {
                    s.is_index = true;
                    s.index = static_cast<std::size_t>(cur_.number);
                } else {
                    throw parse_error(cur_.column,
                                      "expected an index (0, 1, ...) or a member name in quotes, "
                                      "got " +
                                          shown(cur_));
                }
                advance();
                expect(tok::rbracket, "']'");
                f.path.push_back(std::move(s));
            } else {
                return;
            }
        }
    }

    lexer lex_;
    token cur_;
    int nesting_ = 0;
    int operators_ = 0;
};

} // namespace

std::string caret_lines(std::string_view expression, std::size_t column) {
    std::string out = "  ";
    out.append(expression);
    out += "\n  ";
    // Under a tab, a tab, so the caret lines up whatever the terminal's tab stops.
    for (std::size_t i = 0; i + 1 < column && i < expression.size(); ++i) {
        out += expression[i] == '\t' ? '\t' : ' ';
    }
    if (column > expression.size() + 1) {
        out.append(column - expression.size() - 1, ' ');
    }
    out += '^';
    return out;
}

std::shared_ptr<const expression> expression::compile(std::string_view text) {
    parser p(text);
    auto root = p.parse();
    auto e = std::make_shared<expression>(std::string(text), std::move(root));
    e->uses_handshake_ = p.uses_handshake;
    e->uses_json_ = p.uses_json;
    return e;
}

expression::expression(std::string text, std::unique_ptr<node> root)
    : text_(std::move(text)), root_(std::move(root)) {}

expression::~expression() = default;

} // namespace wssniff::filter
