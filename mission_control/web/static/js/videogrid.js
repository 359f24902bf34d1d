// A grid of live video tiles that fills its box: the number of columns is chosen so the
// 16:9 tiles are as large as possible, and each tile asks the service for the width tier
// that matches its size on screen (320, 640 or full).

import { VideoTile } from "./video.js";
import { el } from "./ui.js";

const ASPECT = 16 / 9;

export class VideoGrid {
  constructor(container, token, tiers, { empty = "No video selected." } = {}) {
    this.container = container;
    this.token = token;
    this.tiers = tiers;
    this.tiles = new Map();
    this.order = [];
    this.emptyNote = el("p.video-empty", null, empty);
    container.append(this.emptyNote);
    this.resize = new ResizeObserver(() => this.layout());
    this.resize.observe(container);
  }

  /** Show exactly these drones, in this order. */
  setDrones(ids) {
    const wanted = ids.map(Number);
    for (const [id, tile] of this.tiles) {
      if (!wanted.includes(id)) {
        tile.close();
        this.tiles.delete(id);
      }
    }
    for (const id of wanted) {
      if (!this.tiles.has(id)) this.tiles.set(id, new VideoTile(id, this.token, { tiers: this.tiers }));
    }
    const same = wanted.length === this.order.length && wanted.every((id, i) => id === this.order[i]);
    if (same) return; // size changes are the ResizeObserver's business
    this.order = wanted;
    for (const id of wanted) this.container.append(this.tiles.get(id).element);
    this.emptyNote.hidden = wanted.length > 0;
    this.layout();
  }

  layout() {
    const n = this.order.length;
    if (!n) return;
    const style = getComputedStyle(this.container);
    const gap = parseFloat(style.columnGap) || 8;
    const width = this.container.clientWidth - (parseFloat(style.paddingLeft) || 0) - (parseFloat(style.paddingRight) || 0);
    const height = this.container.clientHeight - (parseFloat(style.paddingTop) || 0) - (parseFloat(style.paddingBottom) || 0);
    if (width <= 0) return;
    let best = { cols: 1, w: 0 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      let w = (width - gap * (cols - 1)) / cols;
      if (height > 0) w = Math.min(w, ((height - gap * (rows - 1)) / rows) * ASPECT);
      if (w > best.w) best = { cols, w };
    }
    const tileW = Math.max(120, Math.floor(best.w));
    this.container.style.gridTemplateColumns = `repeat(${best.cols}, ${tileW}px)`;
    for (const id of this.order) {
      const tile = this.tiles.get(id);
      tile.element.style.width = `${tileW}px`;
      tile.element.style.height = `${Math.floor(tileW / ASPECT)}px`;
      tile.fit(tileW);
    }
  }

  close() {
    this.resize.disconnect();
    for (const tile of this.tiles.values()) tile.close();
    this.tiles.clear();
    this.order = [];
  }
}
