// echomark annotator: browse, view and edit labels. Every edit is saved at once on the server.
import * as api from "./api.js";
import { View } from "./draw.js";

const $ = (id) => document.getElementById(id);
const PAGE = 200;
const HIT_PX = 8;

const state = {
  info: null, registry: new Map(), page: 0, total: 0, list: [],
  key: null, frame: null, video: [], videoIndex: 0,
  labels: {}, dense: {}, version: null, active: null, selectedNode: null,
  hidden: new Set(), undo: [], redo: [], changed: new Set(),
  saving: null, queued: false, playing: null, preview: null,
};
const view = new View($("canvas"));
window.echomark = {
  state, view,
  toScreen: (x, y) => {
    const [sx, sy] = view.toScreen(x, y);
    const r = view.canvas.getBoundingClientRect();
    return [r.left + sx, r.top + sy];
  },
  idle: () => !state.saving && !state.queued,
  // Timing hooks for benchmarks/bench_serve.py: last key press and last frame drawn.
  keyAt: null,
  shown: null,
};

const clone = (o) => JSON.parse(JSON.stringify(o));
const kindOf = (name) => (state.registry.get(name) || {}).kind || "point";

function setStatus(text, s) {
  $("status").textContent = text;
  $("status").dataset.state = s;
}

function scene() {
  const f = state.frame || {};
  const showPred = $("show-pred").checked && f.predictions;
  return {
    brightness: $("brightness").value, contrast: $("contrast").value,
    labels: $("show-labels").checked ? state.labels : null, dense: state.dense,
    predictions: showPred ? { labels: f.predictions, dense: f.predictions_dense } : null,
    errors: showPred && $("show-errors").checked && $("show-labels").checked,
    layers: $("show-layers").checked ? Object.values(f.layers || {}) : [],
    active: state.active, selectedNode: state.selectedNode,
    visible: (n) => !state.hidden.has(n),
    colour: (n) => (state.registry.get(n) || {}).colour || "#ffffff",
  };
}
const redraw = () => view.draw(scene());

// ---- browsing ------------------------------------------------------------------------

function filters() {
  const p = { offset: state.page * PAGE, limit: PAGE, sort: $("f-sort").value };
  for (const [id, name] of [["f-class", "class"], ["f-split", "split"], ["f-view", "view"],
    ["f-state", "state"], ["f-rater", "rater"]]) if ($(id).value) p[name] = $(id).value;
  return p;
}

function rowText(item) {
  let text = `${item.video.slice(0, 11)}… #${item.frame} · ${item.labels} labels`;
  if (item.error_px !== undefined && item.error_px !== null) text += ` · err ${item.error_px.toFixed(1)} px`;
  return text;
}

async function loadList() {
  try {
    const res = await api.frames(filters());
    state.total = res.total;
    state.list = res.items;
  } catch (e) {
    setStatus(e.message, "error");
    return;
  }
  const pages = Math.max(1, Math.ceil(state.total / PAGE));
  $("page-info").textContent = `${state.total} frames, page ${state.page + 1}/${pages}`;
  const ol = $("frame-list");
  ol.replaceChildren();
  for (const item of state.list) {
    const li = document.createElement("li");
    li.dataset.key = item.key;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = api.thumbUrl(item.key);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = rowText(item);
    li.append(img, meta);
    li.onclick = () => openFrame(item.key);
    if (item.key === state.key) li.classList.add("current");
    ol.append(li);
  }
}

async function loadVideo(video) {
  const res = await api.frames({ video, limit: 10000 });
  state.video = res.items.map((i) => i.key);
  $("scrubber").max = Math.max(0, state.video.length - 1);
}

const images = new Map();
function image(key) {
  if (!images.has(key)) {
    const img = new Image();
    img.src = api.imageUrl(key);
    images.set(key, img.decode().then(() => img));
    if (images.size > 300) images.delete(images.keys().next().value);
  }
  return images.get(key);
}

async function openFrame(key, { keepView = true } = {}) {
  while (state.saving) await state.saving;
  const video = key.slice(0, 67);
  const newVideo = !state.frame || state.frame.video !== video;
  const [frame, img] = await Promise.all([
    api.frame(key), image(key), newVideo ? loadVideo(video) : null,
  ]);
  const firstImage = !view.image || view.image.naturalWidth !== img.naturalWidth
    || view.image.naturalHeight !== img.naturalHeight;
  state.key = key;
  applyFrame(frame);
  state.undo = [];
  state.redo = [];
  state.changed = new Set();
  view.image = img;
  if (firstImage || !keepView) view.fit();
  state.videoIndex = Math.max(0, state.video.indexOf(key));
  $("scrubber").value = state.videoIndex;
  $("frame-no").textContent = `frame ${frame.frame} (${state.videoIndex + 1}/${state.video.length})`;
  $("frame-title").textContent = key;
  for (const li of $("frame-list").children) li.classList.toggle("current", li.dataset.key === key);
  for (const k of state.video.slice(state.videoIndex + 1, state.videoIndex + 4)) image(k);
  renderLabelList();
  redraw();
  window.echomark.shown = { key, t: performance.now() };
}

function applyFrame(frame) {
  state.frame = frame;
  state.labels = clone(frame.labels);
  state.dense = frame.dense;
  state.version = frame.version;
}

async function step(delta) {
  if (!state.video.length) return;
  const i = Math.min(state.video.length - 1, Math.max(0, state.videoIndex + delta));
  if (i !== state.videoIndex || state.video[i] !== state.key) await openFrame(state.video[i]);
}

function togglePlay() {
  if (state.playing) {
    clearInterval(state.playing);
    state.playing = null;
    $("play").innerHTML = "&#9654;";
    return;
  }
  $("play").innerHTML = "&#10074;&#10074;";
  let busy = false;
  state.playing = setInterval(async () => {
    if (busy) return;
    busy = true;
    const next = (state.videoIndex + 1) % state.video.length;
    await openFrame(state.video[next]).finally(() => { busy = false; });
  }, 50);
}

// ---- labels panel ---------------------------------------------------------------------

function labelNames() {
  const views = new Set((state.frame && state.frame.views) || []);
  const names = [];
  for (const spec of state.info.registry) {
    if (spec.derived) continue;
    if (!views.size || spec.views.some((v) => views.has(v))) names.push(spec.name);
  }
  for (const n of Object.keys(state.labels)) if (!names.includes(n)) names.push(n);
  return names;
}

function renderLabelList() {
  const ul = $("label-list");
  ul.replaceChildren();
  const names = labelNames();
  if (!state.active || !names.includes(state.active)) state.active = names[0] || null;
  for (const name of names) {
    const li = document.createElement("li");
    li.dataset.name = name;
    li.classList.toggle("active", name === state.active);
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = !state.hidden.has(name);
    box.title = "show / hide";
    box.onclick = (ev) => {
      ev.stopPropagation();
      box.checked ? state.hidden.delete(name) : state.hidden.add(name);
      redraw();
    };
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = (state.registry.get(name) || {}).colour || "#fff";
    const nm = document.createElement("span");
    nm.className = "name";
    nm.textContent = name;
    nm.title = (state.registry.get(name) || {}).description || "";
    const st = document.createElement("span");
    st.className = "state";
    const insts = state.labels[name];
    st.textContent = insts ? insts[0].type + (insts[0].type === "curve" ? ` ${insts[0].x.length}` : "") : "–";
    li.append(box, sw, nm, st);
    li.onclick = () => selectLabel(name);
    ul.append(li);
  }
}

function selectLabel(name) {
  state.active = name;
  state.selectedNode = null;
  renderLabelList();
  redraw();
}

function cycleLabel(delta) {
  const names = labelNames();
  const i = names.indexOf(state.active);
  selectLabel(names[(i + delta + names.length) % names.length]);
}

// ---- editing and saving ---------------------------------------------------------------

// Curves need two nodes before they can be saved; a one-node curve stays local until then.
function savable(labels) {
  const out = {};
  for (const [n, insts] of Object.entries(labels)) {
    if (insts[0].type === "curve" && insts[0].x.length < 2) continue;
    out[n] = insts;
  }
  return out;
}

function edit(mutate, { save = true } = {}) {
  state.undo.push(clone(state.labels));
  state.redo = [];
  mutate(state.labels);
  if (state.active) state.changed.add(state.active);
  afterEdit(save);
}

function afterEdit(save) {
  renderLabelList();
  redraw();
  if (save) scheduleSave();
}

function scheduleSave() {
  if (state.saving) {
    state.queued = true;
    return;
  }
  const key = state.key;
  const body = clone(savable(state.labels));
  setStatus("saving…", "saving");
  state.saving = api.saveLabels(key, state.version, body).then((frame) => {
    if (state.key === key) {
      state.version = frame.version;
      state.dense = frame.dense;
      state.frame.stamps = frame.stamps;
      state.frame.previous_labelled = frame.previous_labelled;
      redraw();
    }
    setStatus(`saved ${new Date().toLocaleTimeString()}`, "saved");
    const row = state.list.find((i) => i.key === key);
    if (row) {
      row.labels = Object.keys(frame.labels).length;
      if (frame.error_px !== undefined) row.error_px = frame.error_px;
      const li = [...$("frame-list").children].find((l) => l.dataset.key === key);
      if (li) li.querySelector(".meta").textContent = rowText(row);
    }
  }).catch((e) => {
    state.queued = false;
    if (e.status === 409) showConflict(e.body);
    else setStatus(`not saved: ${e.message}`, "error");
  }).finally(() => {
    state.saving = null;
    if (state.queued) {
      state.queued = false;
      scheduleSave();
    }
  });
}

function showConflict(body) {
  const current = body.current;
  setStatus("conflict: not saved", "conflict");
  const who = Object.values(current.stamps || {}).map((s) => `${s.user} at ${s.time}`);
  $("conflict-text").textContent = `${body.error}. Last changes: ${[...new Set(who)].join(", ") || "labels removed"}.`;
  $("conflict").hidden = false;
  const close = () => { $("conflict").hidden = true; };
  $("conflict-theirs").onclick = () => { close(); applyFrame(current); afterEdit(false); setStatus("reloaded", "saved"); };
  $("conflict-mine").onclick = () => { close(); state.version = current.version; scheduleSave(); };
  $("conflict-merge").onclick = () => {
    close();
    const merged = clone(current.labels);
    for (const n of state.changed) {
      if (state.labels[n]) merged[n] = state.labels[n];
      else delete merged[n];
    }
    state.labels = merged;
    state.version = current.version;
    afterEdit(true);
  };
}

function undo(from, to) {
  if (!from.length) return;
  to.push(clone(state.labels));
  state.labels = from.pop();
  afterEdit(true);
}

function setState(type) {
  if (!state.active) return;
  edit((L) => { L[state.active] = [{ type, x: [], y: [], straight_segment: [] }]; });
}

function clearLabel() {
  if (!state.active || !state.labels[state.active]) return;
  edit((L) => { delete L[state.active]; });
}

async function copyPrevious() {
  const prev = state.frame && state.frame.previous_labelled;
  if (!prev) {
    setStatus("no earlier labelled frame in this video", "error");
    return;
  }
  const other = await api.frame(prev);
  edit((L) => {
    for (const k of Object.keys(L)) delete L[k];
    Object.assign(L, clone(other.labels));
  });
  Object.keys(other.labels).forEach((n) => state.changed.add(n));
}

function copyLayer() {
  const layer = ((state.frame && state.frame.layers) || {})[$("layer-src").value];
  if (!layer || !Object.keys(layer.labels).length) {
    setStatus("that layer has no labels on this frame", "error");
    return;
  }
  edit((L) => {
    for (const k of Object.keys(L)) delete L[k];
    for (const [n, insts] of Object.entries(layer.labels)) L[n] = insts.map(({ conf, ...rest }) => rest);
  });
  Object.keys(layer.labels).forEach((n) => state.changed.add(n));
}

async function predictFrame() {
  const res = await api.predict(state.key);
  edit((L) => {
    for (const [n, insts] of Object.entries(res.labels)) {
      if (L[n]) continue;
      L[n] = insts.map(({ conf, ...rest }) => rest);
      state.changed.add(n);
    }
  });
}

function toggleStraight() {
  const insts = state.labels[state.active];
  const j = state.selectedNode;
  if (!insts || insts[0].type !== "curve" || j === null || j >= insts[0].x.length - 1) return;
  edit((L) => {
    const inst = L[state.active][0];
    inst.straight_segment[j] = inst.straight_segment[j] ? 0 : 1;
  });
}

function deleteNode(j) {
  const inst = (state.labels[state.active] || [])[0];
  if (!inst || inst.type !== "curve") return;
  edit((L) => {
    const c = L[state.active][0];
    c.x.splice(j, 1);
    c.y.splice(j, 1);
    c.straight_segment.splice(j, 1);
    if (!c.x.length) delete L[state.active];
  });
  state.selectedNode = null;
}

// The node of the active label under the cursor, if any.
function hitNode(sx, sy) {
  const inst = (state.labels[state.active] || [])[0];
  if (!inst || !inst.x.length) return null;
  let best = null;
  inst.x.forEach((x, j) => {
    const [px, py] = view.toScreen(x, inst.y[j]);
    const d = Math.hypot(px - sx, py - sy);
    if (d <= HIT_PX && (best === null || d < best.d)) best = { j, d };
  });
  return best && best.j;
}

// Where to insert a node clicked near the active curve: after the node whose span holds
// the nearest dense point; null when the click is not near the curve.
function insertIndex(sx, sy) {
  const inst = (state.labels[state.active] || [])[0];
  const dense = (state.dense[state.active] || [])[0];
  if (!inst || inst.type !== "curve" || !dense || inst.x.length < 2) return null;
  let best = null;
  dense.forEach(([x, y], i) => {
    const [px, py] = view.toScreen(x, y);
    const d = Math.hypot(px - sx, py - sy);
    if (d <= HIT_PX && (best === null || d < best.d)) best = { i, d };
  });
  if (!best) return null;
  const nodeAt = inst.x.map((x, j) => {
    let k = 0;
    let kd = Infinity;
    dense.forEach(([dx, dy], i) => {
      const d = Math.hypot(dx - x, dy - inst.y[j]);
      if (d < kd) { kd = d; k = i; }
    });
    return k;
  });
  for (let j = 0; j < nodeAt.length - 1; j++) if (best.i <= nodeAt[j + 1]) return j + 1;
  return null;
}

function clickAt(sx, sy) {
  if (!state.active) return;
  const [x, y] = view.toImage(sx, sy).map((v) => Math.round(v * 10) / 10);
  const kind = kindOf(state.active);
  const current = (state.labels[state.active] || [])[0];
  if (kind === "point") {
    edit((L) => { L[state.active] = [{ type: "point", x: [x], y: [y], straight_segment: [0] }]; });
    return;
  }
  const at = insertIndex(sx, sy);
  edit((L) => {
    if (!current || current.type !== "curve") {
      L[state.active] = [{ type: "curve", x: [x], y: [y], straight_segment: [0] }];
      state.selectedNode = 0;
      return;
    }
    const c = L[state.active][0];
    const j = at === null ? c.x.length : at;
    c.x.splice(j, 0, x);
    c.y.splice(j, 0, y);
    c.straight_segment.splice(j, 0, 0);
    state.selectedNode = j;
  });
}

// Redraw a dragged curve with the server's spline, one request in flight at a time.
async function previewSpline() {
  if (state.preview) return;
  const name = state.active;
  const inst = (state.labels[name] || [])[0];
  if (!inst || inst.type !== "curve" || inst.x.length < 2) return;
  state.preview = api.spline(inst).then((r) => {
    if (state.active === name) {
      state.dense = { ...state.dense, [name]: [r.dense] };
      redraw();
    }
  }).catch(() => {}).finally(() => { state.preview = null; });
}

function wirePointer() {
  const canvas = view.canvas;
  let drag = null;
  canvas.addEventListener("contextmenu", (ev) => {
    ev.preventDefault();
    const j = hitNode(ev.offsetX, ev.offsetY);
    if (j !== null) deleteNode(j);
  });
  canvas.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    canvas.setPointerCapture(ev.pointerId);
    const j = hitNode(ev.offsetX, ev.offsetY);
    drag = { x0: ev.offsetX, y0: ev.offsetY, tx: view.tx, ty: view.ty, node: j, moved: false, before: null };
    if (j !== null) {
      state.selectedNode = j;
      drag.before = clone(state.labels);
      redraw();
    }
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.offsetX - drag.x0;
    const dy = ev.offsetY - drag.y0;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    drag.moved = true;
    if (drag.node !== null) {
      const [x, y] = view.toImage(ev.offsetX, ev.offsetY).map((v) => Math.round(v * 10) / 10);
      const inst = state.labels[state.active][0];
      inst.x[drag.node] = x;
      inst.y[drag.node] = y;
      if (inst.type === "curve") {
        state.dense = { ...state.dense, [state.active]: [inst.x.map((v, i) => [v, inst.y[i]])] };
        previewSpline();
      }
    } else {
      view.tx = drag.tx + dx;
      view.ty = drag.ty + dy;
    }
    redraw();
  });
  canvas.addEventListener("pointerup", (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.node !== null && d.moved) {
      state.undo.push(d.before);
      state.redo = [];
      state.changed.add(state.active);
      afterEdit(true);
    } else if (!d.moved && d.node === null) {
      clickAt(ev.offsetX, ev.offsetY);
    }
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    view.zoomAt(ev.offsetX, ev.offsetY, ev.deltaY < 0 ? 1.15 : 1 / 1.15);
    redraw();
  }, { passive: false });
}

function wireKeys() {
  document.addEventListener("keydown", (ev) => {
    window.echomark.keyAt = performance.now();
    if (ev.target.tagName === "SELECT" || (ev.target.tagName === "INPUT" && ev.target.type !== "range" && ev.target.type !== "checkbox")) return;
    const k = ev.key;
    const ctrl = ev.ctrlKey || ev.metaKey;
    if (ctrl && (k === "z" || k === "Z")) ev.shiftKey ? undo(state.redo, state.undo) : undo(state.undo, state.redo);
    else if (ctrl && k === "y") undo(state.redo, state.undo);
    else if (ctrl) return;
    else if (k === "ArrowRight") step(1);
    else if (k === "ArrowLeft") step(-1);
    else if (k === "Home") step(-1e9);
    else if (k === "End") step(1e9);
    else if (k === " ") togglePlay();
    else if (k === "Tab") cycleLabel(ev.shiftKey ? -1 : 1);
    else if (k === "o") setState("off");
    else if (k === "b") setState("blurred");
    else if (k === "x") clearLabel();
    else if (k === "s") toggleStraight();
    else if (k === "c") copyPrevious();
    else if (k === "p" && state.info.can_predict) predictFrame();
    else if (k === "0") { view.fit(); redraw(); }
    else if ((k === "Delete" || k === "Backspace") && state.selectedNode !== null) deleteNode(state.selectedNode);
    else return;
    ev.preventDefault();
  });
}

function fillSelect(id, values) {
  for (const v of values) {
    const o = document.createElement("option");
    o.value = o.textContent = v;
    $(id).append(o);
  }
}

async function main() {
  state.info = await api.info();
  for (const spec of state.info.registry) state.registry.set(spec.name, spec);
  $("user").textContent = `rater: ${state.info.user} · saving to ${state.info.labels_file}`;
  fillSelect("f-class", state.info.classes);
  fillSelect("f-split", state.info.splits);
  fillSelect("f-view", state.info.views);
  fillSelect("f-rater", state.info.raters);
  if (!state.info.has_predictions) {
    $("f-sort").querySelector("[value=error]").remove();
    for (const id of ["show-pred", "show-errors"]) $(id).parentElement.hidden = true;
  }
  if (!state.info.layers.length) $("show-layers").parentElement.hidden = true;
  fillSelect("layer-src", state.info.layers);
  $("layer-copy").hidden = !state.info.layers.length;
  $("btn-copy-layer").onclick = copyLayer;
  $("btn-predict").hidden = !state.info.can_predict;
  for (const id of ["f-class", "f-split", "f-view", "f-state", "f-rater", "f-sort"]) {
    $(id).onchange = () => { state.page = 0; loadList(); };
  }
  $("page-prev").onclick = () => { if (state.page > 0) { state.page--; loadList(); } };
  $("page-next").onclick = () => { if ((state.page + 1) * PAGE < state.total) { state.page++; loadList(); } };
  for (const id of ["brightness", "contrast", "show-labels", "show-pred", "show-errors", "show-layers"]) $(id).oninput = redraw;
  $("fit").onclick = () => { view.fit(); redraw(); };
  $("play").onclick = togglePlay;
  $("scrubber").oninput = () => openFrame(state.video[Number($("scrubber").value)]);
  $("btn-off").onclick = () => setState("off");
  $("btn-blurred").onclick = () => setState("blurred");
  $("btn-clear").onclick = clearLabel;
  $("btn-straight").onclick = toggleStraight;
  $("btn-copy").onclick = copyPrevious;
  $("btn-undo").onclick = () => undo(state.undo, state.redo);
  $("btn-redo").onclick = () => undo(state.redo, state.undo);
  $("btn-predict").onclick = predictFrame;
  new ResizeObserver(() => { view.resize(); if (view.image) { view.fit(); } redraw(); }).observe($("stage"));
  wirePointer();
  wireKeys();
  await loadList();
  const start = new URLSearchParams(location.search).get("frame") || (state.list[0] && state.list[0].key);
  if (start) await openFrame(start);
  document.body.dataset.ready = "1";
}

window.echomark.open = (key) => openFrame(key);
main().catch((e) => setStatus(`failed to start: ${e.message}`, "error"));
