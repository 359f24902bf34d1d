// The Leaflet map of every screen: tiles from the configured URL, else a metric grid on a
// plain background; always a scale. Layers: zones (exclusion, inclusion, privacy), mission
// paths with their progress, drone trails, drones (arrow by heading, colour by link) and
// incidents (by priority). `L` is Leaflet's global (a classic script before the modules).

import { fmtMetres, gridLayer } from "./grid.js";
import { FLYING, isNavItem, isPrivacyZone } from "./store.js";
import { fmtPct, linkClass, words } from "./ui.js";

/* global L */

const FOLLOW_RESUME_MS = 120000;

const ARROW_SVG =
  '<svg class="drone-arrow" viewBox="-16 -16 32 32" aria-hidden="true"><path d="M0,-14 L10,11 L0,5 L-10,11 Z"/></svg>';

export class MapView {
  /**
   * @param container element the map fills (gets data-testid `testid`)
   * @param config /api/ui-config
   */
  constructor(container, config, { testid = "map", follow = true } = {}) {
    this.container = container;
    container.dataset.testid = testid;
    container.classList.add("map");
    const center = Array.isArray(config.center) ? config.center : [47.397743, 8.545594];
    const maxZoom = config.map_max_zoom || 19;
    this.map = L.map(container, { zoomSnap: 0.5, maxZoom, minZoom: 3, worldCopyJump: false });
    this.map.setView(center, 16);
    if (config.map_tiles_url) {
      L.tileLayer(config.map_tiles_url, { maxZoom, attribution: config.map_attribution || "" }).addTo(this.map);
    } else {
      container.classList.add("map-plain");
      this.grid = gridLayer(center[0]).addTo(this.map);
      this.gridLabel = L.control({ position: "bottomleft" });
      this.gridLabel.onAdd = () => {
        this.gridLabelEl = L.DomUtil.create("div", "map-grid-label");
        return this.gridLabelEl;
      };
      this.gridLabel.addTo(this.map);
      const showStep = () => {
        if (this.gridLabelEl) this.gridLabelEl.textContent = `grid ${fmtMetres(this.grid.spacing(Math.round(this.map.getZoom())))}`;
      };
      this.map.on("zoomend", showStep);
      showStep();
    }
    L.control.scale({ imperial: false, maxWidth: 160 }).addTo(this.map);
    this.layers = {
      zones: L.featureGroup().addTo(this.map),
      missions: L.featureGroup().addTo(this.map),
      trails: L.featureGroup().addTo(this.map),
      incidents: L.featureGroup().addTo(this.map),
      drones: L.featureGroup().addTo(this.map),
      pick: L.featureGroup().addTo(this.map),
    };
    this.drones = new Map();
    this.trails = new Map();
    this.paths = new Map();
    this.incidents = new Map();
    this.fitted = false;
    this.lastFit = 0;
    this.following = follow;
    this.followTimer = null;
    if (follow) this.addFollowControl();
    this.resize = new ResizeObserver(() => this.map.invalidateSize({ pan: false }));
    this.resize.observe(container);
  }

  // -- following (a wall screen keeps everything in view without anyone touching it)

  addFollowControl() {
    const control = L.control({ position: "topright" });
    control.onAdd = () => {
      const button = L.DomUtil.create("button", "btn map-follow");
      button.type = "button";
      button.textContent = "Follow fleet";
      button.title = "Keep every drone and incident in view";
      L.DomEvent.disableClickPropagation(button);
      button.addEventListener("click", () => this.setFollowing(true));
      this.followButton = button;
      return button;
    };
    control.addTo(this.map);
    const pause = () => this.setFollowing(false);
    for (const type of ["wheel", "mousedown", "touchstart"]) this.container.addEventListener(type, pause, { passive: true });
    this.container.addEventListener("keydown", (event) => {
      if (event.key.startsWith("Arrow") || event.key === "+" || event.key === "-") pause();
    });
    this.setFollowing(true);
  }

  setFollowing(on) {
    this.following = on;
    clearTimeout(this.followTimer);
    if (!on) this.followTimer = setTimeout(() => this.setFollowing(true), FOLLOW_RESUME_MS);
    if (this.followButton) {
      this.followButton.hidden = on;
    }
    if (on) this.lastFit = 0;
  }

  /** Keep `points` ([lat, lon] …) in view while following; at most every 2 s. */
  keepInView(points) {
    if (!this.following || !points.length) return;
    const now = Date.now();
    if (this.fitted && now - this.lastFit < 2000) return;
    const bounds = L.latLngBounds(points);
    const view = this.map.getBounds();
    const inner = view.pad(-0.08);
    const tooSmall = this.fitted && this.areaRatio(bounds, view) < 0.04 && this.map.getZoom() < 17;
    if (!this.fitted || !inner.contains(bounds) || tooSmall) {
      this.map.fitBounds(bounds.pad(0.15), { maxZoom: 17, animate: this.fitted });
      this.fitted = true;
    }
    this.lastFit = now;
  }

  areaRatio(inner, outer) {
    const a = Math.max(1e-12, (inner.getNorth() - inner.getSouth()) * (inner.getEast() - inner.getWest()));
    const b = Math.max(1e-12, (outer.getNorth() - outer.getSouth()) * (outer.getEast() - outer.getWest()));
    return a / b;
  }

  /** Show these points once (no following afterwards). */
  fitOnce(points, maxZoom = 17) {
    if (!points.length) return;
    if (this.following) this.setFollowing(false); // someone wants to look here: hold still
    const fit = () => {
      this.map.invalidateSize({ pan: false }); // the container may have been laid out since
      this.map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom });
    };
    const size = this.map.getSize();
    if (size.x && size.y) fit();
    else requestAnimationFrame(fit); // not laid out yet: fit once it has a size
  }

  // -- zones

  setZones(zones) {
    this.layers.zones.clearLayers();
    for (const zone of zones || []) {
      const layer = zoneLayer(zone);
      if (!layer) continue;
      const limits = [zone.floor && zone.floor.text, zone.ceiling && zone.ceiling.text].filter(Boolean).join(" – ");
      layer.bindTooltip(
        `${zone.name || zone.id}${isPrivacyZone(zone) ? " (privacy)" : ""}<br>${words(zone.kind)}, ${words(zone.restriction)}${limits ? `<br>${limits}` : ""}`,
        { sticky: true, className: "map-tip" },
      );
      layer.addTo(this.layers.zones);
      untabbable(layer);
    }
  }

  /** The bounds of every zone, as points for fitOnce. */
  zonePoints() {
    const b = this.layers.zones.getBounds();
    return b.isValid() ? [b.getSouthWest(), b.getNorthEast()] : [];
  }

  // -- drones and trails

  setDrones(drones) {
    const seen = new Set();
    for (const d of drones) {
      if (!Number.isFinite(d.lat) || !Number.isFinite(d.lon)) continue;
      seen.add(d.id);
      let marker = this.drones.get(d.id);
      if (!marker) {
        marker = L.marker([d.lat, d.lon], {
          icon: L.divIcon({ className: "drone-marker", html: `${ARROW_SVG}<div class="drone-label"></div>`, iconSize: [36, 36], iconAnchor: [18, 18] }),
          keyboard: false,
          zIndexOffset: 1000,
          title: `Drone ${d.id}`,
        }).addTo(this.layers.drones);
        const node = marker.getElement();
        node.dataset.droneId = String(d.id);
        marker.parts = { node, arrow: node.querySelector(".drone-arrow"), label: node.querySelector(".drone-label"), key: "" };
        this.drones.set(d.id, marker);
      } else {
        marker.setLatLng([d.lat, d.lon]);
      }
      const parts = marker.parts;
      const cls = `link-${linkClass(d.link)}`;
      const label = `${d.id} · ${fmtPct(d.battery)}${d.mode ? ` · ${words(d.mode)}` : ""}`;
      const heading = Number.isFinite(d.heading) ? Math.round(d.heading) : 0;
      const key = `${cls}|${label}|${heading}|${d.landed}`;
      if (key !== parts.key) {
        parts.key = key;
        parts.node.classList.remove("link-ok", "link-warn", "link-bad", "link-unknown");
        parts.node.classList.add(cls);
        parts.node.classList.toggle("landed", Boolean(d.landed));
        parts.node.classList.toggle("battery-low", Number.isFinite(d.battery) && d.battery < 30);
        parts.arrow.style.transform = `rotate(${heading}deg)`;
        parts.label.textContent = label;
        parts.node.dataset.link = d.link || "unknown";
      }
      // trail of the last ~2 minutes
      let trail = this.trails.get(d.id);
      if (d.trail.length > 1) {
        const tip = d.trail[d.trail.length - 1];
        const tkey = `${d.trail.length}|${tip[2]}`;
        if (!trail) {
          trail = L.polyline([], { className: "drone-trail", interactive: false }).addTo(this.layers.trails);
          this.trails.set(d.id, trail);
        }
        if (trail.key !== tkey) {
          trail.key = tkey;
          trail.setLatLngs(d.trail.map((p) => [p[0], p[1]]));
        }
      } else if (trail) {
        trail.remove();
        this.trails.delete(d.id);
      }
    }
    for (const [id, marker] of this.drones) {
      if (!seen.has(id)) {
        marker.remove();
        this.drones.delete(id);
      }
    }
    this.declutter(drones);
  }

  /** Stack the labels of drones that sit close together on screen (flying ones first). */
  declutter(drones) {
    const placed = [];
    const order = drones.filter((d) => this.drones.has(d.id)).sort((a, b) => Number(a.landed) - Number(b.landed) || a.id - b.id);
    for (const d of order) {
      const parts = this.drones.get(d.id).parts;
      const p = this.map.latLngToContainerPoint([d.lat, d.lon]);
      const step = parts.label.offsetHeight || 20;
      let k = 0;
      while (k < 8 && placed.some((q) => Math.abs(q.x - p.x) < 130 && Math.abs(q.y - (p.y + k * step)) < step)) k++;
      placed.push({ x: p.x, y: p.y + k * step });
      const top = 34 + k * step;
      if (parts.top !== top) {
        parts.top = top;
        parts.label.style.top = `${top}px`;
      }
    }
  }

  // -- mission paths

  /** Draw these missions' paths; done part darker from the drone's mission progress. */
  setMissions(missions, drones, highlight = null) {
    const seen = new Set();
    for (const m of missions) {
      if (!m.items) continue;
      const path = m.items.filter(isNavItem).map((it) => ({ seq: it.seq, at: [it.lat_deg, it.lon_deg] }));
      if (path.length < 2) continue;
      seen.add(m.id);
      let entry = this.paths.get(m.id);
      if (!entry) {
        entry = {
          full: L.polyline(path.map((p) => p.at), { className: "path", interactive: true }).addTo(this.layers.missions),
          done: L.polyline([], { className: "path-done", interactive: false }).addTo(this.layers.missions),
          key: "",
        };
        entry.full.bindTooltip(`mission ${m.id} · drone ${m.drone_id}`, { sticky: true, className: "map-tip" });
        untabbable(entry.full);
        this.paths.set(m.id, entry);
      }
      const drone = drones.get(m.drone_id);
      let done = [];
      if (drone && FLYING.has(m.state) && drone.progress && drone.progress.current > 0) {
        done = path.filter((p) => p.seq < drone.progress.current).map((p) => p.at);
        if (done.length && Number.isFinite(drone.lat)) done.push([drone.lat, drone.lon]);
      }
      const cls = m.state === "pending_approval" ? "pending" : FLYING.has(m.state) ? "flying" : "active";
      const key = `${cls}|${done.length}|${done.length ? done[done.length - 1].join() : ""}|${highlight === m.id}`;
      if (key === entry.key) continue;
      entry.key = key;
      entry.done.setLatLngs(done);
      const el = entry.full.getElement();
      if (el) {
        el.classList.remove("path-pending", "path-flying", "path-active");
        el.classList.add(`path-${cls}`);
        el.classList.toggle("path-highlight", highlight === m.id);
      }
    }
    for (const [id, entry] of this.paths) {
      if (!seen.has(id)) {
        entry.full.remove();
        entry.done.remove();
        this.paths.delete(id);
      }
    }
  }

  /** Points of a mission's path (for fitOnce). */
  missionPoints(mission) {
    return (mission.items || []).filter(isNavItem).map((it) => [it.lat_deg, it.lon_deg]);
  }

  // -- incidents

  setIncidents(incidents) {
    const seen = new Set();
    for (const i of incidents) {
      seen.add(i.id);
      let marker = this.incidents.get(i.id);
      const key = `${i.priority}|${i.status}`;
      if (!marker) {
        marker = L.marker([i.lat_deg, i.lon_deg], {
          icon: L.divIcon({ className: "incident-marker", html: '<span class="incident-dot"></span>', iconSize: [30, 30], iconAnchor: [15, 15] }),
          keyboard: false,
          zIndexOffset: 500,
        }).addTo(this.layers.incidents);
        marker.getElement().dataset.incidentId = i.id;
        this.incidents.set(i.id, marker);
      }
      if (marker.key !== key) {
        marker.key = key;
        const node = marker.getElement();
        node.className = node.className.replace(/\b(prio-\d|status-\w+)\b/g, "").trim();
        node.classList.add(`prio-${i.priority}`, `status-${i.status}`);
        node.querySelector(".incident-dot").textContent = `P${i.priority}`;
        marker.unbindTooltip();
        marker.bindTooltip(`${words(i.kind)} · priority ${i.priority}<br>${words(i.status)}`, { className: "map-tip" });
      }
    }
    for (const [id, marker] of this.incidents) {
      if (!seen.has(id)) {
        marker.remove();
        this.incidents.delete(id);
      }
    }
  }

  // -- a picked point (responder)

  setPick(lat, lon) {
    this.layers.pick.clearLayers();
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
    L.marker([lat, lon], {
      icon: L.divIcon({ className: "pick-marker", html: "<span></span>", iconSize: [34, 34], iconAnchor: [17, 17] }),
      keyboard: false,
      interactive: false,
    }).addTo(this.layers.pick);
  }

  onClick(fn) {
    this.map.on("click", (event) => fn(event.latlng.lat, event.latlng.lng));
  }

  destroy() {
    clearTimeout(this.followTimer);
    this.resize.disconnect();
    this.map.remove();
  }
}

/** Keep a shape out of the Tab order (its details are in the screen's lists and tables). */
function untabbable(layer) {
  const node = layer.getElement && layer.getElement();
  if (node) node.setAttribute("tabindex", "-1");
}

function zoneLayer(zone) {
  const g = zone.geometry;
  if (!g) return null;
  const privacy = isPrivacyZone(zone);
  let style;
  if (privacy) style = { className: "zone zone-privacy", color: "#b36bff", weight: 2, fillOpacity: 1 };
  else if (zone.kind === "inclusion") style = { className: "zone zone-inclusion", color: "#3ddc84", weight: 2, fill: false, dashArray: "10 6" };
  else if (zone.restriction === "prohibited") style = { className: "zone zone-exclusion", color: "#ff4d4f", weight: 2, fillOpacity: 0.2 };
  else style = { className: "zone zone-conditional", color: "#ffa940", weight: 2, fillOpacity: 0.12, dashArray: "6 4" };
  try {
    if (g.type === "Point" && Number.isFinite(zone.radius_m)) {
      return L.circle([g.coordinates[1], g.coordinates[0]], { ...style, radius: zone.radius_m });
    }
    if (g.type === "Polygon") return L.polygon(L.GeoJSON.coordsToLatLngs(g.coordinates, 1), style);
    if (g.type === "MultiPolygon") return L.polygon(L.GeoJSON.coordsToLatLngs(g.coordinates, 2), style);
  } catch {
    return null;
  }
  return null;
}
