// The map's background when no tile URL is configured: lines every N metres on a plain
// background, N chosen from the zoom so lines stay 80–200 px apart.

/* global L */

const EARTH_M = 40075016.686;
const M_PER_DEG_LAT = 111320;

function niceStep(metres) {
  const p = 10 ** Math.floor(Math.log10(metres));
  for (const f of [1, 2, 5, 10]) if (f * p >= metres) return f * p;
  return 10 * p;
}

export function fmtMetres(m) {
  return m >= 1000 ? `${m / 1000} km` : `${m} m`;
}

/** A canvas tile layer drawing lines every N metres (N from the zoom: 80–200 px apart). */
export function gridLayer(refLat) {
  const cosRef = Math.cos((refLat * Math.PI) / 180);
  const Grid = L.GridLayer.extend({
    spacing(z) {
      const mpp = (EARTH_M * cosRef) / (256 * 2 ** z);
      return niceStep(mpp * 80);
    },
    createTile(coords) {
      const size = this.getTileSize();
      const tile = document.createElement("canvas");
      tile.width = size.x;
      tile.height = size.y;
      const ctx = tile.getContext("2d");
      const map = this._map;
      const z = coords.z;
      const origin = coords.scaleBy(size);
      const nw = map.unproject(origin, z);
      const se = map.unproject(origin.add(size), z);
      const step = this.spacing(z);
      const dLat = step / M_PER_DEG_LAT;
      const dLon = step / (M_PER_DEG_LAT * cosRef);
      const line = (x0, y0, x1, y1, major) => {
        ctx.strokeStyle = major ? "rgba(140, 160, 185, 0.42)" : "rgba(120, 140, 165, 0.2)";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(Math.round(x0) + 0.5, Math.round(y0) + 0.5);
        ctx.lineTo(Math.round(x1) + 0.5, Math.round(y1) + 0.5);
        ctx.stroke();
      };
      for (let i = Math.ceil(se.lat / dLat); i * dLat <= nw.lat; i++) {
        const y = map.project([i * dLat, nw.lng], z).y - origin.y;
        line(0, y, size.x, y, i % 5 === 0);
      }
      for (let i = Math.ceil(nw.lng / dLon); i * dLon <= se.lng; i++) {
        const x = map.project([nw.lat, i * dLon], z).x - origin.x;
        line(x, 0, x, size.y, i % 5 === 0);
      }
      return tile;
    },
  });
  return new Grid({ tileSize: 256, updateWhenZooming: false });
}
