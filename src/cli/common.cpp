#include "cli/common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/regular_file.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope::cli {

namespace fs = std::filesystem;

const char* const kNewsPrompt =
    "Article: A car crash occurred on Highway 15 today, involving three cars. Authorities were "
    "called to the scene "
    "shortly after the crash was reported, and an investigation is underway to determine the cause "
    "of the accident. "
    "Paramedics arrived on the scene, offering medical assistance to those involved in the crash, "
    "and all three "
    "individuals were taken to the nearby hospital for further treatment. TL;DR:";

namespace {
constexpr const char* kDefaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";
}

const std::vector<InstalledModel>& installed_model_names() {
  static const std::vector<InstalledModel> models = {
      {"smollm2-135m", kDefaultModelFile, "SmolLM2-135M-Instruct, Q4_1 (the default)"},
      {"gemma3-270m", "gemma-3-270m-q4_k_m.gguf",
       "Gemma 3 270M, Q4_K_M (5 of 6 layers slide over 512 tokens)"},
  };
  return models;
}

std::optional<std::string> find_installed(const std::string& file) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path()) {
      const fs::path candidate = dir / "models" / file;
      if (fs::exists(candidate)) return candidate.string();
    }
  }
  const fs::path local = fs::path("models") / file;
  if (fs::exists(local)) return local.string();
  return std::nullopt;
}

std::string default_model_path() {
  if (const char* env = std::getenv("KVSCOPE_MODEL"); env && *env) return env;
  if (auto path = find_installed(kDefaultModelFile)) return *path;
  throw BadInput(fmt::format(
      "no --model given and the default model ({}) is not installed: run scripts/setup.sh",
      kDefaultModelFile));
}

std::string resolve_model(const std::string& spec) {
  if (spec.empty()) return default_model_path();
  std::error_code ec;
  if (fs::exists(spec, ec)) return spec;  // a folder or file of that name wins
  for (const InstalledModel& m : installed_model_names()) {
    if (spec != m.name) continue;
    if (auto path = find_installed(m.file)) return *path;
    throw BadInput(
        fmt::format("--model {}: {} is not installed: run scripts/setup.sh", spec, m.file));
  }
  return spec;
}

void ModelOptions::add_to(CLI::App& cmd) {
  option = cmd.add_option("-m,--model", model,
                          "Installed model name (smollm2-135m, gemma3-270m: see kvscope models), "
                          "Hugging Face model folder, Hub id (e.g. gpt2) or GGUF file (default: "
                          "smollm2-135m)");
}

void ModelOptions::validate() const {
  if (option && option->count() > 0 && model.empty())
    throw BadInput("--model: empty name (leave the option out for the default model)");
}

CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        const bool digits =
            !s.empty() && s.size() <= 19 &&
            std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
        if (!digits) return fmt::format("'{}' is not a whole number from 0 up", s);
        return {};
      },
      "N>=0");
}

bool stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000.0 && u < 4) {
    b /= 1000.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

capture::LoadedModel load(const ModelOptions& o) {
  io::HubOptions hub = io::hub_options_from_env();
  if (stderr_is_terminal()) {
    hub.progress = [](const std::string& file, int64_t done, int64_t total) {
      if (total > 0) {
        const int width = 30;
        const int fill =
            static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total));
        std::fprintf(stderr, "\r%-28.28s [%s%s] %s / %s", file.c_str(),
                     std::string(static_cast<size_t>(fill), '#').c_str(),
                     std::string(static_cast<size_t>(width - fill), ' ').c_str(),
                     human_bytes(static_cast<double>(done)).c_str(),
                     human_bytes(static_cast<double>(total)).c_str());
      } else {
        std::fprintf(stderr, "\r%-28.28s %s", file.c_str(),
                     human_bytes(static_cast<double>(done)).c_str());
      }
      if (total > 0 && done >= total) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    };
  }
  o.validate();
  return capture::load_model(resolve_model(o.model), hub);
}

void PromptOptions::add_to(CLI::App& cmd, const std::string& default_prompt) {
  prompt = default_prompt;
  auto* p = cmd.add_option("-p,--prompt", prompt, "Prompt text");
  file_option = cmd.add_option("--prompt-file", prompt_file, "Read the prompt from a file");
  p->excludes(file_option);
}

std::string PromptOptions::text() const {
  if (file_option && file_option->count() > 0) {
    if (prompt_file.empty()) throw BadInput("--prompt-file: empty file name");
    std::string t;
    try {
      t = io::read_regular_file(prompt_file, io::kMaxPromptBytes, "prompt file");
    } catch (const BadInput& e) {
      throw BadInput(fmt::format("--prompt-file {}", e.what()));
    }
    if (t.empty()) throw BadInput(fmt::format("--prompt-file {}: the file is empty", prompt_file));
    if (const size_t bad = tokenizer::utf8_first_invalid(t); bad < t.size())
      throw BadInput(fmt::format("--prompt-file {}: not UTF-8 text (byte {} is 0x{:02x})",
                                 prompt_file, bad, static_cast<unsigned char>(t[bad])));
    return t;
  }
  if (prompt.empty()) throw BadInput("the prompt is empty");
  if (const size_t bad = tokenizer::utf8_first_invalid(prompt); bad < prompt.size())
    throw BadInput(fmt::format("--prompt: not UTF-8 text (byte {} is 0x{:02x})", bad,
                               static_cast<unsigned char>(prompt[bad])));
  return prompt;
}

}  // namespace kvscope::cli
