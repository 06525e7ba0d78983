// Internal to plot/: a PNG encoder for Cairo image surfaces, built for speed on figures.
//
// Cairo's own writer goes through libpng at zlib's default level with adaptive filters,
// which on our noise-like heatmaps costs several times more than the drawing and saves
// little: these images barely compress either way. This one writes 8-bit RGB when every
// pixel is opaque (RGBA with straight alpha otherwise, un-premultiplied as Cairo does),
// every row with the Up filter, deflated at a low level (run-length only where a band is
// mostly noise) in row bands that are compressed on separate threads and joined into one
// zlib stream. The bytes depend only on the image and the level, never on the thread count.
#pragma once

#include <cairo.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kvscope::plot::detail {

struct PngOptions {
  int level = 1;    // zlib compression level, 0 (stored) to 9
  int threads = 0;  // threads deflating bands of a large image; 0: the hardware's, at most 4
};

// Encodes an image surface (CAIRO_FORMAT_ARGB32 or RGB24) as a complete PNG file in memory.
// Throws BadInput for another format or a surface in an error state.
std::vector<uint8_t> encode_png(cairo_surface_t* surface, const PngOptions& opt = {});

// encode_png written atomically to `path`: BadInput naming the path when its folder cannot
// take a new file, IoError when writing fails; nothing is left under `path` on failure.
void write_png(cairo_surface_t* surface, const std::string& path, const PngOptions& opt = {});

}  // namespace kvscope::plot::detail
