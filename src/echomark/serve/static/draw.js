// Drawing of a frame and its overlays on a canvas, in image pixels under a zoom/pan transform.

export class View {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.image = null;
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(r.width));
    this.canvas.height = Math.max(1, Math.round(r.height));
  }

  fit() {
    if (!this.image) return;
    const { width: w, height: h } = this.canvas;
    this.scale = Math.min(w / this.image.naturalWidth, h / this.image.naturalHeight) * 0.96;
    this.tx = (w - this.image.naturalWidth * this.scale) / 2;
    this.ty = (h - this.image.naturalHeight * this.scale) / 2;
  }

  // Pixel centres are at integer coordinates, so image pixel x covers [x - 0.5, x + 0.5].
  toScreen(x, y) { return [(x + 0.5) * this.scale + this.tx, (y + 0.5) * this.scale + this.ty]; }
  toImage(sx, sy) { return [(sx - this.tx) / this.scale - 0.5, (sy - this.ty) / this.scale - 0.5]; }

  zoomAt(sx, sy, factor) {
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = Math.min(40, Math.max(0.05, this.scale * factor));
    this.tx = sx - (ix + 0.5) * this.scale;
    this.ty = sy - (iy + 0.5) * this.scale;
  }

  draw(scene) {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!this.image) return;
    ctx.save();
    ctx.filter = `brightness(${scene.brightness}%) contrast(${scene.contrast}%)`;
    ctx.imageSmoothingEnabled = this.scale < 2;
    ctx.drawImage(this.image, this.tx, this.ty,
      this.image.naturalWidth * this.scale, this.image.naturalHeight * this.scale);
    ctx.restore();
    for (const layer of scene.layers) this.drawLabels(layer.labels, layer.dense, scene, { dash: [4, 3], width: 1.5, alpha: 0.85 });
    if (scene.predictions) this.drawLabels(scene.predictions.labels, scene.predictions.dense, scene, { dash: [6, 4], width: 1.5, conf: true });
    if (scene.errors) this.drawErrors(scene);
    if (scene.labels) this.drawLabels(scene.labels, scene.dense, scene, { width: 2, nodes: true });
  }

  drawLabels(labels, dense, scene, style) {
    const { ctx } = this;
    for (const [name, insts] of Object.entries(labels || {})) {
      if (!scene.visible(name)) continue;
      const colour = scene.colour(name);
      const active = style.nodes && name === scene.active;
      ctx.save();
      ctx.globalAlpha = style.alpha || 1;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = active ? style.width + 1 : style.width;
      ctx.setLineDash(style.dash || []);
      insts.forEach((inst, i) => {
        if (inst.type === "point") {
          const [sx, sy] = this.toScreen(inst.x[0], inst.y[0]);
          ctx.beginPath();
          ctx.arc(sx, sy, active ? 6 : 4.5, 0, 2 * Math.PI);
          style.nodes ? ctx.fill() : ctx.stroke();
          if (style.conf && inst.conf !== undefined) ctx.fillText(inst.conf.toFixed(2), sx + 7, sy - 7);
        } else if (inst.type === "curve") {
          const poly = (dense && dense[name] && dense[name][i]) || inst.x.map((x, j) => [x, inst.y[j]]);
          ctx.beginPath();
          poly.forEach(([x, y], j) => {
            const [sx, sy] = this.toScreen(x, y);
            j ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy);
          });
          ctx.stroke();
          if (style.conf && inst.conf !== undefined) {
            const [sx, sy] = this.toScreen(inst.x[0], inst.y[0]);
            ctx.fillText(inst.conf.toFixed(2), sx + 7, sy - 7);
          }
          if (style.nodes) {
            ctx.setLineDash([]);
            inst.x.forEach((x, j) => {
              const [sx, sy] = this.toScreen(x, inst.y[j]);
              const sel = active && scene.selectedNode === j;
              ctx.beginPath();
              ctx.rect(sx - (sel ? 5 : 3.5), sy - (sel ? 5 : 3.5), sel ? 10 : 7, sel ? 10 : 7);
              (inst.straight_segment || [])[j] ? ctx.stroke() : ctx.fill();
            });
          }
        }
      });
      ctx.restore();
    }
  }

  // A dotted line from each expert point to the model's point of the same label.
  drawErrors(scene) {
    const { ctx } = this;
    ctx.save();
    ctx.strokeStyle = "#ffff66";
    ctx.setLineDash([1, 3]);
    for (const [name, insts] of Object.entries(scene.labels || {})) {
      const pred = (scene.predictions.labels || {})[name];
      if (!scene.visible(name) || !pred || insts[0].type !== "point" || pred[0].type !== "point") continue;
      const [ax, ay] = this.toScreen(insts[0].x[0], insts[0].y[0]);
      const [bx, by] = this.toScreen(pred[0].x[0], pred[0].y[0]);
      ctx.beginPath();
      ctx.moveTo(ax, ay);
      ctx.lineTo(bx, by);
      ctx.stroke();
    }
    ctx.restore();
  }
}
