#include "cli/common.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "kvscope/error.hpp"

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

std::string default_model_path() {
  if (const char* env = std::getenv("KVSCOPE_MODEL"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path()) {
      const fs::path candidate = dir / "models" / kDefaultModelFile;
      if (fs::exists(candidate)) return candidate.string();
    }
  }
  const fs::path local = fs::path("models") / kDefaultModelFile;
  if (fs::exists(local)) return local.string();
  throw BadInput(fmt::format(
      "no --model given and the default model ({}) is not installed: run scripts/setup.sh",
      kDefaultModelFile));
}

void ModelOptions::add_to(CLI::App& cmd) {
  cmd.add_option("-m,--model", model,
                 "Hugging Face model folder, Hub id (e.g. gpt2) or GGUF file (default: "
                 "SmolLM2-135M-Instruct Q4_1)");
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
  return capture::load_model(o.model.empty() ? default_model_path() : o.model, hub);
}

void PromptOptions::add_to(CLI::App& cmd, const std::string& default_prompt) {
  prompt = default_prompt;
  auto* p = cmd.add_option("-p,--prompt", prompt, "Prompt text");
  auto* f = cmd.add_option("--prompt-file", prompt_file, "Read the prompt from a file");
  p->excludes(f);
}

std::string PromptOptions::text() const {
  std::string t = prompt;
  if (!prompt_file.empty()) {
    std::ifstream in(prompt_file, std::ios::binary);
    if (!in) throw BadInput(fmt::format("--prompt-file {}: cannot read the file", prompt_file));
    std::stringstream ss;
    ss << in.rdbuf();
    t = ss.str();
  }
  if (t.empty()) throw BadInput("the prompt is empty");
  return t;
}

}  // namespace kvscope::cli
