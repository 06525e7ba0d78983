"""report.html in a real browser (headless Chromium driven by selenium).

Writes the report of a tiny test model (exact maps, with --generate; and the same forced to
pooled maps) and of the default model (short prompt), opens each from disk and checks: no
console errors, no request leaves the file, every panel's screenshot has content, clicking a
head in the overview opens it, hovering a token highlights it in every panel, lock and unlock
(click, second click, Esc), the tooltip's weight equals the exported numbers, rows of the
exported map sum to 1, and PNG / SVG / CSV export (the buttons' downloads and the page's
export function).

Usage: report_test.py KVSCOPE_BINARY SOURCE_DIR   (needs chromium, chromedriver, selenium)
Exit 77 (skipped) when the browser or selenium is missing.
"""

import base64
import shutil
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:
    print("SKIP: selenium is not installed (scripts/test.sh puts it in the test environment)")
    sys.exit(77)

BIN, SRC = sys.argv[1], sys.argv[2]
CHROMEDRIVER = "/usr/bin/chromedriver"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what, flush=True)
    return cond


def png_pixels(data):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes): (w, h, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def pixel_spread(png):
    """Standard deviation of grey levels over a sample of pixels, and the count of distinct colours."""
    w, h, bpp, rows = png_pixels(png)
    vals, colours = [], set()
    for y in range(0, h, max(1, h // 120)):
        r = rows[y]
        for x in range(0, w, max(1, w // 120)):
            px = r[x * bpp:x * bpp + 3]
            colours.add(px)
            vals.append(sum(px) / 3)
    m = sum(vals) / len(vals)
    return (sum((v - m) ** 2 for v in vals) / len(vals)) ** 0.5, len(colours)


def analyze(out, model, prompt, *extra):
    t0 = time.time()
    r = subprocess.run([BIN, "analyze", "--model", model, "--prompt", prompt, "--out", out,
                        "--report-only", *extra], capture_output=True, text=True)
    check(r.returncode == 0, f"analyze {model} {extra}: {r.stderr.strip()}")
    print(f"analyze {os.path.basename(model)} {' '.join(extra)}: {time.time() - t0:.1f} s", flush=True)
    path = os.path.join(out, "report.html")
    check(os.path.isfile(path), f"{path} written")
    # --report-only: no figure files.
    check(not any(f.endswith(".png") and not f.startswith("compression_") for f in os.listdir(out)),
          f"{out}: --report-only wrote figures")
    return path


def browser(download_dir):
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1500",
              "--disable-gpu", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    opts.add_experimental_option("prefs", {"download.default_directory": download_dir,
                                           "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": download_dir})
    return d


def pointer_at(d, el, x, y, click=False):
    """Moves the mouse (and clicks) at (x, y) CSS pixels from el's top-left corner, scrolled into view."""
    d.execute_script("const r = arguments[0].getBoundingClientRect();"
                     "window.scrollBy(0, r.top + arguments[1] - window.innerHeight / 2)", el, y)
    vx, vy = d.execute_script("const r = arguments[0].getBoundingClientRect();"
                              "return [r.left + arguments[1], r.top + arguments[2]]", el, x, y)
    a = ActionBuilder(d)
    a.pointer_action.move_to_location(int(vx), int(vy))
    if click:
        a.pointer_action.click()
    a.perform()


def overlay_pixels(d, canvas_id):
    """Non-transparent pixels on an overlay canvas: what the page drew as the highlight."""
    return d.execute_script(
        "const c = document.getElementById(arguments[0]); const a = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 3; i < a.length; i += 4) if (a[i]) n++; return n;", canvas_id)


def check_report(d, path, name, shots, expect_mode, with_generation):
    d.get("file://" + path)
    for _ in range(200):
        if d.execute_script("return window.kvscope && window.kvscope.ready"):
            break
        time.sleep(0.05)
    check(d.execute_script("return window.kvscope && window.kvscope.ready"), f"{name}: page ready")
    meta = d.execute_script("return window.kvscope.meta.attention && window.kvscope.meta.attention.mode")
    check(meta == expect_mode, f"{name}: maps are {meta}, expected {expect_mode}")
    S = d.execute_script("return window.kvscope.meta.seq")
    L = d.execute_script("return window.kvscope.meta.n_layer")
    H = d.execute_script("return window.kvscope.meta.n_head")
    summary = d.find_element(By.ID, "summary").text
    check(("exact attention maps" if expect_mode == "exact" else "max-pooled maps") in summary,
          f"{name}: the page says which resolution it shows ({summary!r})")

    # Screenshots of every view have content.
    panels = ["p-overview", "p-head", "p-kv", "p-importance"] + (["p-generation"] if with_generation else [])
    for pid in panels:
        el = d.find_element(By.ID, pid)
        d.execute_script("arguments[0].scrollIntoView({block: 'start'})", el)
        png = el.screenshot_as_png
        with open(os.path.join(shots, f"{name}-{pid}.png"), "wb") as f:
            f.write(png)
        sd, colours = pixel_spread(png)
        check(sd > 8 and colours > 20, f"{name}: {pid} looks blank (grey sd {sd:.1f}, {colours} colours)")
    check(d.find_element(By.ID, "p-generation").is_displayed() == with_generation,
          f"{name}: generation panel shown iff --generate")

    # Clicking a head in the overview opens it.
    target = (min(1, L - 1), H - 1)
    cell = d.execute_script(
        "const c = arguments[0]; return window.kvscope.overviewCells().find(x => x.l === c[0] && x.h === c[1]);",
        list(target))
    pointer_at(d, d.find_element(By.ID, "ov-overlay"), cell["x"] + 5, cell["y"] + 5, click=True)
    st = d.execute_script("return [window.kvscope.state.layer, window.kvscope.state.head]")
    check(st == list(target), f"{name}: clicking head {target} opened {st}")
    check(d.find_element(By.ID, "head-title").text == f"Layer {target[0]}, head {target[1]}",
          f"{name}: head title after click")

    # Hovering a token highlights it in every panel.
    t = S // 2
    span = d.find_elements(By.CSS_SELECTOR, "#tokens span")[t]
    d.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", span)
    ActionChains(d).move_to_element(d.find_element(By.TAG_NAME, "h1")).perform()
    overlays = ["ov-overlay", "head-overlay", "kv-overlay", "imp-overlay"] + (["gen-overlay"] if with_generation else [])
    before = {c: overlay_pixels(d, c) for c in overlays}
    ActionChains(d).move_to_element(span).perform()
    check("hl" in span.get_attribute("class"), f"{name}: hovered token {t} highlighted in the strip")
    for c in overlays:
        after = overlay_pixels(d, c)
        check(after > before[c] + 20, f"{name}: hovering token {t} draws nothing on {c} ({before[c]} -> {after})")
    hover = d.execute_script("return window.kvscope.state.hover")
    check(hover == {"q": t, "k": t}, f"{name}: hover state {hover}")

    # Lock by click, unlock by a second click; lock again, unlock with Esc.
    ActionChains(d).click(span).perform()
    lock = d.find_element(By.ID, "lockstate").text
    check(lock.startswith(f"Locked on token") and f"({t})" in lock, f"{name}: locked state in words: {lock!r}")
    other = d.find_elements(By.CSS_SELECTOR, "#tokens span")[0]
    ActionChains(d).move_to_element(other).perform()
    check(d.execute_script("return window.kvscope.state.lock") == {"q": t, "k": t},
          f"{name}: the lock holds while the mouse moves on")
    check("lk" in span.get_attribute("class"), f"{name}: locked token marked")
    ActionChains(d).click(span).perform()
    check(d.execute_script("return window.kvscope.state.lock") is None, f"{name}: second click unlocks")
    check(d.find_element(By.ID, "lockstate").text.startswith("Nothing is locked"), f"{name}: unlocked in words")
    ActionChains(d).click(span).perform()
    ActionChains(d).send_keys(Keys.ESCAPE).perform()
    check(d.execute_script("return window.kvscope.state.lock") is None, f"{name}: Esc unlocks")

    # Tooltip on the map: its weight is the exported weight of the same cell.
    geo = d.execute_script("return window.kvscope.headGeometry()")
    q, k = S - 1, 0
    pointer_at(d, d.find_element(By.ID, "head-overlay"), geo["x0"] + (k + 0.5) / S * geo["M"],
               geo["y0"] + (q + 0.5) / S * geo["M"])
    tip = d.find_element(By.ID, "tooltip")
    text = tip.text
    check(tip.is_displayed() and f"query" in text and f"layer {target[0]}, head {target[1]}" in text,
          f"{name}: tooltip shows layer, head, tokens: {text!r}")
    csv = d.execute_script("return window.kvscope.exportPanel('head', 'csv').data").splitlines()
    header = csv[0].split(",")
    rows = [r for r in csv[1:]]
    if expect_mode == "exact":
        check(header[-1] == "weight" and len(rows) == S * (S + 1) // 2, f"{name}: exact CSV has every cell")
        sums = {}
        for r in rows:
            parts = r.split(",")
            sums[int(parts[2])] = sums.get(int(parts[2]), 0.0) + float(parts[-1])
        worst = max(abs(v - 1) for v in sums.values())
        check(worst < 5e-3, f"{name}: exported rows sum to 1 (worst {worst:.2e})")
        w = next(float(r.split(",")[-1]) for r in rows if r.startswith(f"{target[0]},{target[1]},{q},{k},"))
    else:
        K = d.execute_script("return window.kvscope.meta.attention.top_k")
        check(K >= 1 and len(rows) >= S, f"{name}: top-k CSV rows ({len(rows)})")
        first = [float(r.split(",")[-1]) for r in rows if r.startswith(f"{target[0]},{target[1]},{q},1,")]
        check(len(first) == 1 and 0 < first[0] <= 1, f"{name}: the last row's top weight {first}")
        w = next((float(r.split(",")[-1]) for r in rows
                  if r.split(",")[2] == str(q) and r.split(",")[4] == str(k)), None)
    if w is not None:
        check(f"weight {w:.4g}"[:12] in text or f"weight {float(f'{w:.4g}')}" in text
              or f"{w:.4g}" in text, f"{name}: tooltip weight matches the CSV ({w:.4g} in {text!r})")

    # Export: the page's function and the buttons' downloads.
    png = d.execute_script("return window.kvscope.exportPanel('head', 'png').data")
    raw = base64.b64decode(png.split(",", 1)[1])
    pw, ph, _, _ = png_pixels(raw)
    check(pw > 300 and ph > 300, f"{name}: exported PNG is {pw}x{ph}")
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(d.execute_script("return window.kvscope.exportPanel('head', 'svg').data"))
    texts = [t.text or "" for t in root.iter(ns + "text")]
    check(root.tag == ns + "svg" and len(root.findall(f".//{ns}image")) == 1
          and len(root.findall(f".//{ns}linearGradient")) >= 1 and len(texts) >= 10
          and any(t.startswith("key (attended to)") for t in texts),
          f"{name}: the head's SVG is vector labels, colour bar and one cell image ({len(texts)} texts)")
    root = ET.fromstring(d.execute_script("return window.kvscope.exportPanel('kv', 'svg').data"))
    check(root.tag == ns + "svg" and len(root.findall(f".//{ns}image")) == 2,
          f"{name}: the K/V panel's SVG parses, with the panel and its selection")
    return d


def run_downloads(d, dl):
    for b in d.find_elements(By.CSS_SELECTOR, "#p-head .export button"):
        d.execute_script("arguments[0].click()", b)
    for _ in range(100):
        names = [f for f in os.listdir(dl) if not f.endswith(".crdownload")]
        if len(names) >= 3:
            break
        time.sleep(0.1)
    names = sorted(os.listdir(dl))
    check(any(n.endswith(".png") for n in names) and any(n.endswith(".svg") for n in names)
          and any(n.endswith(".csv") for n in names), f"download buttons saved {names}")
    for n in names:
        data = open(os.path.join(dl, n), "rb").read()
        if n.endswith(".png"):
            check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{n} is a PNG")
        if n.endswith(".svg"):
            check(ET.fromstring(data).tag.endswith("svg"), f"{n} is an SVG")


def check_logs(d, name, path):
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    check(not errors, f"{name}: console errors {errors[:3]}")
    leaving = []
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m["method"] == "Network.requestWillBeSent":
            url = m["params"]["request"]["url"]
            if not (url.startswith("file://" + path) or url.startswith("data:") or url.startswith("blob:")):
                leaving.append(url)
    check(not leaving, f"{name}: requests left the file: {leaving[:3]}")


def main():
    if not (os.path.exists(CHROMEDRIVER) and os.path.exists("/usr/bin/chromium")):
        print("SKIP: chromium / chromedriver not installed (scripts/setup.sh installs them)")
        return 77
    work = tempfile.mkdtemp(prefix="kvscope-browser-")
    shots = os.environ.get("KVSCOPE_SCREENSHOTS", os.path.join(work, "shots"))
    os.makedirs(shots, exist_ok=True)
    tiny = os.path.join(SRC, "tests/fixtures/models/llama-gqa")
    prompt = "The cache keeps every key and value: twelve layers, one question. Why?"
    # The compression lab first, into the folder analyze then writes: its results stay and the
    # page shows them.
    words = "the keeper lit the lamp and wrote the weather in a small book " * 8
    r = subprocess.run([BIN, "compress", "--model", tiny, "--prompt", words, "--context", "48",
                        "--continuation", "8", "--windows", "1", "--methods", "h2o,tova,knorm",
                        "--budgets", "0.5", "--out", os.path.join(work, "tiny")], capture_output=True, text=True)
    check(r.returncode == 0, f"compress: {r.stderr.strip()}")
    reports = [
        ("tiny", analyze(os.path.join(work, "tiny"), tiny, prompt, "--generate", "5"), "exact", True),
        ("tiny-pooled", analyze(os.path.join(work, "tiny-pooled"), tiny, prompt, "--html-maps", "pooled"),
         "pooled", False),
    ]
    default = os.path.join(SRC, "models/SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(default):
        reports.append(("default", analyze(os.path.join(work, "default"), default,
                                           "Attention sinks hold mass that softmax must place somewhere. "
                                           "Which heads look back one token?"), "exact", False))
    else:
        print("note: default model not installed; its report is not checked")
    dl = os.path.join(work, "downloads")
    os.makedirs(dl)
    d = browser(dl)
    try:
        for name, path, mode, gen in reports:
            t0 = time.time()
            check_report(d, path, name, shots, mode, gen)
            check_logs(d, name, path)
            print(f"{name}: checked in {time.time() - t0:.1f} s", flush=True)
        # The compression lab's results kept beside the report and shown in it.
        d.get("file://" + reports[0][1])
        check(os.path.isfile(os.path.join(work, "tiny", "results.json")), "compress results kept by analyze")
        rows = d.find_elements(By.CSS_SELECTOR, "#compress tr")
        linked = d.find_elements(By.CSS_SELECTOR, "#compress tr.linked")
        check(len(rows) == 4 and len(linked) == 3,
              f"compress table: {len(rows)} rows (want header + 3), {len(linked)} linked (h2o, tova, knorm)")
        run_downloads(d, dl)
    finally:
        d.quit()
    print(f"screenshots in {shots}")
    if "KVSCOPE_SCREENSHOTS" not in os.environ:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("report.html: all browser checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
