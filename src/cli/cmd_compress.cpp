// kvscope compress: the compression lab. Measures what evicting or quantizing the KV cache
// costs the model's next-token distributions (see analysis/compress_*.hpp and
// capture/compress_protocol.hpp), and writes results.json, CSV, figures and a guide.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "kvscope/analysis/compress_experiment.hpp"
#include "kvscope/error.hpp"
#include "kvscope/report/compress_report.hpp"
#include "kvscope/report/report.hpp"

namespace kvscope::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultTextFile = "kjv-genesis.txt";

// $KVSCOPE_TEXT, else texts/kjv-genesis.txt beside the build folder (scripts/setup.sh makes it
// from Debian's bible-kjv), else in the working directory.
std::string default_text_path() {
  if (const char* env = std::getenv("KVSCOPE_TEXT"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      if (fs::exists(dir / "texts" / kDefaultTextFile))
        return (dir / "texts" / kDefaultTextFile).string();
  const fs::path local = fs::path("texts") / kDefaultTextFile;
  if (fs::exists(local)) return local.string();
  throw BadInput(fmt::format(
      "no --text-file or --prompt given and the default text (texts/{}, the King James Bible's "
      "Genesis) is not installed: run scripts/setup.sh",
      kDefaultTextFile));
}

std::string read_text(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw BadInput(fmt::format("--text-file {}: is a folder", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(fmt::format("--text-file {}: cannot read the file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void add_compress_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "compress",
      "Measure what evicting or quantizing the KV cache costs the model's next-token "
      "distributions (KL, top-1, perplexity), per method and budget");
  struct Opts {
    ModelOptions model;
    std::string text_file;
    std::string prompt;
    analysis::CompressOptions run;
    std::string out = "kvscope-compress";
    std::string ext = "png";
  };
  auto o = std::make_shared<Opts>();
  o->model.add_to(*cmd);
  auto* tf = cmd->add_option("--text-file", o->text_file,
                             "Text to score (default: Genesis, King James Bible, installed by "
                             "scripts/setup.sh)");
  auto* pr = cmd->add_option("-p,--prompt", o->prompt, "Text to score, given inline");
  tf->excludes(pr);
  cmd->add_option("-c,--context", o->run.protocol.context,
                  "Context tokens C per window (compressed)")
      ->capture_default_str();
  cmd->add_option("-s,--continuation", o->run.protocol.continuation,
                  "Continuation tokens S per window (scored, not compressed)")
      ->capture_default_str();
  cmd->add_option("-w,--windows", o->run.protocol.windows, "Windows of C + S + 1 tokens")
      ->capture_default_str();
  cmd->add_option("--methods", o->run.methods,
                  "Methods, comma-separated (default: every eviction rule and a grid of "
                  "quantizers); see README")
      ->delimiter(',');
  cmd->add_option("--budgets", o->run.budgets,
                  "Eviction budgets: share of the context removed in [0, 1), or tokens kept (>= 1)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--sinks", o->run.sinks, "Sink tokens kept by streaming_llm")
      ->capture_default_str();
  cmd->add_option("--seed", o->run.seed, "Seed of the random method")->capture_default_str();
  cmd->add_option("--sensitivity", o->run.sensitivity,
                  "METHOD@BUDGET (or a quantizer alone): apply it to one layer at a time");
  cmd->add_option("-l,--layer", o->run.layer,
                  "With --sensitivity: also apply it to one KV head at a time of this layer");
  cmd->add_option("-o,--out", o->out, "Output folder")->capture_default_str();
  cmd->add_option("--format", o->ext, "Figure format: png, svg or pdf")->capture_default_str();

  cmd->callback([o, pr]() {
    if (o->ext != "png" && o->ext != "svg" && o->ext != "pdf")
      throw BadInput(fmt::format("--format {}: expected png, svg or pdf", o->ext));
    if (o->run.layer < -1) throw BadInput(fmt::format("--layer {} is out of range", o->run.layer));
    report::CompressInfo info;
    info.ext = o->ext;
    std::string text;
    if (pr->count() > 0) {
      text = o->prompt;
      info.text = "--prompt";
    } else {
      const std::string path = o->text_file.empty() ? default_text_path() : o->text_file;
      text = read_text(path);
      info.text = fs::path(path).filename().string();
    }
    if (text.empty()) throw BadInput("the text is empty");

    const bool tty = stderr_is_terminal();
    auto say = [tty](const std::string& s) {
      if (tty) {
        std::fprintf(stderr, "\r\033[K%s", s.c_str());
        std::fflush(stderr);
      }
    };
    say("loading the model...");
    capture::LoadedModel m = load(o->model);
    const model::Config& cfg = m.model.config();
    info.model = o->model.model.empty() ? fs::path(m.path).filename().string() : o->model.model;
    const analysis::CompressPlan plan = analysis::plan_compress(o->run, cfg);
    const std::vector<int32_t> ids = m.tokenizer.encode(text, true);
    capture::check_protocol(plan.protocol, cfg, static_cast<int64_t>(ids.size()));
    // The folder's messages name the option field "out"; here it is the flag.
    auto output_folder = [&] {
      try {
        return report::compress_output_folder(o->out);
      } catch (const BadInput& e) {
        throw BadInput("--" + std::string(e.what()));
      }
    };
    AtomicFolder out = output_folder();

    const analysis::CompressReport rep =
        analysis::run_compress(m, ids, plan, o->run, [&](int64_t done, int64_t total) {
          const int width = 30;
          const int fill = static_cast<int>(width * static_cast<double>(done) / total);
          say(fmt::format("compress [{}{}] {:3.0f}% ({} methods, {} windows)",
                          std::string(static_cast<size_t>(fill), '#'),
                          std::string(static_cast<size_t>(width - fill), ' '),
                          100.0 * static_cast<double>(done) / total, plan.jobs.size(),
                          plan.protocol.windows));
        });
    const std::vector<std::string> files = report::write_compress_report(
        rep, info, out, [&](const std::string& f) { say(fmt::format("writing {}", f)); });
    if (tty) std::fprintf(stderr, "\r\033[K");
    std::fputs(report::compress_table_text(rep).c_str(), stdout);
    fmt::print(
        "wrote {} files to {}/ (prefill {:.2f} s, continuations {:.2f} s, methods {:.2f} s, "
        "scoring {:.2f} s)\n",
        files.size(), o->out, rep.times.prefill_s, rep.times.continuation_s, rep.times.jobs_s,
        rep.times.scoring_s);
  });
}

}  // namespace kvscope::cli
