// Zones (admin): the zones in force or scheduled, importing a zone file (GeoJSON, ED-269,
// ED-318, QGroundControl .plan geofence) and deleting a zone behind a confirmation.

import { api } from "../api.js";
import { MapView } from "../map.js";
import { isPrivacyZone } from "../store.js";
import { confirmDialog, el, words } from "../ui.js";

const FORMATS = [
  ["auto", "detect"],
  ["geojson", "GeoJSON"],
  ["ed269", "EUROCAE ED-269"],
  ["ed318", "EUROCAE ED-318"],
  ["qgc", "QGroundControl .plan"],
];

function limits(zone) {
  return [zone.floor && zone.floor.text, zone.ceiling && zone.ceiling.text].filter(Boolean).join(" – ") || "—";
}

function reasonText(zone) {
  const r = zone.reason;
  return Array.isArray(r) ? r.join(", ") : r ? String(r) : "";
}

export function mount(root, { config }) {
  const file = el("input.input", { type: "file", testid: "zone-file", accept: ".json,.geojson,.plan,application/json", id: "zone-file" });
  const format = el("select.input", { id: "zone-format", testid: "zone-format" }, FORMATS.map(([v, label]) => el("option", { value: v }, label)));
  const importBtn = el("button.btn.btn-primary", { type: "submit", testid: "zone-import" }, "Import");
  const result = el("p.action-result", { testid: "action-result", role: "status", "aria-live": "polite" }, "Choose a zone file to import, or delete a zone below.");
  const body = el("tbody");
  const count = el("span.count");
  const table = el(
    "table.zones-table",
    { testid: "zones-table" },
    el("caption.sr-only", null, "Zones"),
    el("thead", null, el("tr", null, ["Zone", "Name", "Kind", "Restriction", "Limits", "Schedule", "Reason", ""].map((h) => el("th", { scope: "col" }, h)))),
    body,
  );
  const mapBox = el("div.zones-map");
  const form = el(
    "form.panel.zone-import",
    { "aria-label": "import a zone file" },
    el("label.field", { for: "zone-file" }, el("span.label", null, "Zone file"), file),
    el("label.field", { for: "zone-format" }, el("span.label", null, "Format"), format),
    importBtn,
  );
  root.replaceChildren(
    el(
      "section.zones",
      null,
      el("div.zones-main", null, form, result, el("section.panel", null, el("h2", null, "Zones ", count), el("div.scroll", null, table))),
      mapBox,
    ),
  );
  const map = new MapView(mapBox, config, { testid: "zones-map", follow: false });
  let zones = [];
  let fitted = false;

  function setResult(text, kind) {
    result.textContent = text;
    result.className = `action-result result-${kind}`;
  }

  function draw() {
    count.textContent = `(${zones.length})`;
    const rows = zones.map((z) => {
      const del = el("button.btn.btn-small.btn-danger", { type: "button", testid: `delete-${z.id}`, "aria-label": `delete zone ${z.id}` }, "Delete");
      del.addEventListener("click", () => remove(z));
      const kind = isPrivacyZone(z) ? `${words(z.kind)} · privacy` : words(z.kind);
      return el(
        "tr",
        { testid: `zone-${z.id}`, dataset: { zoneId: z.id } },
        el("th", { scope: "row", title: z.source ? `from ${z.source}` : null }, z.id),
        el("td", null, z.name || ""),
        el("td", { class: `zone-kind zone-kind-${isPrivacyZone(z) ? "privacy" : z.kind}` }, kind),
        el("td", null, words(z.restriction)),
        el("td", null, limits(z)),
        el("td.small", null, (z.schedule && z.schedule.text) || "permanent"),
        el("td.small", null, reasonText(z)),
        el("td", null, del),
      );
    });
    if (!rows.length) rows.push(el("tr", null, el("td.empty", { colspan: "8" }, "No zones: import a file to add some.")));
    body.replaceChildren(...rows);
    map.setZones(zones);
    if (!fitted && zones.length) {
      fitted = true;
      map.fitOnce(map.zonePoints(), 15);
    }
  }

  async function load() {
    try {
      zones = await api.get("/api/zones");
      draw();
    } catch (err) {
      setResult(`Could not read the zones: ${err.message}`, "error");
    }
  }

  async function remove(zone) {
    const id = zone.identifier || zone.id;
    const parts = zones.filter((z) => (z.identifier || z.id) === id).length;
    const question = `Delete zone ${id}${zone.name && zone.name !== id ? ` (${zone.name})` : ""}?`;
    const detail = parts > 1 ? `All ${parts} parts of this zone are removed. Missions are checked against the zones in force.` : "Missions are checked against the zones in force.";
    if (!(await confirmDialog(question, { yes: "Delete", no: "Cancel", danger: true, detail }))) {
      setResult(`Nothing deleted: zone ${id} stays.`, "info");
      return;
    }
    try {
      const answer = await api.del(`/api/zones/${encodeURIComponent(id)}`);
      const n = answer && Number.isFinite(answer.deleted) ? answer.deleted : 1;
      setResult(`Deleted zone ${id} (${n} part${n === 1 ? "" : "s"}).`, "ok");
    } catch (err) {
      setResult(`Could not delete zone ${id}: ${err.message}${err.status ? ` (HTTP ${err.status})` : ""}`, "error");
    }
    await load();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files && file.files[0];
    if (!chosen) {
      setResult("Choose a file first (GeoJSON, ED-269, ED-318 or a QGroundControl .plan).", "error");
      file.focus();
      return;
    }
    importBtn.disabled = true;
    setResult(`Importing ${chosen.name}…`, "pending");
    try {
      const text = await chosen.text();
      const query = new URLSearchParams({ format: format.value, source: chosen.name.slice(0, 200) });
      const added = await api.upload(`/api/zones/import?${query}`, text);
      const names = (added || []).map((z) => z.id);
      setResult(
        names.length
          ? `Imported ${names.length} zone${names.length === 1 ? "" : "s"} from ${chosen.name}: ${names.slice(0, 8).join(", ")}${names.length > 8 ? " …" : ""}.`
          : `${chosen.name} held no new zone (every zone in it is already stored).`,
        "ok",
      );
      file.value = "";
      fitted = false;
    } catch (err) {
      setResult(`Import of ${chosen.name} refused: ${err.message}${err.status ? ` (HTTP ${err.status})` : ""}`, "error");
    } finally {
      importBtn.disabled = false;
    }
    await load();
  });

  load();
  return () => map.destroy();
}
