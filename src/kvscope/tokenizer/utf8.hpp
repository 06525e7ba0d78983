// UTF-8 helpers for the tokenizers and everything that shows token text: validation, lossy
// repair, labels with visible whitespace, and the GPT-2 byte <-> character map of byte-level
// BPE.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvscope::tokenizer {

// Length in bytes of the well-formed UTF-8 sequence starting at s[i], or 0 when the bytes
// there are not one (bad lead byte, bad continuation, overlong, surrogate, truncated).
size_t utf8_sequence_length(std::string_view s, size_t i);

// Byte offset of the first ill-formed byte, or s.size() when s is valid UTF-8.
size_t utf8_first_invalid(std::string_view s);

// Like Rust's String::from_utf8_lossy: each maximal ill-formed subpart becomes U+FFFD.
std::string utf8_lossy(std::string_view s);

// Length of the longest prefix of s that can be emitted now: everything except a trailing
// sequence that is still a valid start of a character and may be completed by more bytes.
size_t utf8_complete_prefix(std::string_view s);

// A token's text made readable as a label: ' ' -> '␣', '\n' -> '↵', '\t' -> '→', '\r' -> '␍',
// other control bytes and bytes that are not UTF-8 -> "<0xNN>"; the rest kept. The one rule
// for token text on figures and in tables.
std::string visible_label(std::string_view bytes);

// "<0xNN>": how a single byte is named (SentencePiece's byte tokens, labels of stray bytes).
std::string hex_byte_label(uint8_t b);

// Appends the UTF-8 encoding of code point cp.
void append_utf8(std::string& out, uint32_t cp);

// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes map to
// themselves, the rest to U+0100 + n in byte order (so ' ' -> 'Ġ', '\n' -> 'Ċ').
const std::array<std::string, 256>& byte_level_chars();

// Inverse of byte_level_chars: the byte a code point stands for, or -1.
int byte_level_byte(uint32_t code_point);

// The bytes a byte-level vocabulary string stands for: each character of the map back to its
// byte; characters outside the map, and bytes that are not UTF-8, kept as they are.
std::string byte_level_bytes(std::string_view s);

// Decodes the code point at s[i] (which must be well formed) and advances i.
uint32_t utf8_next(std::string_view s, size_t& i);

}  // namespace kvscope::tokenizer
