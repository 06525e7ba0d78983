#include "kvscope/report/figures.hpp"

namespace kvscope::report {

namespace {

// Calls a builder with the inputs it takes.
plot::Figure call(plot::Figure (*f)(const capture::Capture&, const Bundle&, const ReportOptions&),
                  const FigureInput& in) {
  return f(in.cap, in.b, in.opt);
}
plot::Figure call(plot::Figure (*f)(const capture::Capture&, const Bundle&,
                                    const capture::GenerationTrace&, const ReportOptions&),
                  const FigureInput& in) {
  return f(in.cap, in.b, *in.trace, in.opt);
}

constexpr bool heavy = true, light = false;

#define FIGURE(stem, needs, weight, title, shows, read, look_for, numbers) \
  FigureSpec{#stem,                                                        \
             Needs::needs,                                                 \
             weight,                                                       \
             [](const FigureInput& in) { return call(build_##stem, in); }, \
             {title, shows, read, look_for, numbers}},
const FigureSpec kFigures[] = {
#include "kvscope/report/figure_table.inc"
};
#undef FIGURE

}  // namespace

bool FigureSpec::applies(bool has_attention, bool has_generation) const {
  return needs == Needs::always || (needs == Needs::attention && has_attention) ||
         (needs == Needs::generation && has_generation);
}

std::span<const FigureSpec> figure_table() {
  return kFigures;
}

}  // namespace kvscope::report
