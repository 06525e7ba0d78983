// Pieces every subcommand shares: the --model option and its default, loading with a
// download progress bar, reading the prompt, and terminal progress on stderr.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "kvscope/capture/loaded_model.hpp"

namespace kvscope::cli {

// The default model: $KVSCOPE_MODEL if set, else models/SmolLM2-135M-Instruct.Q4_1.gguf next
// to the build folder (where scripts/setup.sh puts it), else in the working directory.
std::string default_model_path();

struct ModelOptions {
  std::string model;  // empty = default
  void add_to(CLI::App& cmd);
};

// Loads the model, drawing a download progress bar on stderr when it is a terminal.
capture::LoadedModel load(const ModelOptions& o);

struct PromptOptions {
  std::string prompt;
  std::string prompt_file;
  void add_to(CLI::App& cmd, const std::string& default_prompt);
  // The prompt text; throws BadInput for an unreadable file or an empty prompt.
  std::string text() const;
};

// The notebook seed's news-article prompt.
extern const char* const kNewsPrompt;

bool stderr_is_terminal();

// Formats a byte count as "73.7 KB", "1.2 GB".
std::string human_bytes(double bytes);

}  // namespace kvscope::cli
