"""report.html at scale: the default model's report of a long prompt, timed in headless Chromium.

Writes the report (kvscope analyze --report-only) of about --tokens tokens of the default text
(texts/kjv-genesis.txt, made by scripts/make_default_text.sh) with the default model, opens it
from disk and prints the page's own performance marks:
  file size            the whole report.html                         (target <= 64 MB)
  first paint          overview and the opening head drawn, from navigation start (< 2 s)
  head switch          openHead() to its canvases drawn, and to the next frame (< 100 ms)
  hover feedback       a mouse move over a token or map cell to every highlight drawn (< 16 ms)

Usage: report_browser_bench.py [--kvscope build/kvscope] [--tokens 4096] [--html existing.html]
Needs chromium, chromedriver and selenium (scripts/test.sh's environment has selenium).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_report(args, out):
    text_path = os.path.join(ROOT, "texts/kjv-genesis.txt")
    if not os.path.exists(text_path):
        subprocess.run(["bash", os.path.join(ROOT, "scripts/make_default_text.sh")], check=True)
    text = open(text_path, encoding="utf-8").read()
    # --prompt-tokens cuts the text to exactly that many tokens.
    prompt = os.path.join(out, "prompt.txt")
    with open(prompt, "w", encoding="utf-8") as f:
        f.write(text[: args.tokens * 6])
    cmd = [args.kvscope, "analyze", "--model", args.model, "--prompt-file", prompt, "--prompt-tokens",
           str(args.tokens), "--out", os.path.join(out, "report"), "--report-only", *args.extra]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"analyze failed: {r.stderr.strip()}")
    print(f"analyze: {time.time() - t0:.1f} s ({' '.join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:])})")
    return os.path.join(out, "report", "report.html")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvscope", default=os.path.join(ROOT, "build/kvscope"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--html", help="measure this report.html instead of writing one")
    ap.add_argument("--loads", type=int, default=3, help="page loads (the median is printed)")
    ap.add_argument("extra", nargs="*", help="more arguments for kvscope analyze (after --)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kvscope-report-bench-")
    path = os.path.abspath(args.html) if args.html else make_report(args, work)
    size = os.path.getsize(path)

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        firsts, fcps, readies = [], [], []
        for _ in range(args.loads):
            d.get("file://" + path)
            for _ in range(600):
                if d.execute_script("return window.kvscope && window.kvscope.ready"):
                    break
                time.sleep(0.05)
            p = d.execute_script("return window.kvscope.perf")
            firsts.append(p["firstPaint"])
            readies.append(p["ready"])
            fcp = d.execute_script("const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null")
            if fcp is not None:
                fcps.append(fcp)
        meta = d.execute_script("const m = window.kvscope.meta; return [m.seq, m.n_layer, m.n_head, m.attention ? m.attention.mode : 'none', m.attention && m.attention.top_k]")
        S, L, H, mode, K = meta

        # Head switches across layers (each layer's arrays decoded on its first visit).
        sync, frame = [], []
        for n in range(24):
            l, h = (n * 7) % L, (n * 5) % H
            t = d.execute_async_script(
                "const [l, h, done] = arguments; const t0 = performance.now(); window.kvscope.openHead(l, h);"
                "const t1 = performance.now(); requestAnimationFrame(() => done([t1 - t0, performance.now() - t0]));", l, h)
            sync.append(t[0])
            frame.append(t[1])

        # Hover: real mouse moves over tokens of the strip and cells of the map.
        d.execute_script("window.kvscope.perf.hover.length = 0")
        spans = d.find_elements(By.CSS_SELECTOR, "#tokens span")
        for i in range(0, min(len(spans), 60)):
            ActionChains(d).move_to_element(spans[i]).perform()
        hc = d.find_element(By.ID, "head-overlay")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", hc)
        geo = d.execute_script("return window.kvscope.headGeometry()")
        w, hh = hc.size["width"], hc.size["height"]
        for i in range(40):
            x = geo["x0"] + geo["M"] * (0.1 + 0.02 * i) - w / 2
            y = geo["y0"] + geo["M"] * (0.9 - 0.01 * i) - hh / 2
            ActionChains(d).move_to_element_with_offset(hc, x, y).perform()
        hov = d.execute_script("return window.kvscope.perf.hover.slice()")
    finally:
        d.quit()

    print(f"report: {S} tokens x {L} layers x {H} heads, maps {mode}" + (f" (top {K} keys per row)" if K else ""))
    print(f"file size: {size / 1048576:.1f} MiB ({size / 1e6:.1f} MB)  target <= 64 MB")
    print(f"first paint (overview + head drawn): median {statistics.median(firsts):.0f} ms over {len(firsts)} loads "
          f"(first contentful paint {statistics.median(fcps):.0f} ms; every panel ready {statistics.median(readies):.0f} ms)  target < 2000 ms")
    print(f"head switch: median {statistics.median(sync):.1f} ms, p95 {pct(sync, 95):.1f} ms, max {max(sync):.1f} ms "
          f"(to the next frame: median {statistics.median(frame):.1f} ms, max {max(frame):.1f} ms)  target < 100 ms")
    print(f"hover feedback: median {statistics.median(hov):.2f} ms, p95 {pct(hov, 95):.2f} ms, max {max(hov):.2f} ms "
          f"over {len(hov)} moves  target < 16 ms")


if __name__ == "__main__":
    main()
