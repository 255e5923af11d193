// The page of `python -m host --serve` (host/web.py): draw, send, show the answers.
// Plain JavaScript, no library: the page must work offline and ship inside the package.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  info: null,       // /api/info: the network's input shape and classes, the back end
  strokes: [],      // the strokes drawn since the last clear, for undo
  base: null,       // an uploaded or test image under the strokes (a canvas), or null
  busy: false,      // a request is on its way
  pending: null,    // the latest request asked for meanwhile (older ones are dropped)
  answers: 0,       // answers shown (the tests wait on this)
};

// Seconds before the page gives up on an answer: longer than the server's own bounds (a busy
// board, a silent one), so that the server's message is what the user sees.
const TIMEOUT_S = 180;

async function api(path, body) {
  const options = {signal: AbortSignal.timeout(TIMEOUT_S * 1000)};
  if (body !== undefined) {
    Object.assign(options, {method: "POST", headers: {"Content-Type": "application/json"},
                            body: JSON.stringify(body)});
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error(`the server did not answer (${e.message}); is python -m host --serve running?`);
  }
  let data;
  try {
    data = await response.json();
  } catch (e) {
    throw new Error(`the server answered ${response.status} without a message`);
  }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
}

function setBusy(busy) {
  state.busy = busy;
  document.body.dataset.state = busy ? "busy" : "idle";
}

// ---- drawing -------------------------------------------------------------------------------

function lineWidth() {
  // about two of the network's pixels once the digit is fitted into 20/28 of the image, as
  // MNIST's pen strokes are
  return Math.max(2, $("draw").width / 14);
}

// The drawing's context, read back at each request (so the browser keeps it in memory).
function drawContext() {
  return $("draw").getContext("2d", {willReadFrequently: true});
}

function redraw() {
  const canvas = $("draw");
  const ctx = drawContext();
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (state.base) {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(state.base, 0, 0, canvas.width, canvas.height);
  }
  ctx.strokeStyle = ctx.fillStyle = "#fff";
  ctx.lineWidth = lineWidth();
  ctx.lineCap = ctx.lineJoin = "round";
  for (const stroke of state.strokes) {
    if (stroke.length === 1) {
      ctx.beginPath();
      ctx.arc(stroke[0][0], stroke[0][1], lineWidth() / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(...stroke[0]);
    for (const p of stroke.slice(1)) ctx.lineTo(...p);
    ctx.stroke();
  }
}

function pointOf(event) {
  const canvas = $("draw");
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width,
          (event.clientY - box.top) * canvas.height / box.height];
}

function setupDrawing() {
  const canvas = $("draw");
  let stroke = null;
  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    stroke = [pointOf(event)];
    state.strokes.push(stroke);
    redraw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!stroke) return;
    stroke.push(pointOf(event));
    redraw();
  });
  const end = () => {
    if (!stroke) return;
    stroke = null;
    if ($("auto").checked) classifyDrawing();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", () => {
    state.strokes = [];
    state.base = null;
    redraw();
  });
  $("undo").addEventListener("click", () => {
    state.strokes.pop();
    redraw();
    if ($("auto").checked && (state.strokes.length || state.base)) classifyDrawing();
  });
  $("classify").addEventListener("click", classifyDrawing);
}

// The drawing's grey levels (its red channel: the ink is white on black).
function drawingRequest() {
  const canvas = $("draw");
  const rgba = drawContext().getImageData(0, 0, canvas.width, canvas.height).data;
  const pixels = new Array(canvas.width * canvas.height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rgba[4 * i];
  return {drawing: {width: canvas.width, height: canvas.height, pixels}};
}

function classifyDrawing() {
  send(drawingRequest());
}

// ---- images: a PNG, a test image -----------------------------------------------------------

// An image file drawn onto a canvas of the drawing's size, fitted with its aspect ratio kept,
// as grey levels: its luminance, inverted when its border is light (a dark digit on white paper
// becomes MNIST's white on black).
async function loadFile(file) {
  const bitmap = await createImageBitmap(file);
  const draw = $("draw");
  const canvas = document.createElement("canvas");
  canvas.width = draw.width;
  canvas.height = draw.height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
  const w = bitmap.width * scale, h = bitmap.height * scale;
  ctx.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const d = image.data;
  const grey = (i) => Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
  let border = 0, count = 0;
  for (let x = 0; x < canvas.width; x++) {
    border += grey(4 * x) + grey(4 * ((canvas.height - 1) * canvas.width + x));
    count += 2;
  }
  const invert = border / count > 127;
  for (let i = 0; i < d.length; i += 4) {
    const g = invert ? 255 - grey(i) : grey(i);
    d[i] = d[i + 1] = d[i + 2] = g;
    d[i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  state.base = canvas;
  state.strokes = [];
  redraw();
  classifyDrawing();
}

function setupFiles() {
  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) loadFile(file).catch((e) => showError(`cannot read ${file.name}: ${e.message}`));
  });
  const canvas = $("draw");
  canvas.addEventListener("dragover", (event) => event.preventDefault());
  canvas.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) loadFile(file).catch((e) => showError(`cannot read ${file.name}: ${e.message}`));
  });
  $("load-test").addEventListener("click", async () => {
    try {
      const test = await api(`/api/test-image?index=${encodeURIComponent($("index").value)}`);
      $("label").textContent = `its label: ${test.label}`;
      state.base = codesCanvas(test.pixels);
      state.strokes = [];
      redraw();
      send({pixels: test.pixels});
    } catch (e) {
      showError(e.message);
    }
  });
}

// The board's codes (row-major, channels last) as a canvas of the network's size: red, green
// and blue for a colour network, else the first channel in grey.
function codesCanvas(pixels) {
  const {width, height, channels} = state.info;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const v = pixels.slice(i * channels, i * channels + (channels === 3 ? 3 : 1));
    image.data.set(channels === 3 ? [...v, 255] : [v[0], v[0], v[0], 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// ---- answers -------------------------------------------------------------------------------

async function send(request) {
  if (state.busy) {
    state.pending = request;
    return;
  }
  setBusy(true);
  try {
    show(await api("/api/classify", request));
    showError("");
  } catch (e) {
    showError(e.message);
  } finally {
    setBusy(false);
    state.answers += 1;
    document.body.dataset.answers = state.answers;
  }
  if (state.pending) {
    const next = state.pending;
    state.pending = null;
    send(next);
  }
}

function bars(id, logits, winner) {
  const box = $(id);
  box.replaceChildren();
  logits.forEach((v, k) => {
    const row = document.createElement("div");
    row.className = "bar" + (k === winner ? " winner" : "");
    const fill = document.createElement("span");
    fill.className = "fill " + (v < 0 ? "negative" : "positive");
    fill.style.width = `${Math.abs(v) / 128 * 50}%`;
    const track = document.createElement("span");
    track.className = "track";
    track.append(fill);
    const label = document.createElement("span");
    label.className = "index";
    label.textContent = k;
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = v;
    row.append(label, track, value);
    box.append(row);
  });
}

function showPanel(name, answer, identical) {
  const ok = answer && answer.logits;
  $(`${name}-class`).textContent = ok ? answer.class : "–";
  $(`${name}-logits`).textContent = ok ? answer.logits.join(" ") : "";
  bars(`${name}-bars`, ok ? answer.logits : [], ok ? answer.class : -1);
  const mark = $(`${name}-mark`);
  if (!mark) return;
  mark.className = "mark";
  if (!ok) {
    mark.textContent = answer && answer.error ? answer.error : "";
  } else {
    mark.textContent = identical ? "✓ identical to the board's" : "✗ differs from the board's";
    mark.classList.add(identical ? "same" : "differs");
  }
}

function show(answer) {
  const sent = $("sent");
  sent.getContext("2d").drawImage(codesCanvas(answer.pixels), 0, 0);
  const {width, channels} = state.info;
  const rows = [];
  for (let y = 0; y * width * channels < answer.pixels.length; y++) {
    const row = answer.pixels.slice(y * width * channels, (y + 1) * width * channels);
    rows.push(row.map((v) => String(v).padStart(3)).join(" "));
  }
  $("sent-codes").textContent = rows.join("\n");
  const board = answer.board;
  showPanel("board", board, true);
  $("board-time").textContent = `${board.milliseconds.toFixed(1)} ms` +
    (board.cycles ? `; ${board.cycles.toLocaleString("en")} cycles simulated, request to answer`
                  : "");
  // the reference compared with the board's logits, the Keras model with the reference's
  showPanel("reference", answer.reference, answer.identical.reference);
  showPanel("keras", answer.keras, answer.identical.keras);
  $("keras-status").textContent = answer.keras.logits ? "ready" : answer.keras.error;
  if (answer.keras.logits) {
    $("keras-mark").textContent = answer.identical.keras ? "✓ identical to the reference's"
                                                         : "✗ differs from the reference's";
  }
  showCounter(answer.counter);
  showLayers(answer.layers);
}

function showCounter(counter) {
  $("requests").textContent = counter.requests;
  $("mismatches").textContent = counter.mismatches;
  $("keras-mismatches").textContent = counter.keras_mismatches;
}

// ---- the reference's activations -----------------------------------------------------------

// One map (h x w values of one channel, or a vector laid out as a square) as a small canvas,
// |value| / the layer's largest in grey, negative values in blue.
function mapCanvas(values, h, w, largest, title, side = 96) {
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.title = title;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  values.forEach((v, i) => {
    const g = Math.round(255 * Math.abs(v) / largest);
    image.data.set(v < 0 ? [g >> 2, g >> 1, g, 255] : [g, g, g, 255], 4 * i);
  });
  ctx.putImageData(image, 0, 0);
  const scale = Math.max(2, Math.floor(side / Math.max(h, w)));
  canvas.style.width = `${w * scale}px`;
  canvas.style.height = `${h * scale}px`;
  return canvas;
}

function showLayers(layers) {
  const box = $("maps");
  box.replaceChildren();
  for (const layer of layers) {
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    caption.textContent = `${layer.name} (${layer.kind}, ${layer.shape.join("x")})`;
    figure.append(caption);
    if (!layer.values) {
      figure.append("too large to show");
    } else if (layer.shape.length === 3) {
      const [h, w, c] = layer.shape;
      const largest = Math.max(1, ...layer.values.map(Math.abs));
      for (let k = 0; k < Math.min(c, 64); k++) {
        const channel = [];
        for (let i = k; i < layer.values.length; i += c) channel.push(layer.values[i]);
        // many channels smaller, so that a wide convolution's maps stay on a screen or two
        figure.append(mapCanvas(channel, h, w, largest, `${layer.name} channel ${k}`,
                                c > 8 ? 48 : 96));
      }
    } else {
      const n = layer.values.length;
      const w = Math.ceil(Math.sqrt(n)), h = Math.ceil(n / w);
      const values = layer.values.concat(new Array(w * h - n).fill(0));
      const largest = Math.max(1, ...layer.values.map(Math.abs));
      figure.append(mapCanvas(values, h, w, largest, `${layer.name}: ${n} values`));
    }
    box.append(figure);
  }
}

// ---- start ---------------------------------------------------------------------------------

async function start() {
  setBusy(false);
  document.body.dataset.answers = 0;
  let info;
  try {
    info = state.info = await api("/api/info");
  } catch (e) {
    showError(e.message);
    return;
  }
  const draw = $("draw"), sent = $("sent");
  // the drawing in the network's proportions, about 280 pixels on its longer side
  const scale = Math.max(4, Math.floor(280 / Math.max(info.height, info.width)));
  draw.width = info.width * scale;
  draw.height = info.height * scale;
  sent.width = info.width;
  sent.height = info.height;
  sent.style.width = `${info.width * 6}px`;
  sent.style.height = `${info.height * 6}px`;
  $("board-label").textContent = info.label;
  $("tests").hidden = !info.test_images;
  $("about").textContent = `${info.weights}: ${info.height}x${info.width}x${info.channels} ` +
    `in, ${info.classes} classes, ${info.layers.map((l) => l.name).join(" → ")}.`;
  $("keras-status").textContent = info.keras;
  showCounter(info.counter);
  setupDrawing();
  setupFiles();
  redraw();
  document.body.dataset.ready = "1";
}

start();
