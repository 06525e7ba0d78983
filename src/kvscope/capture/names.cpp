#include "kvscope/capture/names.hpp"

#include <fmt/format.h>

namespace kvscope::capture {

std::string hook_name(int layer, Hook hook) {
  const char* leaf = "";
  switch (hook) {
    case Hook::K:
      leaf = "attn.k";
      break;
    case Hook::KPreRope:
      leaf = "attn.k_pre_rope";
      break;
    case Hook::V:
      leaf = "attn.v";
      break;
    case Hook::Pattern:
      leaf = "attn.pattern";
      break;
    case Hook::ResidPost:
      leaf = "resid_post";
      break;
  }
  return fmt::format("blocks.{}.{}", layer, leaf);
}

}  // namespace kvscope::capture
