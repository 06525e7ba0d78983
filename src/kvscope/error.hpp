// Typed errors of the kvscope library. The library never prints and never exits: it
// throws one of these, and the CLI turns it into one line on stderr and an exit code
// (2 for BadInput and Unsupported, 1 for IoError and anything else).
//
// A message names what was wrong: the file, the field and the value, e.g.
//   "model.safetensors: tensor 'h.0.attn.c_attn.weight': data_offsets [0, 99999] past end of file
//   (4096 bytes)"
#pragma once

#include <stdexcept>
#include <string>

namespace kvscope {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// The user gave us something wrong: a path, a corrupt or lying file, an absurd option.
class BadInput : public Error {
 public:
  explicit BadInput(const std::string& what) : Error(what) {}
};

// Well-formed input that kvscope does not handle (an architecture, a tensor type).
class Unsupported : public Error {
 public:
  explicit Unsupported(const std::string& what) : Error(what) {}
};

// The operating system or network failed us (read, write, download).
class IoError : public Error {
 public:
  explicit IoError(const std::string& what) : Error(what) {}
};

}  // namespace kvscope
