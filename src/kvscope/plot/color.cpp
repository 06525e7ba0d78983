#include "kvscope/plot/color.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kvscope/error.hpp"

namespace kvscope::plot {
namespace {

// Published colormap tables (matplotlib's viridis and magma by van der Walt and Smith,
// 256 samples each, rounded to 8 bits; Moreland's coolwarm at 33 control points).
constexpr uint32_t kViridis[256] = {
    0x440154, 0x440256, 0x450457, 0x450559, 0x46075a, 0x46085c, 0x460a5d, 0x460b5e, 0x470d60,
    0x470e61, 0x471063, 0x471164, 0x471365, 0x481467, 0x481668, 0x481769, 0x48186a, 0x481a6c,
    0x481b6d, 0x481c6e, 0x481d6f, 0x481f70, 0x482071, 0x482173, 0x482374, 0x482475, 0x482576,
    0x482677, 0x482878, 0x482979, 0x472a7a, 0x472c7a, 0x472d7b, 0x472e7c, 0x472f7d, 0x46307e,
    0x46327e, 0x46337f, 0x463480, 0x453581, 0x453781, 0x453882, 0x443983, 0x443a83, 0x443b84,
    0x433d84, 0x433e85, 0x423f85, 0x424086, 0x424186, 0x414287, 0x414487, 0x404588, 0x404688,
    0x3f4788, 0x3f4889, 0x3e4989, 0x3e4a89, 0x3e4c8a, 0x3d4d8a, 0x3d4e8a, 0x3c4f8a, 0x3c508b,
    0x3b518b, 0x3b528b, 0x3a538b, 0x3a548c, 0x39558c, 0x39568c, 0x38588c, 0x38598c, 0x375a8c,
    0x375b8d, 0x365c8d, 0x365d8d, 0x355e8d, 0x355f8d, 0x34608d, 0x34618d, 0x33628d, 0x33638d,
    0x32648e, 0x32658e, 0x31668e, 0x31678e, 0x31688e, 0x30698e, 0x306a8e, 0x2f6b8e, 0x2f6c8e,
    0x2e6d8e, 0x2e6e8e, 0x2e6f8e, 0x2d708e, 0x2d718e, 0x2c718e, 0x2c728e, 0x2c738e, 0x2b748e,
    0x2b758e, 0x2a768e, 0x2a778e, 0x2a788e, 0x29798e, 0x297a8e, 0x297b8e, 0x287c8e, 0x287d8e,
    0x277e8e, 0x277f8e, 0x27808e, 0x26818e, 0x26828e, 0x26828e, 0x25838e, 0x25848e, 0x25858e,
    0x24868e, 0x24878e, 0x23888e, 0x23898e, 0x238a8d, 0x228b8d, 0x228c8d, 0x228d8d, 0x218e8d,
    0x218f8d, 0x21908d, 0x21918c, 0x20928c, 0x20928c, 0x20938c, 0x1f948c, 0x1f958b, 0x1f968b,
    0x1f978b, 0x1f988b, 0x1f998a, 0x1f9a8a, 0x1e9b8a, 0x1e9c89, 0x1e9d89, 0x1f9e89, 0x1f9f88,
    0x1fa088, 0x1fa188, 0x1fa187, 0x1fa287, 0x20a386, 0x20a486, 0x21a585, 0x21a685, 0x22a785,
    0x22a884, 0x23a983, 0x24aa83, 0x25ab82, 0x25ac82, 0x26ad81, 0x27ad81, 0x28ae80, 0x29af7f,
    0x2ab07f, 0x2cb17e, 0x2db27d, 0x2eb37c, 0x2fb47c, 0x31b57b, 0x32b67a, 0x34b679, 0x35b779,
    0x37b878, 0x38b977, 0x3aba76, 0x3bbb75, 0x3dbc74, 0x3fbc73, 0x40bd72, 0x42be71, 0x44bf70,
    0x46c06f, 0x48c16e, 0x4ac16d, 0x4cc26c, 0x4ec36b, 0x50c46a, 0x52c569, 0x54c568, 0x56c667,
    0x58c765, 0x5ac864, 0x5cc863, 0x5ec962, 0x60ca60, 0x63cb5f, 0x65cb5e, 0x67cc5c, 0x69cd5b,
    0x6ccd5a, 0x6ece58, 0x70cf57, 0x73d056, 0x75d054, 0x77d153, 0x7ad151, 0x7cd250, 0x7fd34e,
    0x81d34d, 0x84d44b, 0x86d549, 0x89d548, 0x8bd646, 0x8ed645, 0x90d743, 0x93d741, 0x95d840,
    0x98d83e, 0x9bd93c, 0x9dd93b, 0xa0da39, 0xa2da37, 0xa5db36, 0xa8db34, 0xaadc32, 0xaddc30,
    0xb0dd2f, 0xb2dd2d, 0xb5de2b, 0xb8de29, 0xbade28, 0xbddf26, 0xc0df25, 0xc2df23, 0xc5e021,
    0xc8e020, 0xcae11f, 0xcde11d, 0xd0e11c, 0xd2e21b, 0xd5e21a, 0xd8e219, 0xdae319, 0xdde318,
    0xdfe318, 0xe2e418, 0xe5e419, 0xe7e419, 0xeae51a, 0xece51b, 0xefe51c, 0xf1e51d, 0xf4e61e,
    0xf6e620, 0xf8e621, 0xfbe723, 0xfde725,
};
constexpr uint32_t kMagma[256] = {
    0x000004, 0x010005, 0x010106, 0x010108, 0x020109, 0x02020b, 0x02020d, 0x03030f, 0x030312,
    0x040414, 0x050416, 0x060518, 0x06051a, 0x07061c, 0x08071e, 0x090720, 0x0a0822, 0x0b0924,
    0x0c0926, 0x0d0a29, 0x0e0b2b, 0x100b2d, 0x110c2f, 0x120d31, 0x130d34, 0x140e36, 0x150e38,
    0x160f3b, 0x180f3d, 0x19103f, 0x1a1042, 0x1c1044, 0x1d1147, 0x1e1149, 0x20114b, 0x21114e,
    0x221150, 0x241253, 0x251255, 0x271258, 0x29115a, 0x2a115c, 0x2c115f, 0x2d1161, 0x2f1163,
    0x311165, 0x331067, 0x341069, 0x36106b, 0x38106c, 0x390f6e, 0x3b0f70, 0x3d0f71, 0x3f0f72,
    0x400f74, 0x420f75, 0x440f76, 0x451077, 0x471078, 0x491078, 0x4a1079, 0x4c117a, 0x4e117b,
    0x4f127b, 0x51127c, 0x52137c, 0x54137d, 0x56147d, 0x57157e, 0x59157e, 0x5a167e, 0x5c167f,
    0x5d177f, 0x5f187f, 0x601880, 0x621980, 0x641a80, 0x651a80, 0x671b80, 0x681c81, 0x6a1c81,
    0x6b1d81, 0x6d1d81, 0x6e1e81, 0x701f81, 0x721f81, 0x732081, 0x752181, 0x762181, 0x782281,
    0x792282, 0x7b2382, 0x7c2382, 0x7e2482, 0x802582, 0x812581, 0x832681, 0x842681, 0x862781,
    0x882781, 0x892881, 0x8b2981, 0x8c2981, 0x8e2a81, 0x902a81, 0x912b81, 0x932b80, 0x942c80,
    0x962c80, 0x982d80, 0x992d80, 0x9b2e7f, 0x9c2e7f, 0x9e2f7f, 0xa02f7f, 0xa1307e, 0xa3307e,
    0xa5317e, 0xa6317d, 0xa8327d, 0xaa337d, 0xab337c, 0xad347c, 0xae347b, 0xb0357b, 0xb2357b,
    0xb3367a, 0xb5367a, 0xb73779, 0xb83779, 0xba3878, 0xbc3978, 0xbd3977, 0xbf3a77, 0xc03a76,
    0xc23b75, 0xc43c75, 0xc53c74, 0xc73d73, 0xc83e73, 0xca3e72, 0xcc3f71, 0xcd4071, 0xcf4070,
    0xd0416f, 0xd2426f, 0xd3436e, 0xd5446d, 0xd6456c, 0xd8456c, 0xd9466b, 0xdb476a, 0xdc4869,
    0xde4968, 0xdf4a68, 0xe04c67, 0xe24d66, 0xe34e65, 0xe44f64, 0xe55064, 0xe75263, 0xe85362,
    0xe95462, 0xea5661, 0xeb5760, 0xec5860, 0xed5a5f, 0xee5b5e, 0xef5d5e, 0xf05f5e, 0xf1605d,
    0xf2625d, 0xf2645c, 0xf3655c, 0xf4675c, 0xf4695c, 0xf56b5c, 0xf66c5c, 0xf66e5c, 0xf7705c,
    0xf7725c, 0xf8745c, 0xf8765c, 0xf9785d, 0xf9795d, 0xf97b5d, 0xfa7d5e, 0xfa7f5e, 0xfa815f,
    0xfb835f, 0xfb8560, 0xfb8761, 0xfc8961, 0xfc8a62, 0xfc8c63, 0xfc8e64, 0xfc9065, 0xfd9266,
    0xfd9467, 0xfd9668, 0xfd9869, 0xfd9a6a, 0xfd9b6b, 0xfe9d6c, 0xfe9f6d, 0xfea16e, 0xfea36f,
    0xfea571, 0xfea772, 0xfea973, 0xfeaa74, 0xfeac76, 0xfeae77, 0xfeb078, 0xfeb27a, 0xfeb47b,
    0xfeb67c, 0xfeb77e, 0xfeb97f, 0xfebb81, 0xfebd82, 0xfebf84, 0xfec185, 0xfec287, 0xfec488,
    0xfec68a, 0xfec88c, 0xfeca8d, 0xfecc8f, 0xfecd90, 0xfecf92, 0xfed194, 0xfed395, 0xfed597,
    0xfed799, 0xfed89a, 0xfdda9c, 0xfddc9e, 0xfddea0, 0xfde0a1, 0xfde2a3, 0xfde3a5, 0xfde5a7,
    0xfde7a9, 0xfde9aa, 0xfdebac, 0xfcecae, 0xfceeb0, 0xfcf0b2, 0xfcf2b4, 0xfcf4b6, 0xfcf6b8,
    0xfcf7b9, 0xfcf9bb, 0xfcfbbd, 0xfcfdbf,
};
constexpr std::array<double, 3> kCoolwarm[33] = {
    {0.2298057, 0.298717966, 0.753683153},   {0.26623388, 0.353094838, 0.801466763},
    {0.30386891, 0.406535296, 0.84495867},   {0.342804478, 0.458757618, 0.883725899},
    {0.38301334, 0.50941904, 0.917387822},   {0.424369608, 0.558148092, 0.945619588},
    {0.46666708, 0.604562568, 0.968154911},  {0.509635204, 0.648280772, 0.98478814},
    {0.552953156, 0.688929332, 0.995375608}, {0.596262162, 0.726149107, 0.999836203},
    {0.639176211, 0.759599947, 0.998151185}, {0.681291281, 0.788964712, 0.990363227},
    {0.722193294, 0.813952739, 0.976574709}, {0.761464949, 0.834302879, 0.956945269},
    {0.798691636, 0.849786142, 0.931688648}, {0.833466556, 0.860207984, 0.901068838},
    {0.865395197, 0.86541021, 0.865395561},  {0.897787179, 0.848937047, 0.820880546},
    {0.924127593, 0.827384882, 0.774508472}, {0.944468518, 0.800927443, 0.726736146},
    {0.958852946, 0.769767752, 0.678007945}, {0.96732803, 0.734132809, 0.628751763},
    {0.969954137, 0.694266682, 0.579375448}, {0.966811177, 0.650421156, 0.530263762},
    {0.958003065, 0.602842431, 0.481775914}, {0.943660866, 0.551750968, 0.434243684},
    {0.923944917, 0.49730856, 0.387970225},  {0.89904617, 0.439559467, 0.343229596},
    {0.869186849, 0.378313092, 0.300267182}, {0.834620542, 0.312874446, 0.259301199},
    {0.795631745, 0.24128379, 0.220525627},  {0.752534934, 0.157246067, 0.184115123},
    {0.705673158, 0.01555616, 0.150232812},
};
constexpr std::array<double, 3> kGreys[2] = {{1, 1, 1}, {0, 0, 0}};

std::vector<std::array<double, 3>> unpack(const uint32_t (&packed)[256]) {
  std::vector<std::array<double, 3>> out;
  out.reserve(256);
  for (uint32_t c : packed) {
    out.push_back({((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0, (c & 0xff) / 255.0});
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct Extremes {
  float lo, hi, minpos;  // min and max of the finite values, smallest positive; +-inf if none
};

// One pass over a heatmap's values (millions for a report), in independent lanes that the
// compiler turns into vector instructions: a value that is not finite (or not positive, for
// minpos) is replaced by the neutral element. The result is what a plain scan in order gives,
// down to the sign of a zero extreme (the first zero in the data).
Extremes finite_extremes(std::span<const float> data) {
  constexpr int kLanes = 16;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  float lo[kLanes], hi[kLanes], mp[kLanes];
  std::fill_n(lo, kLanes, kInf);
  std::fill_n(hi, kLanes, -kInf);
  std::fill_n(mp, kLanes, kInf);
  auto take = [&lo, &hi, &mp](int k, float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    // Exponent bits all set: infinite or NaN. (A test on the bits, unlike isfinite() or a
    // comparison, leaves the loop free of branches, so it vectorises.)
    const bool finite = (bits & 0x7f800000u) != 0x7f800000u;
    const float l = finite ? v : kInf, h = finite ? v : -kInf;
    const float q = finite && v > 0 ? v : kInf;
    lo[k] = l < lo[k] ? l : lo[k];
    hi[k] = h > hi[k] ? h : hi[k];
    mp[k] = q < mp[k] ? q : mp[k];
  };
  const size_t n = data.size(), whole = n / kLanes * kLanes;
  for (size_t i = 0; i < whole; i += kLanes)
    for (int k = 0; k < kLanes; ++k) take(k, data[i + static_cast<size_t>(k)]);
  for (size_t i = whole; i < n; ++i) take(static_cast<int>(i - whole), data[i]);
  Extremes e{kInf, -kInf, kInf};
  for (int k = 0; k < kLanes; ++k) {
    e.lo = lo[k] < e.lo ? lo[k] : e.lo;
    e.hi = hi[k] > e.hi ? hi[k] : e.hi;
    e.minpos = mp[k] < e.minpos ? mp[k] : e.minpos;
  }
  // An extreme of zero is the first zero met in order (no value below it came earlier).
  if (e.lo == 0 || e.hi == 0) {
    const float z = *std::find(data.begin(), data.end(), 0.0f);
    if (e.lo == 0) e.lo = z;
    if (e.hi == 0) e.hi = z;
  }
  return e;
}

}  // namespace

Color Color::hex(std::string_view s) {
  if ((s.size() != 7 && s.size() != 9) || s[0] != '#') {
    throw BadInput("colour '" + std::string(s) + "': expected #rrggbb or #rrggbbaa");
  }
  double ch[4] = {0, 0, 0, 1};
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) {
      throw BadInput("colour '" + std::string(s) + "': not a hex digit");
    }
    ch[i / 2] = (hi * 16 + lo) / 255.0;
  }
  return {ch[0], ch[1], ch[2], ch[3]};
}

std::string Color::to_hex() const {
  auto q = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 1.0) * 255)); };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", q(r), q(g), q(b));
  return buf;
}

Color palette(int i) {
  static constexpr uint32_t kTab10[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                          0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
  uint32_t c = kTab10[((i % 10) + 10) % 10];
  return {((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0, (c & 0xff) / 255.0, 1.0};
}

Colormap::Colormap(std::string name, std::span<const std::array<double, 3>> points, bool diverging)
    : name_(std::move(name)), points_(points), diverging_(diverging) {}

const Colormap& Colormap::viridis() {
  static const std::vector<std::array<double, 3>> pts = unpack(kViridis);
  static const Colormap cm("viridis", pts, false);
  return cm;
}

const Colormap& Colormap::magma() {
  static const std::vector<std::array<double, 3>> pts = unpack(kMagma);
  static const Colormap cm("magma", pts, false);
  return cm;
}

const Colormap& Colormap::coolwarm() {
  static const Colormap cm("coolwarm", kCoolwarm, true);
  return cm;
}

const Colormap& Colormap::greys() {
  static const Colormap cm("greys", kGreys, false);
  return cm;
}

const Colormap& Colormap::by_name(std::string_view name) {
  if (name == "viridis") return viridis();
  if (name == "magma") return magma();
  if (name == "coolwarm") return coolwarm();
  if (name == "greys") return greys();
  throw BadInput("colormap '" + std::string(name) +
                 "': unknown (known: viridis, magma, coolwarm, greys)");
}

Color Colormap::operator()(double t) const {
  if (std::isnan(t)) return {0, 0, 0, 0};
  t = std::clamp(t, 0.0, 1.0);
  double pos = t * static_cast<double>(points_.size() - 1);
  size_t i = std::min(static_cast<size_t>(pos), points_.size() - 2);
  double f = pos - static_cast<double>(i);
  const auto& a = points_[i];
  const auto& b = points_[i + 1];
  return {a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f, 1.0};
}

Norm Norm::resolve(std::span<const float> data) const {
  Norm n = *this;
  if (kind == Kind::power && !(gamma > 0 && std::isfinite(gamma))) {
    throw BadInput("power norm: gamma " + std::to_string(gamma) + " must be > 0");
  }
  if (kind == Kind::log &&
      ((!std::isnan(vmin) && !(vmin > 0)) || (!std::isnan(vmax) && !(vmax > 0)))) {
    throw BadInput("log norm: bounds [" + std::to_string(vmin) + ", " + std::to_string(vmax) +
                   "] must be > 0");
  }
  const Extremes e = finite_extremes(data);
  const double lo = e.lo, hi = e.hi, minpos = e.minpos;
  const double absmax = std::isfinite(lo) ? std::max(std::fabs(lo), std::fabs(hi)) : 0;
  if (kind == Kind::symmetric) {
    double h = std::max(std::fabs(n.vmin), std::fabs(n.vmax));
    if (std::isnan(h)) h = absmax;
    if (!(h > 0) || !std::isfinite(h)) h = 1;
    n.vmin = -h;
    n.vmax = h;
    return n;
  }
  if (kind == Kind::log) {
    if (std::isnan(n.vmin)) n.vmin = std::isfinite(minpos) ? minpos : 1e-3;
    if (std::isnan(n.vmax)) n.vmax = hi > 0 ? hi : n.vmin * 10;
    if (!(n.vmax > n.vmin)) n.vmax = n.vmin * 10;
    return n;
  }
  if (std::isnan(n.vmin)) n.vmin = std::isfinite(lo) ? lo : 0;
  if (std::isnan(n.vmax)) n.vmax = std::isfinite(hi) ? hi : 1;
  if (!(n.vmax > n.vmin)) {
    // A constant matrix still gets a colour: put it mid-map.
    double pad = n.vmin != 0 ? std::fabs(n.vmin) * 0.5 : 0.5;
    n.vmin -= pad;
    n.vmax += pad;
  }
  return n;
}

double Norm::operator()(double v) const {
  if (std::isnan(v)) return NAN;
  double t;
  switch (kind) {
    case Kind::log:
      if (!(v > 0)) return NAN;
      t = std::log(v / vmin) / std::log(vmax / vmin);
      break;
    case Kind::power:
      t = std::pow(std::clamp((v - vmin) / (vmax - vmin), 0.0, 1.0), gamma);
      break;
    default:
      t = (v - vmin) / (vmax - vmin);
  }
  return std::clamp(t, 0.0, 1.0);
}

double Norm::inverse(double t) const {
  switch (kind) {
    case Kind::log:
      return vmin * std::pow(vmax / vmin, t);
    case Kind::power:
      return vmin + (vmax - vmin) * std::pow(t, 1.0 / gamma);
    default:
      return vmin + (vmax - vmin) * t;
  }
}

}  // namespace kvscope::plot
