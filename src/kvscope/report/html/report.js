// kvscope report.html: the page's code. It reads the data kvscope packed into this file
// (a JSON <script id="kv-meta"> plus one base64 <script> per binary array) and draws every
// panel on canvas; it never loads anything from outside the file.
//
// Letters: L layers, H query heads, KH key/value heads, S tokens, D head dim, P pooled cells.
"use strict";
(function () {
  const perf = { jsStart: performance.now(), firstPaint: null, headSwitch: [], hover: [] };
  const meta = JSON.parse(document.getElementById("kv-meta").textContent);
  const S = meta.seq, L = meta.n_layer, H = meta.n_head, KH = meta.n_kv_head, D = meta.head_dim;
  const att = meta.attention;
  const $ = (id) => document.getElementById(id);
  const dpr = Math.max(1, window.devicePixelRatio || 1);

  // ---- data ---------------------------------------------------------------------------------
  const cache = new Map();
  function bytesOf(b64) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64);
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const F16 = (() => {  // every fp16 bit pattern as a float
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
      t[h] = e === 0 ? s * f * Math.pow(2, -24) : e === 31 ? (f ? NaN : s * Infinity)
        : s * (1 + f / 1024) * Math.pow(2, e - 15);
    }
    return t;
  })();
  function arr(name) {  // decoded on first use
    if (cache.has(name)) return cache.get(name);
    const a = meta.arrays[name];
    if (!a) return null;
    const u8 = bytesOf(document.getElementById(a.id).textContent.trim());
    const buf = u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength);
    let v;
    switch (a.dtype) {
      case "u8": v = new Uint8Array(buf); break;
      case "i8": v = new Int8Array(buf); break;
      case "u16": v = new Uint16Array(buf); break;
      case "u32": v = new Uint32Array(buf); break;
      case "f32": v = new Float32Array(buf); break;
      case "f16": { const h = new Uint16Array(buf); v = new Float32Array(h.length);
        for (let i = 0; i < h.length; i++) v[i] = F16[h[i]]; break; }
      default: throw new Error("unknown dtype " + a.dtype);
    }
    cache.set(name, v);
    return v;
  }
  // Log-coded bytes (html_report.cpp): 0 is below 1e-5, 1..255 spread over log10 in [-5, 0].
  const LOGC = new Float32Array(256);
  for (let c = 1; c < 256; c++) LOGC[c] = Math.pow(10, ((c - 1) / 254) * 5 - 5);

  // ---- tokens -------------------------------------------------------------------------------
  function showToken(t) {  // whitespace and control characters made visible
    return String(t).replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5")
      .replace(/[\u0000-\u001f]/g, (c) => "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0"));
  }
  const tokText = meta.tokens.map(showToken);
  const tokLabel = (i) => `${tokText[i]} (${i})`;

  // ---- colour -------------------------------------------------------------------------------
  function ramp(stops) {
    const lut = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      const x = (i / 255) * (stops.length - 1), k = Math.min(stops.length - 2, Math.floor(x)), f = x - k;
      for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(stops[k][c] * (1 - f) + stops[k + 1][c] * f);
    }
    return lut;
  }
  const hex = (s) => [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16));
  // Perceptually ordered, colour-blind-safe sequential map (dark blue-violet to yellow).
  const SEQ = ramp(["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
    "#6ece58", "#b5de2b", "#fde725"].map(hex));
  const SINK = ramp(["#fff1e0", "#fdbe85", "#f4843c", "#d94801", "#8c2d04"].map(hex));
  const DIV = ramp(["#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"].map(hex));
  const MASK = [236, 238, 241];
  const css = (lut, t) => { const i = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
    return `rgb(${lut[i]},${lut[i + 1]},${lut[i + 2]})`; };

  function scaler(kind, vmax) {  // weight -> [0, 1]
    const top = Math.max(vmax, 1e-12);
    if (kind === "linear") return (w) => w / top;
    if (kind === "log") { const lo = -4, hi = Math.log10(Math.max(top, 1.0001e-4));
      return (w) => (Math.log10(Math.max(w, 1e-4)) - lo) / (hi - lo); }
    return (w) => Math.sqrt(Math.max(0, w) / top);  // power (and per row, on w / row max)
  }

  // ---- canvases ----------------------------------------------------------------------------
  function sizeCanvas(c, w, h) {
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    c.style.width = w + "px"; c.style.height = h + "px";
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return g;
  }
  function clearOverlay(c) { const g = c.getContext("2d"); g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, c.width, c.height); g.setTransform(dpr, 0, 0, dpr, 0, 0); return g; }
  const FONT = '12px "DejaVu Sans", "Noto Sans", sans-serif';
  const SMALL = '11px "DejaVu Sans", "Noto Sans", sans-serif';
  // From the window's width, not the layout's: reading a layout size would force a layout of
  // the whole page (thousands of token spans) before the first view is drawn.
  const panelWidth = () => Math.max(640, Math.min(1400, window.innerWidth - 110));

  // Labels thinned greedily: a label is drawn when it does not overlap the last one drawn;
  // the tokens in `keep` are always drawn (and drawn bold).
  function thinnedLabels(n, pos, gap, keep) {
    const out = []; let last = -1e9;
    for (let i = 0; i < n; i++) {
      const p = pos(i);
      if (keep.has(i)) continue;
      if (p - last >= gap) { let clash = false;
        for (const k of keep) if (Math.abs(pos(k) - p) < gap) clash = true;
        if (!clash) { out.push(i); last = p; } }
    }
    return out;
  }

  // ---- state -------------------------------------------------------------------------------
  const st = { layer: meta.layer, head: meta.head, hover: null, lock: null, found: [], foundAt: -1 };
  const focus = () => st.lock || st.hover;  // {q, k}: query row and key column (tokens)

  // ---- header ------------------------------------------------------------------------------
  $("title-model").textContent = `${meta.model} (${meta.arch})`;
  const mode = att ? att.mode : "none";
  const modeWords = mode === "exact" ? "exact attention maps (every weight, fp16)"
    : mode === "pooled" ? `max-pooled maps (${att.tile} x ${att.tile} tokens per cell, ${att.pooled} cells a side) with each query's top ${att.top_k} keys exact`
    : "no attention (run with --attention on to capture it)";
  $("summary").textContent = `${S} tokens, ${L} layers x ${H} query heads (${KH} key/value heads, head dim ${D}). This page shows ${modeWords}.`;
  $("footer").textContent = `Written by kvscope analyze. Data in this file: ${(meta.data_bytes / 1048576).toFixed(1)} MB before base64. Attention weights are probabilities (rows sum to 1); rows are queries, columns keys, the masked upper triangle is grey.`;

  // ---- token strip --------------------------------------------------------------------------
  const tokBox = $("tokens");
  const spans = [];
  {
    const frag = document.createDocumentFragment();
    for (let i = 0; i < S; i++) {
      const s = document.createElement("span");
      s.textContent = tokText[i];
      s.dataset.i = i;
      s.title = `#${i} id ${meta.token_ids[i]}`;
      if (/^[\s]*$/.test(meta.tokens[i])) s.classList.add("ws");
      spans.push(s); frag.appendChild(s);
    }
    tokBox.appendChild(frag);
  }
  let hlSpans = [];
  function paintStrip() {
    for (const s of hlSpans) s.classList.remove("hl", "lk");
    hlSpans = [];
    const f = focus(); if (!f) return;
    const cls = st.lock ? "lk" : "hl";
    for (const i of new Set([f.q, f.k])) { if (i >= 0 && i < S) { spans[i].classList.add(cls); hlSpans.push(spans[i]); } }
  }
  tokBox.addEventListener("mouseover", (e) => {
    const i = e.target.dataset && e.target.dataset.i; if (i === undefined) return;
    setHover({ q: +i, k: +i });
  });
  tokBox.addEventListener("mouseleave", () => setHover(null));
  tokBox.addEventListener("click", (e) => {
    const i = e.target.dataset && e.target.dataset.i; if (i === undefined) return;
    toggleLock({ q: +i, k: +i });
  });

  function lockWords() {
    const el = $("lockstate");
    if (!st.lock) { el.textContent = "Nothing is locked. Hover a token or a map cell to highlight it everywhere; click to lock it."; el.classList.remove("locked"); return; }
    const { q, k } = st.lock;
    el.textContent = q === k
      ? `Locked on token ${tokLabel(q)}: its row and column are highlighted in every panel. Click it again or press Esc to unlock.`
      : `Locked on query ${tokLabel(q)} and key ${tokLabel(k)} of layer ${st.layer}, head ${st.head}. Click the same cell again or press Esc to unlock.`;
    el.classList.add("locked");
  }
  function setHover(f) {
    const t0 = performance.now();
    st.hover = f;
    if (!st.lock) paintFocus();
    perf.hover.push(performance.now() - t0);
    if (perf.hover.length > 1000) perf.hover.shift();
  }
  function toggleLock(f) {
    if (st.lock && st.lock.q === f.q && st.lock.k === f.k) st.lock = null; else st.lock = f;
    lockWords(); paintFocus();
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && st.lock) { st.lock = null; lockWords(); paintFocus(); }
  });
  function paintFocus() {
    paintStrip(); overlayOverview(); overlayHead(); overlayKv(); overlayImportance(); overlayGeneration();
  }

  // ---- search -------------------------------------------------------------------------------
  $("search").addEventListener("input", () => {
    for (const i of st.found) spans[i].classList.remove("found");
    const q = $("search").value;
    st.found = []; st.foundAt = -1;
    if (q) {
      const m = /^#(\d+)$/.exec(q.trim());
      if (m) { if (+m[1] < S) st.found = [+m[1]]; }
      else { const lq = q.toLowerCase();
        for (let i = 0; i < S; i++) if (meta.tokens[i].toLowerCase().includes(lq)) st.found.push(i); }
    }
    for (const i of st.found) spans[i].classList.add("found");
    $("search-result").textContent = q ? (st.found.length ? `${st.found.length} match${st.found.length > 1 ? "es" : ""}; Enter locks the next` : "no match") : "";
    if (st.found.length) spans[st.found[0]].scrollIntoView({ block: "nearest" });
  });
  $("search").addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !st.found.length) return;
    st.foundAt = (st.foundAt + 1) % st.found.length;
    const i = st.found[st.foundAt];
    spans[i].scrollIntoView({ block: "nearest" });
    st.lock = { q: i, k: i }; lockWords(); paintFocus();
  });

  // ---- overview: every head's pooled map ---------------------------------------------------
  const ov = { cells: [], ts: 64, labelW: 0 };
  const STAT_WORDS = { entropy: "entropy (nats)", sink_mass: "sink mass", mean_distance: "mean distance (tokens)",
    prev_token: "previous-token score", max_weight: "max weight" };
  function statOf(name, l, h) { return att.stats[name][l * H + h]; }
  function drawOverview() {
    const c = $("ov-canvas");
    if (!att) { $("p-overview").hidden = true; return; }
    const sort = $("ov-sort").value;
    const T = att.thumb, thumbs = arr("thumbs");
    const W = panelWidth();
    const labelW = sort === "layer" ? 64 : 0, gap = 8, lab = 16;
    const cols = H;
    const ts = Math.max(36, Math.min(96, Math.floor((W - labelW) / cols) - gap));
    const heads = [];
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) heads.push([l, h]);
    if (sort !== "layer") {
      const asc = sort === "entropy";
      heads.sort((a, b) => (statOf(sort, a[0], a[1]) - statOf(sort, b[0], b[1])) * (asc ? 1 : -1));
    }
    const rows = Math.ceil(heads.length / cols);
    const top = sort === "layer" ? 18 : 0;
    const Wc = labelW + cols * (ts + gap), Hc = top + rows * (ts + gap + lab);
    const g = sizeCanvas(c, Wc, Hc);
    sizeCanvas($("ov-overlay"), Wc, Hc);
    g.fillStyle = "#fbfcfd"; g.fillRect(0, 0, Wc, Hc);
    g.font = FONT; g.textBaseline = "middle";
    if (sort === "layer") { g.fillStyle = "#5b6570"; g.textAlign = "center";
      for (let h = 0; h < H; h++) g.fillText(`head ${h}`, labelW + h * (ts + gap) + ts / 2, 9); }
    // One atlas image holds every thumbnail (head h of layer l at column h, row l): a single
    // upload, then one drawImage per head (an upload per head costs a second at 270 heads).
    if (!ov.atlas) {
      const img = new ImageData(T * H, T * L);
      for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
        const base = (l * H + h) * T * T;
        let mx = 1;
        for (let i = 0; i < T * T; i++) if (thumbs[base + i] > mx) mx = thumbs[base + i];
        const lo = Math.max(1, mx - 152);  // three decades below the head's largest cell
        for (let a = 0; a < T; a++) for (let b = 0; b < T; b++) {
          const o = ((l * T + a) * T * H + h * T + b) * 4, code = thumbs[base + a * T + b];
          if (b > a) { img.data[o] = MASK[0]; img.data[o + 1] = MASK[1]; img.data[o + 2] = MASK[2]; }
          else { const t = code === 0 ? 0 : Math.max(0, (code - lo) / (mx - lo)); const i = Math.round(t * 255) * 3;
            img.data[o] = SEQ[i]; img.data[o + 1] = SEQ[i + 1]; img.data[o + 2] = SEQ[i + 2]; }
          img.data[o + 3] = 255;
        }
      }
      ov.atlas = document.createElement("canvas"); ov.atlas.width = T * H; ov.atlas.height = T * L;
      ov.atlas.getContext("2d").putImageData(img, 0, 0);
    }
    g.imageSmoothingEnabled = false;
    ov.cells = [];
    heads.forEach(([l, h], n) => {
      const r = Math.floor(n / cols), col = n % cols;
      const x = labelW + col * (ts + gap), y = top + r * (ts + gap + lab);
      g.drawImage(ov.atlas, h * T, l * T, T, T, x, y, ts, ts);
      g.fillStyle = "#1d2329"; g.textAlign = "left"; g.font = SMALL;
      const label = sort === "layer" ? "" : `L${l} H${h}`;
      const val = sort === "layer" ? `ent ${statOf("entropy", l, h).toFixed(2)}` : statOf(sort, l, h).toFixed(sort === "mean_distance" ? 1 : 3);
      g.fillText(`${label}${label ? " " : ""}${val}`, x, y + ts + 8);
      ov.cells.push({ l, h, x, y });
    });
    if (sort === "layer") { g.textAlign = "right"; g.font = FONT; g.fillStyle = "#5b6570";
      for (let l = 0; l < L; l++) g.fillText(`layer ${l}`, labelW - 8, top + l * (ts + gap + lab) + ts / 2); }
    ov.ts = ts;
    $("ov-caption").textContent = `Each square is one head's attention map (queries down, keys across; max-pooled to ${T} x ${T} cells; colour on a log scale spanning three decades below the head's largest cell). ` +
      (sort === "layer" ? "Layers run down, heads across. " : `Sorted by ${STAT_WORDS[sort]}, the mean over queries. `) + "Click a square to open the head below.";
    overlayOverview();
  }
  function overlayOverview() {
    if (!att) return;
    const g = clearOverlay($("ov-overlay")), ts = ov.ts, f = focus();
    for (const c of ov.cells) if (c.l === st.layer && c.h === st.head) {
      g.strokeStyle = "#c2410c"; g.lineWidth = 3; g.strokeRect(c.x - 2, c.y - 2, ts + 4, ts + 4); }
    if (!f) return;
    g.strokeStyle = "rgba(255,255,255,0.95)"; g.lineWidth = 1;
    for (const c of ov.cells) {
      const yq = c.y + ((f.q + 0.5) / S) * ts, xk = c.x + ((f.k + 0.5) / S) * ts;
      g.beginPath(); g.moveTo(c.x, yq); g.lineTo(c.x + ts, yq); g.moveTo(xk, c.y); g.lineTo(xk, c.y + ts); g.stroke();
    }
  }
  $("ov-canvas").parentElement.addEventListener("click", (e) => {
    const r = $("ov-canvas").getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    for (const c of ov.cells) if (x >= c.x && x < c.x + ov.ts && y >= c.y && y < c.y + ov.ts) {
      openHead(c.l, c.h); $("p-head").scrollIntoView({ block: "start" }); return; }
  });
  $("ov-canvas").parentElement.style.cursor = "pointer";
  $("ov-sort").addEventListener("change", drawOverview);

  // ---- head view -----------------------------------------------------------------------------
  const hv = { x0: 0, y0: 0, M: 0, n: 0, img: null, rowMax: null, vmax: 1, sinkMax: 1, sinkCols: 0 };
  // Weight of query i, key j (exact mode), or of the pooled cell (pooled mode, log-coded).
  function headData() {
    const l = st.layer, h = st.head;
    if (mode === "exact") return { kind: "exact", map: arr(`map.${l}.${h}`), n: S, tile: 1 };
    const P = att.pooled, codes = arr(`pooled.${l}`), tri = P * (P + 1) / 2;
    const m = new Float32Array(tri);
    for (let i = 0; i < tri; i++) m[i] = LOGC[codes[h * tri + i]];
    return { kind: "pooled", map: m, n: P, tile: att.tile };
  }
  const triAt = (i, j) => i * (i + 1) / 2 + j;
  function exactWeight(i, j) {  // [weight, rank in row, exact?] or null
    const l = st.layer, h = st.head;
    if (j > i) return null;
    if (mode === "exact") {
      const m = arr(`map.${l}.${h}`), w = m[triAt(i, j)];
      let rank = 1; for (let b = 0; b <= i; b++) { const v = m[triAt(i, b)]; if (v > w || (v === w && b < j)) rank++; }
      return { w, rank, of: i + 1 };
    }
    const K = att.top_k, keys = arr(`topk_key.${l}`), ws = arr(`topk_w.${l}`), base = (h * S + i) * K;
    for (let r = 0; r < K; r++) if (keys[base + r] === j) return { w: ws[base + r], rank: r + 1, of: i + 1 };
    return { below: ws[base + K - 1], K, of: i + 1 };
  }
  function openHead(l, h) {
    if (!window.kvscope.ready) { document.addEventListener("DOMContentLoaded", () => openHead(l, h)); return; }
    const t0 = performance.now();
    st.layer = l; st.head = h;
    $("sel-layer").value = l; $("sel-head").value = h;
    drawHead(); overlayOverview();
    perf.headSwitch.push(performance.now() - t0);
    // The head's keys and values and its generation replay follow in the next frame, so the
    // map is on screen first.
    cancelAnimationFrame(openHead.pending);
    openHead.pending = requestAnimationFrame(() => { drawKv(); drawGeneration(); });
  }
  function drawHead() {
    if (!att) { $("p-head").hidden = true; return; }
    const d = headData(), n = d.n, kind = $("sel-scale").value, apart = $("sink-apart").checked;
    const sinkCells = apart ? Math.ceil(att.sink_cols[st.layer * H + st.head] / d.tile) : 0;
    // Colour range over the visible cells, sink columns left out when they are scaled apart.
    let vmax = 0, smax = 0; const rowMax = new Float32Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
      const w = d.map[triAt(i, j)];
      if (j < sinkCells) { if (w > smax) smax = w; } else { if (w > vmax) vmax = w; if (w > rowMax[i]) rowMax[i] = w; }
    }
    if (vmax === 0) vmax = 1;
    const sc = scaler(kind === "row" ? "power" : kind, kind === "row" ? 1 : vmax), ss = scaler("power", smax || 1);
    const img = new ImageData(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const o = (i * n + j) * 4; let lut = SEQ, t;
      if (j > i) { img.data[o] = MASK[0]; img.data[o + 1] = MASK[1]; img.data[o + 2] = MASK[2]; img.data[o + 3] = 255; continue; }
      const w = d.map[triAt(i, j)];
      if (j < sinkCells) { lut = SINK; t = ss(w); }
      else t = kind === "row" ? sc(rowMax[i] > 0 ? w / rowMax[i] : 0) : sc(w);
      const k = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
      img.data[o] = lut[k]; img.data[o + 1] = lut[k + 1]; img.data[o + 2] = lut[k + 2]; img.data[o + 3] = 255;
    }
    const tmp = document.createElement("canvas"); tmp.width = n; tmp.height = n;
    tmp.getContext("2d").putImageData(img, 0, 0);
    Object.assign(hv, { img: tmp, n, tile: d.tile, vmax, smax, sinkCells, kind, rowMax });
    paintHeadBase();
    const nSink = att.sink_cols[st.layer * H + st.head];
    const sinkWords = !sinkCells ? "" : ` Key${nSink > 1 ? `s 0-${nSink - 1} take` : " 0 takes"} at least 10% of every query's attention on average (an attention sink); ` +
      (d.tile > 1 ? `the first column of cells (keys 0-${d.tile - 1}) is` : `${nSink > 1 ? "those columns are" : "that column is"}`) + " drawn on its own orange scale, so the sink does not wash out the rest.";
    $("head-title").textContent = `Layer ${st.layer}, head ${st.head}`;
    $("head-caption").textContent = (mode === "exact"
      ? "Exact map: every weight of every query row. "
      : `Pooled map: each cell is the largest weight among ${d.tile} x ${d.tile} query/key positions; the tooltip gives the exact weight when the key is among the query's top ${att.top_k}. `) +
      `Rows are queries, columns keys; grey cells are masked by causality.${sinkWords}`;
    overlayHead();
  }
  function paintHeadBase() {
    const W = panelWidth(), left = 150, bottom = 132, right = 130, top = 10;
    const M = Math.max(240, Math.min(760, W - left - right, window.innerHeight - 220));
    const c = $("head-canvas");
    const Wc = left + M + right, Hc = top + M + bottom;
    const g = sizeCanvas(c, Wc, Hc); sizeCanvas($("head-overlay"), Wc, Hc);
    Object.assign(hv, { x0: left, y0: top, M, Wc, Hc });
    g.fillStyle = "#fbfcfd"; g.fillRect(0, 0, Wc, Hc);
    g.imageSmoothingEnabled = false;
    g.drawImage(hv.img, left, top, M, M);
    g.strokeStyle = "#9aa4ae"; g.lineWidth = 1; g.strokeRect(left - 0.5, top - 0.5, M + 1, M + 1);
    drawHeadLabels(g);
    drawColourBar(g, left + M + 24, top, M);
  }
  function drawHeadLabels(g) {
    const { x0, y0, M } = hv, f = focus(), keep = new Set();
    if (f) { keep.add(f.q); keep.add(f.k); }
    const pos = (i) => ((i + 0.5) / S) * M, step = 13;
    g.font = SMALL; g.fillStyle = "#3c4650"; g.textBaseline = "middle"; g.textAlign = "right";
    const cut = (s) => (s.length > 18 ? s.slice(0, 17) + "\u2026" : s);
    const qs = thinnedLabels(S, pos, step, keep);
    for (const i of qs) g.fillText(cut(tokLabel(i)), x0 - 6, y0 + pos(i));
    g.save(); g.textAlign = "right";
    for (const j of thinnedLabels(S, pos, step, keep)) {
      g.save(); g.translate(x0 + pos(j), y0 + M + 6); g.rotate(-Math.PI / 2); g.fillText(cut(tokLabel(j)), 0, 0); g.restore(); }
    g.restore();
    g.font = FONT; g.fillStyle = "#1d2329"; g.textAlign = "center";
    g.fillText("key (attended to) \u2192", x0 + M / 2, y0 + M + 122);
    g.save(); g.translate(14, y0 + M / 2); g.rotate(-Math.PI / 2); g.fillText("query (attending) \u2192", 0, 0); g.restore();
  }
  function drawColourBar(g, x, y, M) {
    const kind = hv.kind, w = 14, hgt = Math.round(M * (hv.sinkCells ? 0.62 : 1));
    const sc = scaler(kind === "row" ? "power" : kind, kind === "row" ? 1 : hv.vmax);
    const inv = (t) => kind === "linear" ? t * hv.vmax : kind === "log"
      ? Math.pow(10, -4 + t * (Math.log10(Math.max(hv.vmax, 1.0001e-4)) + 4)) : t * t * (kind === "row" ? 1 : hv.vmax);
    for (let p = 0; p < hgt; p++) { g.fillStyle = css(SEQ, 1 - p / hgt); g.fillRect(x, y + p, w, 1); }
    g.strokeStyle = "#9aa4ae"; g.strokeRect(x - 0.5, y - 0.5, w + 1, hgt + 1);
    g.font = SMALL; g.fillStyle = "#1d2329"; g.textAlign = "left"; g.textBaseline = "middle";
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      const v = inv(t); g.fillText(fmtW(v), x + w + 5, y + (1 - t) * hgt);
      g.fillRect(x + w, y + (1 - t) * hgt, 3, 1);
    }
    void sc;
    g.save(); g.translate(x + w + 62, y + hgt / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
    g.fillText({ power: "weight, power scale (gamma 0.5)", linear: "weight, linear scale", log: "weight, log scale",
      row: "weight / row max (power)" }[kind], 0, 0); g.restore();
    if (hv.sinkCells) {
      const y2 = y + hgt + 30, h2 = M - hgt - 30;
      for (let p = 0; p < h2; p++) { g.fillStyle = css(SINK, 1 - p / h2); g.fillRect(x, y2 + p, w, 1); }
      g.strokeRect(x - 0.5, y2 - 0.5, w + 1, h2 + 1);
      g.fillStyle = "#1d2329"; g.textAlign = "left";
      for (const t of [0, 0.5, 1]) g.fillText(fmtW(t * t * hv.smax), x + w + 5, y2 + (1 - t) * h2);
      g.fillText("sink columns", x - 2, y2 - 12);
    }
  }
  // A series over S tokens drawn into W pixels: a line when every token gets a pixel, else one
  // vertical min-max stroke per pixel column (a 4,096-point zigzag costs a frame to rasterise).
  function series(g, n, val, x0, W, yBase, h, vmax, colour, bars) {
    g.fillStyle = colour; g.strokeStyle = colour;
    const y = (v) => yBase - (v / (vmax || 1)) * h;
    if (n <= W / 2 && !bars) {
      g.lineWidth = 1.3; g.beginPath();
      for (let t = 0; t < n; t++) { const x = x0 + ((t + 0.5) / n) * W; t ? g.lineTo(x, y(val(t))) : g.moveTo(x, y(val(t))); }
      g.stroke(); return;
    }
    if (bars && n <= W / 2) {
      const bw = W / n;
      for (let t = 0; t < n; t++) { const v = y(val(t)); g.fillRect(x0 + t * bw, v, Math.max(1, bw - (bw > 3 ? 1 : 0)), yBase - v); }
      return;
    }
    const cols = Math.floor(W);
    for (let c = 0; c < cols; c++) {
      const a = Math.floor((c / cols) * n), b = Math.max(a + 1, Math.floor(((c + 1) / cols) * n));
      let lo = Infinity, hi = -Infinity;
      for (let t = a; t < b; t++) { const v = val(t); if (v < lo) lo = v; if (v > hi) hi = v; }
      if (bars) lo = 0;
      g.fillRect(x0 + c, y(hi), 1, Math.max(1, y(lo) - y(hi)));
    }
  }
  // Token labels under an x axis of S tokens over W pixels, thinned so they never overlap;
  // few tokens get their text, many get positions.
  function tokenAxis(g, x0, W, y) {
    g.font = SMALL; g.fillStyle = "#3c4650"; g.textAlign = "center"; g.textBaseline = "top";
    const withText = W / S >= 48, gap = withText ? 72 : 56;
    const pos = (i) => x0 + ((i + 0.5) / S) * W;
    const keep = new Set([0, S - 1]);
    for (const i of [0, ...thinnedLabels(S, pos, gap, keep), S - 1].filter((v, k, a) => a.indexOf(v) === k).sort((a, b) => a - b)) {
      const t = withText ? (tokText[i].length > 9 ? tokText[i].slice(0, 8) + "\u2026" : tokText[i]) : String(i);
      g.fillText(t, pos(i), y);
      if (withText) g.fillText(`(${i})`, pos(i), y + 12);
    }
  }
  const fmtBytes = (b) => b >= 1048576 ? `${(b / 1048576).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`;
  function fmtW(v) { return v === 0 ? "0" : v >= 0.01 ? v.toFixed(3) : v.toExponential(1); }
  function overlayHead() {
    if (!att) return;
    const g = clearOverlay($("head-overlay")), f = focus(), { x0, y0, M } = hv;
    if (!f) return;
    const a = (f.q / S) * M, b = (f.k / S) * M, cw = Math.max(2, M / S);
    g.fillStyle = "rgba(253, 230, 138, 0.28)";
    g.fillRect(x0, y0 + a, M, cw); g.fillRect(x0 + b, y0, cw, M);
    g.strokeStyle = st.lock ? "#b91c1c" : "#d97706"; g.lineWidth = 1.5;
    g.strokeRect(x0 - 0.5, y0 + a - 0.5, M + 1, cw + 1); g.strokeRect(x0 + b - 0.5, y0 - 0.5, cw + 1, M + 1);
    g.fillStyle = st.lock ? "#b91c1c" : "#b45309"; g.font = 'bold 11px "DejaVu Sans", sans-serif';
    g.textAlign = "right"; g.textBaseline = "middle";
    g.fillStyle = "#fbfcfd"; g.fillRect(0, y0 + a + cw / 2 - 8, x0 - 2, 16);  // over the base label
    g.fillStyle = st.lock ? "#b91c1c" : "#b45309";
    g.fillText(tokLabel(f.q).slice(0, 22), x0 - 6, y0 + a + cw / 2);
    g.save(); g.translate(x0 + b + cw / 2, y0 + M + 6); g.rotate(-Math.PI / 2);
    g.fillStyle = "#fbfcfd"; g.fillRect(-92, -7, 92, 14); g.fillStyle = st.lock ? "#b91c1c" : "#b45309";
    g.fillText(tokLabel(f.k).slice(0, 22), 0, 0); g.restore();
  }
  function headCell(e) {
    const r = $("head-overlay").getBoundingClientRect(), x = e.clientX - r.left - hv.x0, y = e.clientY - r.top - hv.y0;
    if (x < 0 || y < 0 || x >= hv.M || y >= hv.M) return null;
    return { q: Math.min(S - 1, Math.floor((y / hv.M) * S)), k: Math.min(S - 1, Math.floor((x / hv.M) * S)) };
  }
  const tip = $("tooltip");
  $("head-stack").addEventListener("mousemove", (e) => {
    const c = headCell(e);
    if (!c) { tip.hidden = true; setHover(null); return; }
    setHover(c);
    tip.textContent = tooltipText(c.q, c.k);
    tip.hidden = false;
    tip.style.left = Math.min(window.innerWidth - 430, e.clientX + 14) + "px";
    tip.style.top = (e.clientY + 14) + "px";
  });
  $("head-stack").addEventListener("mouseleave", () => { tip.hidden = true; setHover(null); });
  $("head-stack").addEventListener("click", (e) => { const c = headCell(e); if (c) toggleLock(c); });
  function tooltipText(q, k) {
    let s = `layer ${st.layer}, head ${st.head}\nquery ${tokLabel(q)}\nkey ${tokLabel(k)}\n`;
    if (k > q) return s + "masked: a query never sees later keys";
    const w = exactWeight(q, k);
    if (w.w !== undefined) s += `weight ${w.w.toPrecision(4)}, rank ${w.rank} of ${w.of} in the row`;
    else s += `not among the row's top ${w.K} keys (weight below ${w.below.toPrecision(3)}; the row has ${w.of} keys)`;
    if (mode === "pooled") {
      const a = Math.floor(q / att.tile), b = Math.floor(k / att.tile);
      const P = att.pooled, codes = arr(`pooled.${st.layer}`), v = LOGC[codes[st.head * P * (P + 1) / 2 + triAt(a, b)]];
      s += `\ncell: queries ${a * att.tile}-${Math.min(S, (a + 1) * att.tile) - 1}, keys ${b * att.tile}-${Math.min(S, (b + 1) * att.tile) - 1}, max about ${fmtW(v)}`;
    }
    return s;
  }
  for (let l = 0; l < L; l++) $("sel-layer").add(new Option(String(l), l));
  for (let h = 0; h < H; h++) $("sel-head").add(new Option(String(h), h));
  $("sel-layer").value = st.layer; $("sel-head").value = st.head;
  // A max-pooled map of thousands of tokens spans decades: a log scale shows its structure.
  if (mode === "pooled" && att.tile > 1) $("sel-scale").value = "log";
  $("sel-layer").addEventListener("change", () => openHead(+$("sel-layer").value, st.head));
  $("sel-head").addEventListener("change", () => openHead(st.layer, +$("sel-head").value));
  $("sel-scale").addEventListener("change", drawHead);
  $("sink-apart").addEventListener("change", drawHead);

  // ---- keys and values -------------------------------------------------------------------------
  const kv = {};
  const kvHead = () => Math.floor(st.head / Math.max(1, H / KH));
  function drawKv() {
    const part = +$("kv-part").value === 2 ? 2 : ($("kv-prerope").checked ? 1 : 0);
    $("kv-prerope").disabled = +$("kv-part").value === 2 || !meta.has_rope;
    const perCh = $("kv-perchannel").checked, R = meta.kv.rows, g0 = meta.kv.group;
    const q = arr(`kv.${st.layer}`), scale = arr(`kvscale.${st.layer}`), norms = arr(`kvnorm.${st.layer}`);
    const kh = kvHead(), base = (part * KH + kh) * R * D, sbase = (part * KH + kh) * D;
    let gmax = 0; for (let d = 0; d < D; d++) gmax = Math.max(gmax, scale[sbase + d] * 127);
    const img = new ImageData(R, D);
    for (let d = 0; d < D; d++) for (let r = 0; r < R; r++) {
      const x = q[base + r * D + d], v = perCh ? x / 127 : (x * scale[sbase + d]) / (gmax || 1);
      const k = Math.round((v * 0.5 + 0.5) * 255) * 3, o = (d * R + r) * 4;
      img.data[o] = DIV[k]; img.data[o + 1] = DIV[k + 1]; img.data[o + 2] = DIV[k + 2]; img.data[o + 3] = 255;
    }
    const tmp = document.createElement("canvas"); tmp.width = R; tmp.height = D; tmp.getContext("2d").putImageData(img, 0, 0);
    const W = panelWidth(), left = 70, right = 150, Wm = Math.max(300, W - left - right), Hm = Math.max(160, Math.min(D * 4, 320));
    const nh = 130, gapY = 34, top = 8, Hc = top + Hm + gapY + nh + 48, Wc = left + Wm + right;
    const c = $("kv-canvas"), g = sizeCanvas(c, Wc, Hc); sizeCanvas($("kv-overlay"), Wc, Hc);
    Object.assign(kv, { left, top, Wm, Hm, ny: top + Hm + gapY, nh });
    g.fillStyle = "#fbfcfd"; g.fillRect(0, 0, Wc, Hc);
    g.imageSmoothingEnabled = false; g.drawImage(tmp, left, top, Wm, Hm);
    g.strokeStyle = "#9aa4ae"; g.strokeRect(left - 0.5, top - 0.5, Wm + 1, Hm + 1);
    g.font = SMALL; g.fillStyle = "#3c4650"; g.textAlign = "right"; g.textBaseline = "middle";
    for (let d = 0; d < D; d += Math.max(1, Math.ceil(D / (Hm / 14)))) g.fillText(`ch ${d}`, left - 5, top + ((d + 0.5) / D) * Hm);
    // Each channel's largest |x|: outlier channels stand out.
    const bx = left + Wm + 10, bw = 60;
    for (let d = 0; d < D; d++) { const v = (scale[sbase + d] * 127) / (gmax || 1);
      g.fillStyle = "#64748b"; g.fillRect(bx, top + (d / D) * Hm, Math.max(1, v * bw), Math.max(1, Hm / D - 0.5)); }
    g.fillStyle = "#1d2329"; g.textAlign = "left";
    g.fillText("max |x| per channel", bx, top + Hm + 12);
    g.fillText(`${gmax.toPrecision(3)}`, bx + bw - 10, top - 0 + 6);
    // Diverging colour bar.
    const cx = bx + bw + 14;
    for (let p = 0; p < Hm; p++) { g.fillStyle = css(DIV, 1 - p / Hm); g.fillRect(cx, top + p, 10, 1); }
    g.fillText(perCh ? "+max" : `+${gmax.toPrecision(2)}`, cx + 13, top + 5); g.fillText("0", cx + 13, top + Hm / 2);
    g.fillText(perCh ? "-max" : `-${gmax.toPrecision(2)}`, cx + 13, top + Hm - 5);
    // Per-token norms, exact, keys and values of this kv head.
    const ny = kv.ny;
    const kN = (t) => norms[(($("kv-prerope").checked ? 1 : 0) * KH + kh) * S + t], vN = (t) => norms[(2 * KH + kh) * S + t];
    let nmax = 0; for (let t = 0; t < S; t++) nmax = Math.max(nmax, kN(t), vN(t));
    g.strokeStyle = "#9aa4ae"; g.strokeRect(left - 0.5, ny - 0.5, Wm + 1, nh + 1);
    for (const [fn, col, name] of [[kN, "#1f77b4", "key norm"], [vN, "#d95f02", "value norm"]]) {
      series(g, S, fn, left, Wm, ny + nh, nh - 4, nmax, col, false);
      g.fillStyle = col; g.fillText(name, left + Wm + 10, ny + (name === "key norm" ? 12 : 30));
    }
    g.fillStyle = "#3c4650"; g.textAlign = "right"; g.fillText(nmax.toPrecision(3), left - 5, ny + 4); g.fillText("0", left - 5, ny + nh);
    tokenAxis(g, left, Wm, ny + nh + 4);
    g.textAlign = "center"; g.textBaseline = "middle"; g.fillText("token \u2192", left + Wm / 2, ny + nh + 38);
    const readers = []; for (let h = 0; h < H; h++) if (Math.floor(h / Math.max(1, H / KH)) === kh) readers.push(h);
    $("kv-title").textContent = `Keys and values: layer ${st.layer}, KV head ${kh}`;
    $("kv-caption").textContent = `KV head ${kh} is read by query head${readers.length > 1 ? "s" : ""} ${readers.join(", ")}. ` +
      `Top: ${part === 2 ? "values" : part === 1 ? "keys before RoPE" : "keys as cached (after RoPE)"}, channels down, tokens across` +
      (g0 > 1 ? ` (each column is the entry of largest magnitude among ${g0} tokens)` : "") +
      (perCh ? "; each channel scaled to its own largest |x|, so the pattern of every channel shows (outlier channels are in the bars on the right)." : "; one scale for all channels, so outlier channels dominate.") +
      " Bottom: each token's exact L2 norm.";
    overlayKv();
  }
  function overlayKv() {
    if (!kv.Wm) return;
    const g = clearOverlay($("kv-overlay")), f = focus(); if (!f) return;
    const x = kv.left + ((f.k + 0.5) / S) * kv.Wm;
    g.strokeStyle = st.lock ? "#b91c1c" : "#d97706"; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(x, kv.top); g.lineTo(x, kv.top + kv.Hm); g.moveTo(x, kv.ny); g.lineTo(x, kv.ny + kv.nh); g.stroke();
    const norms = arr(`kvnorm.${st.layer}`), kh = kvHead();
    g.font = SMALL; g.fillStyle = "#1d2329"; g.textAlign = x > kv.left + kv.Wm / 2 ? "right" : "left"; g.textBaseline = "top";
    const dx = g.textAlign === "right" ? -4 : 4;
    g.fillText(`${tokLabel(f.k)}: key ${norms[(0 * KH + kh) * S + f.k].toPrecision(3)}, value ${norms[(2 * KH + kh) * S + f.k].toPrecision(3)}`, x + dx, kv.ny + 2);
  }
  function kvEvent(e) {
    const r = $("kv-overlay").getBoundingClientRect(), x = e.clientX - r.left - kv.left;
    if (x < 0 || x >= kv.Wm) return null;
    const t = Math.min(S - 1, Math.floor((x / kv.Wm) * S)); return { q: t, k: t };
  }
  $("kv-stack").addEventListener("mousemove", (e) => setHover(kvEvent(e)));
  $("kv-stack").addEventListener("mouseleave", () => setHover(null));
  $("kv-stack").addEventListener("click", (e) => { const f = kvEvent(e); if (f) toggleLock(f); });
  for (const id of ["kv-part", "kv-prerope", "kv-perchannel"]) $(id).addEventListener("change", drawKv);

  // ---- token importance ------------------------------------------------------------------------
  const im = {};
  function drawImportance() {
    const defs = meta.importance, W = panelWidth(), left = 190, right = 20, Wm = W - left - right, rh = 58, gap = 14;
    const Hc = defs.length * (rh + gap) + 44, Wc = left + Wm + right;
    const c = $("imp-canvas"), g = sizeCanvas(c, Wc, Hc); sizeCanvas($("imp-overlay"), Wc, Hc);
    Object.assign(im, { left, Wm, rh, gap, Hc });
    g.fillStyle = "#fbfcfd"; g.fillRect(0, 0, Wc, Hc);
    const used = new Set(meta.compress ? meta.compress.results.map((r) => r.method.split("+")[0]) : []);
    defs.forEach((d, n) => {
      const y = n * (rh + gap) + 4; let mx = 0; for (const v of d.values) mx = Math.max(mx, v);
      series(g, S, (t) => d.values[t], left, Wm, y + rh, rh, mx, "#4c78a8", true);
      g.strokeStyle = "#c8ced4"; g.beginPath(); g.moveTo(left, y + rh + 0.5); g.lineTo(left + Wm, y + rh + 0.5); g.stroke();
      g.fillStyle = "#1d2329"; g.font = FONT; g.textAlign = "right"; g.textBaseline = "top";
      g.fillText(d.label, left - 10, y + 6);
      g.font = SMALL; g.fillStyle = "#5b6570";
      const by = d.used_by.length ? `used by ${d.used_by.join(", ")}${d.used_by.some((m) => used.has(m)) ? " (measured)" : ""}` : "";
      g.fillText(`max ${mx.toPrecision(3)}`, left - 10, y + 24);
      if (by) g.fillText(by, left - 10, y + 40);
    });
    tokenAxis(g, left, Wm, Hc - 40);
    g.textBaseline = "middle"; g.fillText("token \u2192", left + Wm / 2, Hc - 8);
    $("imp-caption").textContent = "How much each token weighs in the cache, by each definition (each scaled to its own maximum). " +
      "Norms come from the cached keys and values; attention-based scores from the attention statistics of every layer and head. " +
      "Attention is not explanation: a score that looks important is checked by what removing the token costs, which the compression lab measures.";
    drawCompress();
    overlayImportance();
  }
  function overlayImportance() {
    if (!im.Wm) return;
    const g = clearOverlay($("imp-overlay")), f = focus(); if (!f) return;
    const x = im.left + ((f.k + 0.5) / S) * im.Wm;
    g.strokeStyle = st.lock ? "#b91c1c" : "#d97706"; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, im.Hc - 44); g.stroke();
    g.font = SMALL; g.fillStyle = "#1d2329"; g.textBaseline = "top";
    g.textAlign = x > im.left + im.Wm / 2 ? "right" : "left"; const dx = g.textAlign === "right" ? -4 : 4;
    meta.importance.forEach((d, n) => {
      const y = n * (im.rh + im.gap) + 4;
      g.fillText(`${n === 0 ? tokLabel(f.k) + ": " : ""}${d.values[f.k].toPrecision(3)}`, x + dx, y);
    });
  }
  function impEvent(e) {
    const r = $("imp-overlay").getBoundingClientRect(), x = e.clientX - r.left - im.left;
    if (x < 0 || x >= im.Wm) return null;
    const t = Math.min(S - 1, Math.floor((x / im.Wm) * S)); return { q: t, k: t };
  }
  $("imp-stack").addEventListener("mousemove", (e) => setHover(impEvent(e)));
  $("imp-stack").addEventListener("mouseleave", () => setHover(null));
  $("imp-stack").addEventListener("click", (e) => { const f = impEvent(e); if (f) toggleLock(f); });
  function drawCompress() {
    const box = $("compress"), c = meta.compress;
    box.textContent = "";
    if (!c) {
      const p = document.createElement("p"); p.className = "caption";
      p.textContent = "No compression results in this folder. Run kvscope compress with --out set to this folder, then kvscope analyze into it, to see each method's measured cost (KL divergence, top-1 agreement, perplexity) here.";
      box.appendChild(p); return;
    }
    const p = document.createElement("p"); p.className = "caption";
    p.textContent = `Measured by kvscope compress on ${c.text} (${c.context} context tokens, ${c.windows} window(s)) with ${c.model}: what each method costs the model's own next-token distribution. Rows of methods that evict by a definition above are marked.`;
    box.appendChild(p);
    const t = document.createElement("table");
    const cols = [["method", "method"], ["budget", "budget"], ["kept_tokens", "kept tokens"], ["bytes_ratio", "bytes / fp16"],
      ["kl_mean", "KL mean (nats)"], ["top1_agree", "top-1 agree"], ["ppl_ratio", "ppl ratio"]];
    const hr = t.insertRow(); for (const [, n] of cols) { const th = document.createElement("th"); th.textContent = n; hr.appendChild(th); }
    const linked = new Set(meta.importance.flatMap((d) => d.used_by));
    for (const r of c.results) {
      const tr = t.insertRow(); if (linked.has(r.method.split("+")[0])) tr.className = "linked";
      for (const [k] of cols) { const v = r[k]; tr.insertCell().textContent = v === null || v === undefined ? "-" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(3)) : String(v); }
    }
    box.appendChild(t);
  }

  // ---- generation ------------------------------------------------------------------------------
  const gen = meta.generation, gv = {};
  function drawGeneration() {
    if (!gen) return;
    $("p-generation").hidden = false;
    const steps = gen.steps, n = steps.length, s = +$("gen-step").value;
    const maxLen = steps[n - 1].cache_len, W = panelWidth(), left = 70, Wm = W - left - 40;
    const rowH = Math.max(4, Math.min(14, Math.floor(300 / n))), Hm = rowH * n, ch = 110, Hc = 10 + Hm + 50 + ch + 30;
    const c = $("gen-canvas"), g = sizeCanvas(c, left + Wm + 40, Hc); sizeCanvas($("gen-overlay"), left + Wm + 40, Hc);
    Object.assign(gv, { left, Wm, top: 10, Hm, rowH, maxLen });
    g.fillStyle = "#fbfcfd"; g.fillRect(0, 0, left + Wm + 40, Hc);
    g.fillStyle = "#eceef1"; g.fillRect(left, 10, Wm, Hm);
    if (gen.attention) {  // one image, a row per step and a column per cache position
      const a = arr("gen_attention"), img = new ImageData(maxLen, n); let off = 0;
      for (let r = 0; r < n; r++) {
        const len = steps[r].cache_len, rowOff = off + (st.layer * H + st.head) * len;
        off += L * H * len;
        for (let j = 0; j < maxLen; j++) { const o = (r * maxLen + j) * 4; img.data[o] = 236; img.data[o + 1] = 238; img.data[o + 2] = 241; img.data[o + 3] = 255; }
        if (r > s) continue;
        let mx = 0; for (let j = 0; j < len; j++) mx = Math.max(mx, a[rowOff + j]);
        for (let j = 0; j < len; j++) { const k = Math.round(Math.sqrt(a[rowOff + j] / (mx || 1)) * 255) * 3, o = (r * maxLen + j) * 4;
          img.data[o] = SEQ[k]; img.data[o + 1] = SEQ[k + 1]; img.data[o + 2] = SEQ[k + 2]; }
      }
      const tmp = document.createElement("canvas"); tmp.width = maxLen; tmp.height = n; tmp.getContext("2d").putImageData(img, 0, 0);
      g.imageSmoothingEnabled = false; g.drawImage(tmp, left, 10, Wm, Hm);
    }
    g.strokeStyle = "#c2410c"; g.lineWidth = 2; g.strokeRect(left, 10 + s * rowH, Wm, rowH);
    g.font = SMALL; g.fillStyle = "#3c4650"; g.textAlign = "right"; g.textBaseline = "middle";
    g.fillText("step 1", left - 5, 10 + rowH / 2); g.fillText(`step ${n}`, left - 5, 10 + Hm - rowH / 2);
    g.textAlign = "center"; g.fillText("cache position \u2192 (each row: the new token's attention over the cache, power scale per row)", left + Wm / 2, 10 + Hm + 14);
    // Cache bytes against step.
    const cy = 10 + Hm + 40, bmax = steps[n - 1].cache_bytes, bmin = Math.min(steps[0].cache_bytes, bmax - 1);
    g.strokeStyle = "#9aa4ae"; g.strokeRect(left - 0.5, cy - 0.5, Wm + 1, ch + 1);
    g.strokeStyle = "#1f77b4"; g.lineWidth = 1.5; g.beginPath();
    steps.forEach((x, r) => { const px = left + ((r + 0.5) / n) * Wm, py = cy + ch - 3 - ((x.cache_bytes - bmin) / (bmax - bmin)) * (ch - 6); r ? g.lineTo(px, py) : g.moveTo(px, py); });
    g.stroke();
    const px = left + ((s + 0.5) / n) * Wm, py = cy + ch - 3 - ((steps[s].cache_bytes - bmin) / (bmax - bmin)) * (ch - 6);
    g.fillStyle = "#c2410c"; g.beginPath(); g.arc(px, py, 4, 0, 7); g.fill();
    g.fillStyle = "#3c4650"; g.textAlign = "right"; g.fillText(fmtBytes(bmax), left - 5, cy + 6); g.fillText(fmtBytes(bmin), left - 5, cy + ch - 3);
    g.textAlign = "center"; g.fillText("cache size (fp32 K and V, all layers) against step", left + Wm / 2, cy + ch + 14);
    // Text so far.
    const box = $("gen-text"); box.textContent = "";
    const pr = document.createElement("span"); pr.className = "prompt"; pr.textContent = meta.tokens.join(""); box.appendChild(pr);
    for (let r = 0; r <= s; r++) { const sp = document.createElement("span"); sp.textContent = steps[r].text; if (r === s) sp.className = "new"; box.appendChild(sp); }
    $("gen-step-label").textContent = `${s + 1} of ${n}: ${showToken(steps[s].text)}, cache ${steps[s].cache_len} tokens, ${(steps[s].cache_bytes / 1024).toFixed(0)} KiB, ${steps[s].ms.toFixed(1)} ms`;
    $("gen-caption").textContent = `Layer ${st.layer}, head ${st.head}. The cache grows by one row per step; ${gen.attention ? "each row is the attention of the token being generated over every cached token." : "per-step attention was not kept (too large)."}  Stopped by ${gen.stop_reason}.`;
    overlayGeneration();
  }
  function overlayGeneration() {
    if (!gen || !gv.Wm) return;
    const g = clearOverlay($("gen-overlay")), f = focus(); if (!f) return;
    const x = gv.left + ((f.k + 0.5) / gv.maxLen) * gv.Wm;
    g.strokeStyle = st.lock ? "#b91c1c" : "#d97706"; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(x, gv.top); g.lineTo(x, gv.top + gv.Hm); g.stroke();
  }
  if (gen) { $("gen-step").max = gen.steps.length - 1; $("gen-step").value = gen.steps.length - 1; $("gen-step").addEventListener("input", drawGeneration); }

  // ---- export ----------------------------------------------------------------------------------
  const PANELS = { overview: ["ov-canvas", "ov-overlay"], head: ["head-canvas", "head-overlay"], kv: ["kv-canvas", "kv-overlay"],
    importance: ["imp-canvas", "imp-overlay"], generation: ["gen-canvas", "gen-overlay"] };
  function panelTitle(p) {
    return { overview: "All heads", head: `Layer ${st.layer}, head ${st.head}`, kv: $("kv-title").textContent,
      importance: "Token importance", generation: `Generation, layer ${st.layer}, head ${st.head}` }[p];
  }
  function composed(p) {  // the panel as one canvas at device resolution, selection included
    const [a, b] = PANELS[p].map($), t = 28 * dpr;
    const c = document.createElement("canvas"); c.width = a.width; c.height = a.height + t;
    const g = c.getContext("2d"); g.fillStyle = "#ffffff"; g.fillRect(0, 0, c.width, c.height);
    g.fillStyle = "#1d2329"; g.font = `${14 * dpr}px "DejaVu Sans", sans-serif`; g.textBaseline = "middle";
    g.fillText(`${meta.model}: ${panelTitle(p)}`, 8 * dpr, t / 2);
    g.drawImage(a, 0, t); g.drawImage(b, 0, t);
    return c;
  }
  const fileStem = (p) => `kvscope-${p}${p === "head" || p === "generation" ? `-L${st.layer}-H${st.head}` : p === "kv" ? `-L${st.layer}-KV${kvHead()}` : ""}`;
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  function exportPanel(p, fmt) {
    if (fmt === "png") return { name: fileStem(p) + ".png", type: "image/png", data: composed(p).toDataURL("image/png") };
    if (fmt === "svg" && p === "head") return { name: fileStem(p) + ".svg", type: "image/svg+xml", data: headSvg() };
    if (fmt === "svg") {
      const [a, b] = PANELS[p].map($), w = a.width / dpr, h = a.height / dpr;
      const svg = `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${w}" height="${h + 28}" viewBox="0 0 ${w} ${h + 28}">\n` +
        `<rect width="100%" height="100%" fill="#ffffff"/>\n<text x="8" y="18" font-family="DejaVu Sans, sans-serif" font-size="14" fill="#1d2329">${esc(meta.model + ": " + panelTitle(p))}</text>\n` +
        `<g transform="translate(0,28)"><image width="${w}" height="${h}" style="image-rendering:pixelated" xlink:href="${a.toDataURL("image/png")}"/>\n` +
        `<image width="${w}" height="${h}" xlink:href="${b.toDataURL("image/png")}"/></g>\n</svg>\n`;
      return { name: fileStem(p) + ".svg", type: "image/svg+xml", data: svg };
    }
    return { name: fileStem(p) + ".csv", type: "text/csv", data: csvOf(p) };
  }
  // The head panel as a vector figure: cells as one embedded image (a pixel per cell, drawn
  // unsmoothed), labels, axis titles, colour bars and the selection as SVG elements.
  function headSvg() {
    const { x0, y0, M, Wc, Hc } = hv, f = focus(), T = 28, out = [];
    const text = (x, y, str, attrs = "") => out.push(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(str)}</text>`);
    const grad = (id, lut, n) => { const st = []; for (let k = 0; k <= n; k++) st.push(`<stop offset="${(k / n).toFixed(3)}" stop-color="${css(lut, 1 - k / n)}"/>`);
      return `<linearGradient id="${id}" x1="0" y1="0" x2="0" y2="1">${st.join("")}</linearGradient>`; };
    out.push(`<?xml version="1.0" encoding="UTF-8"?>`,
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${Wc}" height="${Hc + T}" viewBox="0 0 ${Wc} ${Hc + T}" font-family="DejaVu Sans, sans-serif" font-size="11" fill="#1d2329">`,
      `<defs>${grad("seq", SEQ, 16)}${grad("sink", SINK, 8)}</defs>`, `<rect width="100%" height="100%" fill="#ffffff"/>`);
    text(8, 18, `${meta.model}: layer ${st.layer}, head ${st.head} (${mode === "exact" ? "exact" : `pooled, ${hv.tile} x ${hv.tile} tokens a cell`})`, 'font-size="14"');
    out.push(`<g transform="translate(0,${T})">`);
    out.push(`<image x="${x0}" y="${y0}" width="${M}" height="${M}" preserveAspectRatio="none" style="image-rendering:pixelated" xlink:href="${hv.img.toDataURL("image/png")}"/>`);
    out.push(`<rect x="${x0 - 0.5}" y="${y0 - 0.5}" width="${M + 1}" height="${M + 1}" fill="none" stroke="#9aa4ae"/>`);
    const keep = new Set(f ? [f.q, f.k] : []), pos = (i) => ((i + 0.5) / S) * M;
    const cut = (s) => (s.length > 18 ? s.slice(0, 17) + "\u2026" : s);
    const labels = thinnedLabels(S, pos, 13, keep), bold = ' font-weight="bold" fill="#b91c1c"';
    for (const i of f ? [...labels, f.q] : labels)
      text(x0 - 6, y0 + pos(i), cut(tokLabel(i)), `text-anchor="end" dominant-baseline="middle"${f && i === f.q ? bold : ""}`);
    for (const j of f ? [...labels, f.k] : labels)
      out.push(`<text transform="translate(${(x0 + pos(j)).toFixed(1)},${y0 + M + 6}) rotate(-90)" text-anchor="end" dominant-baseline="middle"${f && j === f.k ? bold : ""}>${esc(cut(tokLabel(j)))}</text>`);
    text(x0 + M / 2, y0 + M + 122, "key (attended to) \u2192", 'text-anchor="middle" font-size="12"');
    out.push(`<text transform="translate(14,${y0 + M / 2}) rotate(-90)" text-anchor="middle" font-size="12">query (attending) \u2192</text>`);
    if (f) {
      const a = (f.q / S) * M, b = (f.k / S) * M, cw = Math.max(2, M / S);
      out.push(`<rect x="${x0}" y="${(y0 + a).toFixed(2)}" width="${M}" height="${cw.toFixed(2)}" fill="none" stroke="#b91c1c" stroke-width="1.5"/>`,
        `<rect x="${(x0 + b).toFixed(2)}" y="${y0}" width="${cw.toFixed(2)}" height="${M}" fill="none" stroke="#b91c1c" stroke-width="1.5"/>`);
    }
    // Colour bars, with the ticks the canvas shows.
    const cx = x0 + M + 24, hgt = Math.round(M * (hv.sinkCells ? 0.62 : 1)), kind = hv.kind;
    const inv = (t) => kind === "linear" ? t * hv.vmax : kind === "log"
      ? Math.pow(10, -4 + t * (Math.log10(Math.max(hv.vmax, 1.0001e-4)) + 4)) : t * t * (kind === "row" ? 1 : hv.vmax);
    out.push(`<rect x="${cx}" y="${y0}" width="14" height="${hgt}" fill="url(#seq)" stroke="#9aa4ae"/>`);
    for (const t of [0, 0.25, 0.5, 0.75, 1]) text(cx + 19, y0 + (1 - t) * hgt, fmtW(inv(t)), 'dominant-baseline="middle"');
    out.push(`<text transform="translate(${cx + 76},${y0 + hgt / 2}) rotate(-90)" text-anchor="middle">${esc({ power: "weight, power scale (gamma 0.5)", linear: "weight, linear scale", log: "weight, log scale", row: "weight / row max (power)" }[kind])}</text>`);
    if (hv.sinkCells) {
      const y2 = y0 + hgt + 30, h2 = M - hgt - 30;
      out.push(`<rect x="${cx}" y="${y2}" width="14" height="${h2}" fill="url(#sink)" stroke="#9aa4ae"/>`);
      text(cx - 2, y2 - 12, "sink columns");
      for (const t of [0, 0.5, 1]) text(cx + 19, y2 + (1 - t) * h2, fmtW(t * t * hv.smax), 'dominant-baseline="middle"');
    }
    out.push("</g>", "</svg>", "");
    return out.join("\n");
  }
  const q = (s) => `"${String(s).replace(/"/g, '""')}"`;
  function csvOf(p) {
    const rows = [];
    if (p === "overview") {
      rows.push("layer,head,entropy,sink_mass,mean_distance,prev_token,max_weight");
      for (let l = 0; l < L; l++) for (let h = 0; h < H; h++)
        rows.push([l, h, ...["entropy", "sink_mass", "mean_distance", "prev_token", "max_weight"].map((s) => statOf(s, l, h))].join(","));
    } else if (p === "head") {
      if (mode === "exact") {
        rows.push("layer,head,query,key,query_token,key_token,weight");
        const m = arr(`map.${st.layer}.${st.head}`);
        for (let i = 0; i < S; i++) for (let j = 0; j <= i; j++) rows.push(`${st.layer},${st.head},${i},${j},${q(meta.tokens[i])},${q(meta.tokens[j])},${m[triAt(i, j)]}`);
      } else {
        rows.push("layer,head,query,rank,key,query_token,key_token,weight");
        const K = att.top_k, keys = arr(`topk_key.${st.layer}`), ws = arr(`topk_w.${st.layer}`);
        for (let i = 0; i < S; i++) for (let r = 0; r < K; r++) { const b = (st.head * S + i) * K + r, k = keys[b];
          if (k <= i) rows.push(`${st.layer},${st.head},${i},${r + 1},${k},${q(meta.tokens[i])},${q(meta.tokens[k])},${ws[b]}`); }
      }
    } else if (p === "kv") {
      const norms = arr(`kvnorm.${st.layer}`), kh = kvHead();
      rows.push("layer,kv_head,token,text,key_norm,key_norm_pre_rope,value_norm");
      for (let t = 0; t < S; t++) rows.push(`${st.layer},${kh},${t},${q(meta.tokens[t])},${norms[kh * S + t]},${norms[(KH + kh) * S + t]},${norms[(2 * KH + kh) * S + t]}`);
    } else if (p === "importance") {
      rows.push(["token", "text", ...meta.importance.map((d) => d.name)].join(","));
      for (let t = 0; t < S; t++) rows.push([t, q(meta.tokens[t]), ...meta.importance.map((d) => d.values[t])].join(","));
    } else if (p === "generation") {
      rows.push("step,token,text,cache_len,cache_bytes,ms");
      gen.steps.forEach((s, r) => rows.push(`${r + 1},${s.token},${q(s.text)},${s.cache_len},${s.cache_bytes},${s.ms}`));
    }
    return rows.join("\n") + "\n";
  }
  function download(e) {
    const a = document.createElement("a");
    const blob = e.data.startsWith("data:") ? null : new Blob([e.data], { type: e.type });
    a.href = blob ? URL.createObjectURL(blob) : e.data; a.download = e.name;
    document.body.appendChild(a); a.click(); a.remove();
    if (blob) setTimeout(() => URL.revokeObjectURL(a.href), 2000);
  }
  for (const span of document.querySelectorAll(".export")) {
    const p = span.dataset.panel;
    for (const f of ["png", "svg", "csv"]) {
      const b = document.createElement("button"); b.textContent = f.toUpperCase(); b.title = `Save this panel as ${f.toUpperCase()}`;
      b.dataset.format = f;
      b.addEventListener("click", () => download(exportPanel(p, f)));
      span.appendChild(b);
    }
  }

  // ---- start ---------------------------------------------------------------------------------------
  window.kvscope = { meta, perf, state: st, openHead, exportPanel, setHover, toggleLock, ready: false,
    overviewCells: () => ov.cells.map((c) => ({ l: c.l, h: c.h, x: c.x, y: c.y, size: ov.ts })),
    headGeometry: () => ({ x0: hv.x0, y0: hv.y0, M: hv.M }) };
  // The data of the first view (overview thumbnails, the opening head) comes before this
  // script in the file and is drawn at once; the rest follows the script and is read once
  // the whole file is parsed.
  lockWords();
  drawOverview();
  drawHead();
  requestAnimationFrame(() => { perf.firstPaint = performance.now(); });
  function rest() {
    drawKv(); drawImportance(); drawGeneration();
    window.kvscope.ready = true;
    perf.ready = performance.now();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", rest); else rest();
  let resizeTimer = 0;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => {
    drawOverview(); drawHead(); drawKv(); drawImportance(); drawGeneration(); }, 150); });
})();
