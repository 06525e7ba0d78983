// Pieces every subcommand shares: the --model option and its default, loading with a
// download progress bar, reading the prompt, and terminal progress on stderr.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kvscope/capture/loaded_model.hpp"

namespace kvscope::cli {

// The default model: $KVSCOPE_MODEL if set, else models/SmolLM2-135M-Instruct.Q4_1.gguf next
// to the build folder (where scripts/setup.sh puts it), else in the working directory.
std::string default_model_path();

// Models scripts/setup.sh installs into models/, by the short name --model accepts.
struct InstalledModel {
  const char* name;         // "gemma3-270m"
  const char* file;         // under models/
  const char* description;  // one line for `kvscope models`
};
const std::vector<InstalledModel>& installed_model_names();
// The path of an installed model file (next to the build folder, else ./models/), if present.
std::optional<std::string> find_installed(const std::string& file);
// What --model names: the default model when empty, an existing path as it is, an installed
// model by its short name (BadInput when not installed), else the spec unchanged (a Hub id).
std::string resolve_model(const std::string& spec);

struct ModelOptions {
  std::string model;  // empty = default
  CLI::Option* option = nullptr;
  void add_to(CLI::App& cmd);
  // BadInput for `--model ''` (given, but empty: not the default model).
  void validate() const;
};

// Loads the model, drawing a download progress bar on stderr when it is a terminal.
capture::LoadedModel load(const ModelOptions& o);

struct PromptOptions {
  std::string prompt;
  std::string prompt_file;
  CLI::Option* file_option = nullptr;
  void add_to(CLI::App& cmd, const std::string& default_prompt);
  // The prompt text, valid UTF-8; throws BadInput naming --prompt or the file for an empty
  // prompt, invalid UTF-8, or a --prompt-file that is missing, a folder, not a regular file or
  // larger than io::kMaxPromptBytes.
  std::string text() const;
};

// The notebook seed's news-article prompt.
extern const char* const kNewsPrompt;

// An option value written as a plain decimal number without a sign: "-1" is refused rather
// than read as a special value or wrapped around into an unsigned one (CLI11 reads "-1" into
// a uint64_t as 2^64 - 1, and "010" as 8).
CLI::Validator non_negative_integer();

bool stderr_is_terminal();

// Formats a byte count as "73.7 KB", "1.2 GB".
std::string human_bytes(double bytes);

}  // namespace kvscope::cli
