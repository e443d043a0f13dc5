// The live call page: the user's notifications over the console's WebSocket, without reloads.
// After a reconnect the server first sends what was missed (after the last id seen here).
import { el, csrf } from "./api.js";

const config = document.getElementById("live-config").dataset;
const regions = JSON.parse(config.regions || "{}");
const statusLine = document.getElementById("live-status");
const activeList = document.getElementById("active-calls");
const endedList = document.getElementById("ended-calls");
const noActive = document.getElementById("no-active");
const missedSection = document.getElementById("missed-section");
const missedList = document.getElementById("missed");
let lastId = config.lastId || "";
let attempts = 0;
let everConnected = false;

const DIRECTIONS = { in: "incoming", out: "outgoing", internal: "internal" };

function setStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) + " UTC" : "";
}

function clientPart(call, contact) {
  const part = el("span", { class: "client", "data-field": "client" });
  if (contact) {
    part.append(el("a", { href: `/console/contacts/${encodeURIComponent(contact.id)}` }, contact.name), " ",
      el("span", { class: "muted" }, call.client_phone || ""));
  } else if (call.client_phone) {
    part.append(el("span", { class: "number" }, call.client_phone));
    if (call.client_phone_normalized) {
      const id = `nc-${call.id}`;
      part.append(el("form", { method: "post", action: "/console/contacts", class: "inline new-contact" },
        el("input", { type: "hidden", name: "csrf_token", value: csrf }),
        el("input", { type: "hidden", name: "phone", value: call.client_phone }),
        el("input", { type: "hidden", name: "region", value: regions[call.module_id] || "RU" }),
        el("label", { for: id, class: "visually-hidden" }, `Name for a new contact with ${call.client_phone}`),
        el("input", { id, name: "name", placeholder: "Name", required: true, maxlength: "200" }),
        el("button", { type: "submit" }, "Create contact")));
    }
  } else {
    part.append(el("span", { class: "muted" }, `internal call: ${call.src_phone || ""} → ${call.dst_phone || ""}`));
  }
  return part;
}

function card(kind, call, contact) {
  return el("li", { class: `call-card state-${kind}`, "data-call-id": call.id },
    el("span", { class: "badge state", "data-field": "state" }, kind), " ",
    el("span", { class: "direction", "data-field": "direction" }, DIRECTIONS[call.direction] || call.direction || ""), " ",
    clientPart(call, contact), " ",
    el("time", { "data-field": "time", datetime: call.updated_at || "" }, when(call.updated_at)));
}

function findCard(callId) {
  for (const item of document.querySelectorAll("li.call-card")) {
    if (item.dataset.callId === callId) return item;
  }
  return null;
}

const RANK = { ringing: 0, answered: 1, ended: 2 };

function apply(message) {
  const payload = message.payload || {};
  const call = payload.call;
  if (!call || !call.id) return;
  const kind = message.kind;
  const existing = findCard(call.id);
  if (existing) {
    const shown = existing.querySelector('[data-field="state"]').textContent;
    if ((RANK[shown] ?? -1) > (RANK[kind] ?? -1)) return; // never move a call backwards
    const typing = existing.contains(document.activeElement);
    const replacement = card(kind, call, payload.contact);
    if (typing && kind !== "ended") {
      existing.querySelector('[data-field="state"]').textContent = kind;
      existing.className = `call-card state-${kind}`;
    } else if (kind === "ended") {
      existing.remove();
      endedList.prepend(replacement);
    } else {
      existing.replaceWith(replacement);
    }
  } else if (kind === "ended") {
    endedList.prepend(card(kind, call, payload.contact));
  } else {
    activeList.prepend(card(kind, call, payload.contact));
  }
  noActive.hidden = activeList.children.length > 0;
  if (message.missed) {
    missedSection.hidden = false;
    const who = payload.contact ? payload.contact.name : (call.client_phone || call.src_phone || "");
    missedList.append(el("li", {}, el("time", { datetime: message.created_at || "" }, when(message.created_at)),
      ` ${kind}: ${DIRECTIONS[call.direction] || ""} call ${who}`));
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = lastId ? `?after=${encodeURIComponent(lastId)}` : "";
  const socket = new WebSocket(`${scheme}://${location.host}/console/live/socket${query}`);
  setStatus("connecting", everConnected ? "Reconnecting…" : "Connecting…");
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message.type === "caught_up") {
      attempts = 0;
      everConnected = true;
      setStatus("live", "Live: calls appear here as they ring.");
      return;
    }
    if (message.type !== "notification") return;
    if (message.id) lastId = message.id;
    apply(message);
  });
  socket.addEventListener("close", (event) => {
    // 4401/4403: the session or its credential ended (signed out, revoked, user deleted).
    // Reconnecting cannot help; say so and stop.
    if (event.code === 4401 || event.code === 4403) {
      setStatus("offline", `Disconnected: ${event.reason || "the session ended"}. Sign in again to see live calls.`);
      return;
    }
    attempts += 1;
    const delay = Math.min(10000, 500 * 2 ** Math.min(attempts, 5));
    setStatus("offline", `Disconnected; reconnecting in ${Math.round(delay / 1000)} s…`);
    setTimeout(connect, delay);
  });
  window.consoleLiveSocket = socket; // for tests: close it to see the catch-up
}

connect();
