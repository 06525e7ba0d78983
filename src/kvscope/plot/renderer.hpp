// Internal to plot/: draws a computed layout onto any Cairo context (image, SVG or PDF).
#pragma once

#include <cairo.h>

#include "kvscope/plot/figure.hpp"
#include "kvscope/plot/layout_engine.hpp"
#include "kvscope/plot/text_engine.hpp"

namespace kvscope::plot::detail {

// cr's user space must be figure units. device_scale is device pixels per figure unit (for
// choosing how heatmap cells are resampled); 0 for vector output.
void render(cairo_t* cr, const FullLayout& layout, TextEngine& te, const FigureStyle& style,
            double device_scale);

}  // namespace kvscope::plot::detail
