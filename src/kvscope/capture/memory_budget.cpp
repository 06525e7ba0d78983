#include "kvscope/capture/memory_budget.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/regular_file.hpp"

namespace kvscope::capture {

namespace {

// "8G", "512M", "1000000": bytes, or -1 if it is not such a number.
int64_t parse_size(const std::string& s) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return -1;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  double scale = 1;
  std::string suffix(end);
  if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.pop_back();
  if (suffix == "K" || suffix == "k")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "m")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "g")
    scale = 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "t")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!suffix.empty())
    return -1;
  const double bytes = v * scale;
  if (!(bytes >= 0) || bytes > 9.0e18) return -1;
  return static_cast<int64_t>(bytes);
}

// MemAvailable from /proc/meminfo in bytes, or -1.
int64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return -1;
}

std::string bytes_text(double b) {
  return io::byte_count_text(b);
}

}  // namespace

int64_t memory_budget(std::string* source) {
  if (const char* env = std::getenv("KVSCOPE_MEMORY_LIMIT"); env && *env) {
    const int64_t v = parse_size(env);
    if (v < 0)
      throw BadInput(fmt::format(
          "KVSCOPE_MEMORY_LIMIT={}: expected a size in bytes, optionally with K, M, G or T", env));
    if (source) *source = "KVSCOPE_MEMORY_LIMIT";
    return v;
  }
  if (const int64_t avail = mem_available(); avail > 0) {
    if (source) *source = "available memory";
    return avail;
  }
  if (source) *source = "physical memory";
  return physical_memory();
}

int64_t physical_memory() {
  return static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
}

void require_weights_fit(double weight_bytes, std::string_view what) {
  const int64_t ram = physical_memory();
  if (ram <= 0 || weight_bytes <= static_cast<double>(ram)) return;
  throw BadInput(fmt::format(
      "{}: its weights take {} as stored, more than this machine's {} of memory: use a smaller or "
      "more strongly quantized model",
      what, bytes_text(weight_bytes), bytes_text(static_cast<double>(ram))));
}

void require_memory(const std::vector<MemoryPart>& parts, std::string_view what,
                    std::string_view remedy) {
  double total = 0;
  for (const MemoryPart& p : parts) total += p.bytes;
  std::string source;
  const int64_t budget = memory_budget(&source);
  if (total <= static_cast<double>(budget)) return;
  std::string detail;
  for (const MemoryPart& p : parts)
    detail += fmt::format("{}{} {}", detail.empty() ? "" : ", ", p.name, bytes_text(p.bytes));
  throw BadInput(fmt::format("{} needs {} ({}), more than the memory budget of {} ({}): {}", what,
                             bytes_text(total), detail, bytes_text(static_cast<double>(budget)),
                             source, remedy));
}

int64_t max_prompt_bytes(const LoadedModel& m) {
  size_t longest = 1;
  for (int32_t id = 0; id < m.tokenizer.vocab_size(); ++id)
    longest = std::max(longest, m.tokenizer.token_bytes(id).size());
  // Normalisers can shorten text (NFKC turns the 3-byte 'ﬁ' into "fi"): a margin of 4.
  return static_cast<int64_t>(m.model.config().n_ctx) * static_cast<int64_t>(longest) * 4 + 64;
}

void check_prompt_bytes(const LoadedModel& m, size_t prompt_bytes) {
  // Short prompts need no look at the vocabulary.
  if (prompt_bytes <= static_cast<size_t>(m.model.config().n_ctx)) return;
  const int64_t max = max_prompt_bytes(m);
  if (static_cast<int64_t>(prompt_bytes) > max)
    throw BadInput(fmt::format(
        "the prompt has {} bytes, more than the model's context length of {} tokens can hold "
        "(at most {} bytes with this tokenizer): use a shorter prompt",
        prompt_bytes, m.model.config().n_ctx, max));
}

}  // namespace kvscope::capture
