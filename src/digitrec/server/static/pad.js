// The drawing pad: draw with mouse, finger or pen; the number is read as you draw.
// Plain JavaScript, no build step, nothing loaded from outside this server.
"use strict";

(() => {
  const DEBOUNCE_MS = 250;
  const pad = document.getElementById("pad");
  const overlay = document.getElementById("overlay");
  const wrap = document.getElementById("pad-wrap");
  const hint = document.getElementById("hint");
  const numberEl = document.getElementById("number");
  const statusEl = document.getElementById("status");
  const errorEl = document.getElementById("error");
  const digitsEl = document.getElementById("digits");
  const resultEl = document.getElementById("result");
  const fileInput = document.getElementById("file");
  const tokenForm = document.getElementById("token-form");
  const tokenInput = document.getElementById("token");
  const ctx = pad.getContext("2d");
  const octx = overlay.getContext("2d");

  // Everything on the pad, so undo can redraw it: an optional dropped image, then strokes.
  let strokes = [];
  let current = null;
  let background = null; // {image, x, y, scale}: a dropped image, fitted into the pad
  let droppedFile = null; // sent as is while nothing has been drawn over it
  let timer = null;
  let inflight = null;
  let sequence = 0;
  let completed = 0;

  // Strokes about as thick, relative to the pad, as a pen line is to a written digit.
  const lineWidth = () => Math.max(4, pad.height * 0.075);

  function toPad(event) {
    const rect = pad.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * pad.width) / rect.width,
      y: ((event.clientY - rect.top) * pad.height) / rect.height,
    };
  }

  // A smooth line through the points: quadratic curves between midpoints.
  function drawStroke(points) {
    ctx.lineWidth = lineWidth();
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0].x, points[0].y, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0].x, points[0].y);
    for (let i = 1; i < points.length - 1; i++) {
      const mid = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
      ctx.quadraticCurveTo(points[i].x, points[i].y, mid.x, mid.y);
    }
    const last = points[points.length - 1];
    ctx.lineTo(last.x, last.y);
    ctx.stroke();
  }

  function redraw() {
    // Transparent background: the PNG sent has black ink in its alpha channel.
    ctx.clearRect(0, 0, pad.width, pad.height);
    if (background) {
      const { image, x, y, scale } = background;
      ctx.drawImage(image, x, y, image.width * scale, image.height * scale);
    }
    for (const stroke of strokes) drawStroke(stroke);
    if (current) drawStroke(current);
    hint.classList.toggle("gone", Boolean(background || strokes.length || current));
  }

  function isEmpty() {
    return !background && strokes.length === 0;
  }

  // --- drawing -----------------------------------------------------------
  pad.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 && event.pointerType === "mouse") return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    current = [toPad(event)];
    droppedFile = null; // once drawn over, the pad itself is what gets read
    redraw();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!current || !pad.hasPointerCapture(event.pointerId)) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) current.push(toPad(e));
    redraw();
    schedule();
  });

  function endStroke(event) {
    if (!current) return;
    if (pad.hasPointerCapture(event.pointerId)) pad.releasePointerCapture(event.pointerId);
    strokes.push(current);
    current = null;
    redraw();
    schedule();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("clear").addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    }
  });

  function undo() {
    if (strokes.length) strokes.pop();
    else if (background) { background = null; droppedFile = null; }
    redraw();
    schedule(0);
  }

  function clear() {
    strokes = [];
    background = null;
    droppedFile = null;
    redraw();
    schedule(0);
  }

  // --- files: drop or pick -------------------------------------------------
  wrap.addEventListener("dragover", (event) => {
    event.preventDefault();
    wrap.classList.add("dragging");
  });
  wrap.addEventListener("dragleave", () => wrap.classList.remove("dragging"));
  wrap.addEventListener("drop", (event) => {
    event.preventDefault();
    wrap.classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) useFile(file);
  });
  fileInput.addEventListener("change", () => {
    if (fileInput.files[0]) useFile(fileInput.files[0]);
    fileInput.value = "";
  });

  async function useFile(file) {
    strokes = [];
    background = null;
    droppedFile = file;
    try {
      // Show it on the pad when the browser can decode it; the server reads the file itself either way.
      const image = await createImageBitmap(file);
      const scale = Math.min(pad.width / image.width, pad.height / image.height);
      background = {
        image,
        scale,
        x: (pad.width - image.width * scale) / 2,
        y: (pad.height - image.height * scale) / 2,
      };
    } catch (_) {
      background = null;
    }
    redraw();
    schedule(0);
  }

  // --- asking the server ----------------------------------------------------
  function schedule(delay = DEBOUNCE_MS) {
    clearTimeout(timer);
    timer = setTimeout(recognise, delay);
  }

  function authHeaders() {
    const token = sessionStorage.getItem("digitrec-token");
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async function padBlob() {
    return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  }

  async function recognise() {
    const seq = ++sequence;
    if (inflight) inflight.abort();
    if (isEmpty() && !droppedFile) {
      showResult(null, null);
      setState("idle");
      return;
    }
    const controller = new AbortController();
    inflight = controller;
    setState("busy");
    statusEl.textContent = "Reading…";
    let request;
    let mapping = null; // how the answer's boxes map onto the pad
    if (droppedFile) {
      const form = new FormData();
      form.append("file", droppedFile, droppedFile.name || "upload");
      request = { method: "POST", body: form, headers: authHeaders(), signal: controller.signal };
      if (background) mapping = { x: background.x, y: background.y, scale: background.scale };
    } else {
      const blob = await padBlob();
      request = {
        method: "POST",
        body: blob,
        headers: { "Content-Type": "image/png", ...authHeaders() },
        signal: controller.signal,
      };
      mapping = { x: 0, y: 0, scale: 1 };
    }
    let response;
    let body = null;
    try {
      response = await fetch("/v1/recognize?include=samples", request);
      const text = await response.text();
      try { body = JSON.parse(text); } catch (_) { body = null; }
    } catch (err) {
      if (err.name === "AbortError") return;
      if (seq !== sequence) return;
      showError(`Cannot reach the digitrec server (${err.message}). Is \`digitrec serve\` still running?`);
      return;
    }
    if (seq !== sequence) return; // a newer drawing has been sent meanwhile
    inflight = null;
    if (!response.ok) {
      if (response.status === 401) tokenForm.hidden = false;
      const message = body && body.error ? body.error.message : `The server answered ${response.status} ${response.statusText}.`;
      showError(message, body && body.error ? body.error.code : `http_${response.status}`);
      return;
    }
    tokenForm.hidden = true;
    showResult(body, mapping);
    setState("done");
  }

  function setState(state) {
    resultEl.dataset.state = state;
    if (state === "done" || state === "error") resultEl.dataset.completed = String(++completed);
  }

  function showError(message, code) {
    errorEl.hidden = false;
    errorEl.textContent = message;
    errorEl.dataset.code = code || "";
    numberEl.textContent = "–";
    statusEl.textContent = "";
    digitsEl.replaceChildren();
    octx.clearRect(0, 0, overlay.width, overlay.height);
    setState("error");
  }

  function showResult(result, mapping) {
    errorEl.hidden = true;
    errorEl.textContent = "";
    digitsEl.replaceChildren();
    octx.clearRect(0, 0, overlay.width, overlay.height);
    if (!result) {
      numberEl.textContent = "–";
      statusEl.textContent = "";
      return;
    }
    numberEl.textContent = result.text || "–";
    const uncertain = result.digits.filter((d) => d.uncertain).length;
    statusEl.textContent = result.digits.length === 0
      ? "No ink found: draw a digit."
      : `${result.digits.length} digit${result.digits.length > 1 ? "s" : ""}` +
        (uncertain ? `, ${uncertain} uncertain (shown as ?)` : "");
    result.digits.forEach((digit, index) => {
      digitsEl.append(digitCard(digit, sampleOf(result, digit, index)));
      if (mapping) drawBox(digit, mapping);
    });
  }

  // The model-format input the model saw for one digit, wherever the answer put it.
  function sampleOf(result, digit, index) {
    if (digit.sample) return digit.sample;
    if (Array.isArray(result.samples)) return result.samples[index];
    return null;
  }

  function digitCard(digit, sample) {
    const li = document.createElement("li");
    li.className = "digit" + (digit.uncertain ? " uncertain" : "");
    const label = digit.top.map(([d, p]) => `${d}: ${(p * 100).toFixed(1)}%`).join(", ");
    li.setAttribute("aria-label", `Digit read as ${digit.digit}${digit.uncertain ? " (uncertain)" : ""}; ${label}`);
    li.append(sampleCanvas(sample));
    const bars = document.createElement("div");
    bars.className = "bars";
    for (const [d, p] of digit.top) {
      const row = document.createElement("div");
      row.className = "bar";
      const name = document.createElement("span");
      name.textContent = String(d);
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      track.append(fill);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = `${(p * 100).toFixed(p >= 0.995 || p < 0.01 ? 0 : 1)}%`;
      row.append(name, track, pct);
      bars.append(row);
    }
    li.append(bars);
    if (digit.uncertain) {
      const note = document.createElement("p");
      note.className = "uncertain-note";
      note.textContent = "Uncertain: the model is not sure of this one.";
      li.append(note);
    }
    return li;
  }

  // Draws a model-format sample (28x28 in 0..1, or 8x8 in 0..16) as white ink on black.
  function sampleCanvas(sample) {
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    const values = sample ? sample.flat(Infinity) : [];
    const side = Math.round(Math.sqrt(values.length)) || 28;
    canvas.width = side;
    canvas.height = side;
    canvas.setAttribute("aria-label", `The ${side}x${side} image the model saw`);
    if (!values.length) return canvas;
    // optdigits samples (8x8) count ink from 0 to 16; MNIST samples (28x28) run from 0 to 1.
    const top = side === 8 ? 16 : 1;
    const image = canvas.getContext("2d").createImageData(side, side);
    values.forEach((v, i) => {
      const level = Math.round(255 * Math.max(0, Math.min(1, v / top)));
      image.data.set([level, level, level, 255], i * 4);
    });
    canvas.getContext("2d").putImageData(image, 0, 0);
    return canvas;
  }

  function drawBox(digit, { x, y, scale }) {
    const [x0, y0, x1, y1] = digit.box;
    const left = x + x0 * scale;
    const top = y + y0 * scale;
    const width = (x1 - x0) * scale;
    const height = (y1 - y0) * scale;
    octx.lineWidth = 2;
    octx.strokeStyle = digit.uncertain ? "#b45309" : "#2563eb";
    octx.strokeRect(left, top, width, height);
    octx.font = "bold 18px system-ui, sans-serif";
    octx.fillStyle = octx.strokeStyle;
    octx.fillText(digit.uncertain ? "?" : String(digit.digit), left + 3, Math.max(16, top - 4));
  }

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("digitrec-token", tokenInput.value);
    tokenInput.value = "";
    schedule(0);
    loadModelName();
  });

  async function loadModelName() {
    try {
      const response = await fetch("/healthz");
      const body = await response.json();
      document.getElementById("model").textContent = `model: ${body.model}`;
    } catch (_) {
      document.getElementById("model").textContent = "model: unknown (server not reachable)";
    }
  }

  redraw();
  loadModelName();
})();
