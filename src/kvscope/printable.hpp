// Text from files and users (paths, tensor and token names, metadata) made safe to put in a
// one-line message: control characters and newlines escaped, length bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kvscope {

// At most about max_chars characters of s (never cutting a UTF-8 sequence, "..." when cut),
// with '\n' as \n, other control bytes as \xNN, and '\\' and '"' escaped, so the result can
// be quoted: "config.json: field 'a\nb'" stays on one line.
std::string printable(std::string_view s, size_t max_chars = 200);

// A whole message kept on one line: control bytes escaped as printable() does, everything
// else (quotes, backslashes, UTF-8) left as it is. The command line passes every error
// message through it, so no path or name can split the line or reach the terminal raw.
std::string one_line(std::string_view message);

}  // namespace kvscope
