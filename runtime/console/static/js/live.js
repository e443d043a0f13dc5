// The live call page: the user's notifications over the console's WebSocket, without reloads.
// Every card is drawn by the server (/console/live/cards/<call id>): on a notification, or a
// colleague marking a missed call handled, the page asks for that call's card again, so the
// page always shows the call, its contact and who handled it as they are now.
// After a reconnect the server first sends what was missed (after the last id seen here).
import { el, csrf } from "./api.js";

const config = document.getElementById("live-config").dataset;
const statusLine = document.getElementById("live-status");
const activeList = document.getElementById("active-calls");
const endedList = document.getElementById("ended-calls");
const noActive = document.getElementById("no-active");
const noEnded = document.getElementById("no-ended");
const missedSection = document.getElementById("missed-section");
const missedList = document.getElementById("missed");
let lastId = config.lastId || "";
let attempts = 0;
let everConnected = false;

const DIRECTIONS = { in: "Incoming", out: "Outgoing", internal: "Internal" };
const KINDS = { ringing: "rang", answered: "answered", ended: "ended" };

function setStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) + " UTC" : "";
}

// --- cards ------------------------------------------------------------------------------------

function findCard(callId) {
  for (const item of document.querySelectorAll("li.call-card")) {
    if (item.dataset.callId === callId) return item;
  }
  return null;
}

const problem = document.getElementById("live-problem");
const baseTitle = document.title;

let problemCall = null; // the call whose card could not be drawn, while the line says so

function showProblem(callId, text) {
  problemCall = callId;
  problem.textContent = text;
  problem.hidden = false;
}

// Its card drawn after all (the next notification, the catch-up after a reconnect): the line
// goes (it stayed until a reload, saying the card could not be shown).
function clearProblem(callId) {
  if (problemCall !== callId) return;
  problemCall = null;
  problem.textContent = "";
  problem.hidden = true;
}

// The ended calls kept, as the page is drawn: the newest ENDED_SHOWN, and every missed call
// nobody has marked handled (and a card holding the keyboard's focus). A tab open all day kept
// every call that had ended since it was opened: hundreds of cards, which a reload cut to these.
function trimEnded() {
  const limit = Number(config.endedShown) || 0;
  if (!limit) return;
  const cards = [...endedList.children].filter((node) => node.matches("li.call-card"));
  cards.forEach((card, index) => {
    if (index < limit || card.classList.contains("needs-attention")) return;
    if (card.contains(document.activeElement)) return;
    card.remove();
  });
}

function showEmptyStates() {
  noActive.hidden = activeList.children.length > 0;
  noEnded.hidden = endedList.children.length > 0;
  // A tab kept open all day says in its title how many calls ring now.
  const ringing = activeList.querySelectorAll('li.call-card[data-status="ringing"]').length;
  document.title = ringing ? `(${ringing} ringing) ${baseTitle}` : baseTitle;
}

const asked = new Map(); // call id -> the number of the latest request for its card
let requests = 0;
// Call id -> when its latest notification came here (cards drawn with the page: 0). The server
// sends them in the order it stored them, the order a reload draws the calls in, newest first.
const arrived = new Map();
let arrivals = 0;

// A card new to its list goes where its call's latest notification puts it, not on top: the
// cards of calls ringing or ending together are asked for at once, and one answered late went
// above the newer calls (a reload then drew another order, and trimEnded cut another card).
function place(list, card) {
  const mine = arrived.get(card.dataset.callId) || 0;
  for (const other of list.children) {
    if (other.matches("li.call-card") && (arrived.get(other.dataset.callId) || 0) <= mine) {
      list.insertBefore(card, other);
      return;
    }
  }
  list.append(card);
}

async function fetchCard(callId) {
  let response;
  try {
    response = await fetch(`/console/live/cards/${encodeURIComponent(callId)}`, {
      credentials: "same-origin", headers: { Accept: "text/html" },
    });
  } catch {
    throw new Error(`could not show call ${callId}: the service could not be reached; it is shown once the connection is back`);
  }
  if (response.status === 404) return null; // deleted meanwhile, or no longer this operator's
  if (!response.ok) throw new Error(`could not show call ${callId} (HTTP ${response.status}); reload the page`);
  const template = document.createElement("template");
  template.innerHTML = (await response.text()).trim(); // server-rendered, autoescaped
  const card = template.content.querySelector("li.call-card");
  if (!card) throw new Error(`the card of call ${callId}: no card in the answer`);
  return card;
}

// Keep what the operator was typing (a new contact's name) across a redraw of the card, and
// the keyboard's place: focus in the old card stays in the new one, on the card's title when
// the focused control is gone ("Mark handled", once pressed; the focus fell to the page's start).
function carryInput(from, to) {
  const focused = document.activeElement;
  if (!focused || !from.contains(focused)) return;
  const twin = focused.id ? to.querySelector(`#${CSS.escape(focused.id)}`) : null;
  if (twin) {
    if ("value" in focused) twin.value = focused.value;
    return twin;
  }
  const title = to.querySelector(".call-title");
  if (title) title.tabIndex = -1;
  return title;
}

async function refreshCard(callId) {
  const mine = ++requests;
  asked.set(callId, mine);
  let card;
  try {
    card = await fetchCard(callId);
  } catch (error) {
    if (asked.get(callId) === mine) showProblem(callId, error.message);
    return;
  }
  if (asked.get(callId) !== mine) return; // a newer request for this call is on its way
  clearProblem(callId);
  const existing = findCard(callId);
  if (card === null) {
    if (existing) existing.remove();
    showEmptyStates();
    return;
  }
  if (existing && Number(existing.dataset.rank) > Number(card.dataset.rank)) return; // never backwards
  const list = Number(card.dataset.rank) >= 2 ? endedList : activeList;
  let refocus = null;
  if (existing) {
    refocus = carryInput(existing, card);
    if (existing.parentElement === list) existing.replaceWith(card);
    else { existing.remove(); place(list, card); }
  } else {
    place(list, card);
  }
  if (refocus) refocus.focus();
  trimEnded();
  tick();
  showEmptyStates();
}

// --- ticking durations ------------------------------------------------------------------------

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const minutes = Math.floor(s / 60);
  const rest = String(s % 60).padStart(2, "0");
  return minutes >= 60 ? `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll("[data-since]")) {
    const since = Date.parse(node.dataset.since);
    if (!Number.isNaN(since)) node.textContent = clock((now - since) / 1000);
  }
}

setInterval(tick, 1000);
tick();

// --- actions: call back, mark handled ---------------------------------------------------------

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("js-action")) return;
  event.preventDefault();
  const card = form.closest("li.call-card");
  const result = card ? card.querySelector('[data-field="result"]') : null;
  const button = form.querySelector("button");
  // (Disabling the pressed button takes the focus from it: it gets it back once answered.)
  const hadFocus = Boolean(card && card.contains(document.activeElement));
  if (button) button.disabled = true;
  const say = (text, failed) => {
    if (!result) return;
    result.textContent = text;
    result.classList.toggle("error", Boolean(failed));
  };
  say(form.dataset.action === "call-back" ? "Calling…" : "Saving…", false);
  let response;
  let data = null;
  try {
    response = await fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
      body: new URLSearchParams(new FormData(form)),
    });
    try { data = await response.json(); } catch { data = null; }
  } catch {
    response = null;
  }
  if (button) {
    button.disabled = false;
    if (hadFocus && button.isConnected && !card.contains(document.activeElement)) button.focus();
  }
  if (!response || !response.ok) {
    // (What was typed stays in the form: the name of a refused contact, to change and send.)
    say((data && data.message) || "The service did not answer; try again.", true);
    return;
  }
  if (form.dataset.action === "new-contact") {
    // The card is drawn again with the contact (the socket's call_changed redraws it too, and
    // the colleagues' cards of the number's calls).
    if (card) await refreshCard(card.dataset.callId);
  } else if (form.dataset.action === "call-back") {
    // A fresh nonce: a second click calls again; the same request sent twice rings once.
    if (data.next_nonce && form.elements.dial_nonce) form.elements.dial_nonce.value = data.next_nonce;
    say(`Calling ${data.to}: your phone (${data.from}) rings first.`, false);
  } else if (card) {
    await refreshCard(card.dataset.callId);
  }
});

// --- alerts for an incoming call: the operator's choice, kept in this browser ---------------

const ALERT_KEY = "voip-runtime.live.alert";
const alertSummary = document.getElementById("alert-summary");
const alertHelp = document.getElementById("alert-help");
const ALERT_WORDS = { none: "no alert", sound: "a sound", notification: "a browser notification" };
let audio = null;
window.consoleLiveAlerts = []; // for tests: the alerts this page gave

function alertChoice() {
  const stored = localStorage.getItem(ALERT_KEY);
  return stored in ALERT_WORDS ? stored : "none";
}

function showChoice(choice) {
  for (const radio of document.querySelectorAll('input[name="alert"]')) radio.checked = radio.value === choice;
  alertSummary.textContent = ALERT_WORDS[choice];
}

// A short two-tone beep, generated: no sound file to fetch.
function beep() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return false;
  audio = audio || new Context();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  const start = audio.currentTime + 0.02;
  [880, 660].forEach((frequency, index) => {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    const at = start + index * 0.22;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(at);
    oscillator.stop(at + 0.21);
  });
  return true;
}

async function choose(choice) {
  alertHelp.classList.remove("error");
  alertHelp.textContent = "Kept in this browser only.";
  if (choice === "notification") {
    if (!("Notification" in window)) {
      alertHelp.textContent = "This browser cannot show notifications.";
      alertHelp.classList.add("error");
      choice = alertChoice();
    } else if (Notification.permission !== "granted" && await Notification.requestPermission() !== "granted") {
      alertHelp.textContent = "The browser refused notifications for this site; allow them in its site settings, or choose a sound.";
      alertHelp.classList.add("error");
      choice = alertChoice();
    }
  } else if (choice === "sound") {
    beep(); // a preview, and the click lets the page play sound later
  }
  localStorage.setItem(ALERT_KEY, choice);
  showChoice(choice);
}

for (const radio of document.querySelectorAll('input[name="alert"]')) {
  radio.addEventListener("change", () => { if (radio.checked) choose(radio.value); });
}
showChoice(alertChoice());

// Browsers let a page play sound only once someone has clicked or typed on it: the first
// touch after a load unlocks the beep (a sound chosen earlier says so until then).
function unlockSound() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  audio = audio || new Context();
  audio.resume().then(() => {
    if (alertHelp.dataset.waiting) { alertHelp.textContent = "Kept in this browser only."; delete alertHelp.dataset.waiting; }
  }).catch(() => {});
}
if (alertChoice() === "sound") {
  alertHelp.textContent = "Kept in this browser only. Click anywhere on the page once so the browser lets it play the sound.";
  alertHelp.dataset.waiting = "1";
  document.getElementById("alert-settings").open = true;
}
document.addEventListener("pointerdown", unlockSound, { once: true });
document.addEventListener("keydown", unlockSound, { once: true });

function alertIncoming(call, contact) {
  const choice = alertChoice();
  const who = contact ? contact.name : (call.client_phone || call.src_phone || "");
  if (choice === "sound") {
    if (beep()) window.consoleLiveAlerts.push({ kind: "sound", callId: call.id });
  } else if (choice === "notification" && "Notification" in window && Notification.permission === "granted") {
    const shown = new Notification(`Incoming call: ${who}`, { body: `${DIRECTIONS[call.direction] || ""} call at ${call.dst_phone || ""}`, tag: call.id });
    shown.addEventListener("click", () => { window.focus(); shown.close(); });
    window.consoleLiveAlerts.push({ kind: "notification", callId: call.id, title: `Incoming call: ${who}` });
  }
}

// --- the socket -------------------------------------------------------------------------------

function noteMissed(message, call, contact) {
  missedSection.hidden = false;
  const who = contact ? contact.name : (call.client_phone || call.src_phone || "");
  missedList.append(el("li", {}, el("time", { datetime: message.created_at || "" }, when(message.created_at)),
    ` ${DIRECTIONS[call.direction] || ""} call ${KINDS[message.kind] || message.kind}: ${who}`));
}

function onNotification(message) {
  const payload = message.payload || {};
  const call = payload.call;
  if (!call || !call.id) return;
  if (message.missed) noteMissed(message, call, payload.contact);
  else if (message.kind === "ringing" && call.direction !== "out") alertIncoming(call, payload.contact);
  arrived.set(call.id, ++arrivals);
  refreshCard(call.id);
}

let socket = null;
let retry = null; // the timer of the next reconnect

function connect() {
  retry = null;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = lastId ? `?after=${encodeURIComponent(lastId)}` : "";
  socket = new WebSocket(`${scheme}://${location.host}/console/live/socket${query}`);
  setStatus("connecting", everConnected ? "Reconnecting…" : "Connecting…");
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message.type === "caught_up") {
      attempts = 0;
      // Back after a disconnect: marks made meanwhile, and answers at a colleague's phone, come
      // on no socket (they are no notifications); draw those cards, and every live one, again.
      if (everConnected) {
        for (const card of document.querySelectorAll("li.call-card.needs-attention, #active-calls li.call-card")) refreshCard(card.dataset.callId);
      }
      everConnected = true;
      setStatus("live", "Live: calls appear here as they ring.");
    } else if (message.type === "notification") {
      if (message.id) lastId = message.id;
      onNotification(message);
    } else if ((message.type === "call_handled" || message.type === "call_changed") && findCard(message.call_id)) {
      // A colleague marked it handled, or answered it (a call that rang here too): draw it again.
      refreshCard(message.call_id);
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.target !== socket) return; // an old socket, closed after its successor opened
    socket = null;
    // 4401/4403: the session or its credential ended (signed out, revoked, user deleted).
    // Reconnecting cannot help; say so and stop.
    if (event.code === 4401 || event.code === 4403) {
      // With the way back at hand (a keyboard user had to find the sign-in page): it returns
      // to this page once signed in.
      setStatus("offline", `Disconnected: ${event.reason || "the session ended"}. `);
      statusLine.append(el("a", { href: `/console/sign-in?next=${encodeURIComponent(location.pathname)}` }, "Sign in again"), " to see live calls.");
      return;
    }
    if (!navigator.onLine) { sayOffline(); return; } // back at the "online" event
    attempts += 1;
    const delay = Math.min(10000, 500 * 2 ** Math.min(attempts, 5));
    setStatus("offline", `Disconnected; reconnecting in ${Math.round(delay / 1000)} s…`);
    retry = setTimeout(connect, delay);
  });
  window.consoleLiveSocket = socket; // for tests: close it to see the catch-up
}

// The network gone (wifi lost, a laptop asleep): a socket whose connection died without a
// word stays open in the browser for minutes, and the page said "Live" while no call could
// reach it. The browser's offline event ends it at once and says so; its online event
// reconnects at once (the catch-up then brings what rang meanwhile).
function sayOffline() {
  setStatus("offline", "Offline: this computer has no network connection. Calls that ring now are shown once it is back.");
}

window.addEventListener("offline", () => {
  if (retry) { clearTimeout(retry); retry = null; }
  if (socket) socket.close(); // its close event says so
  else sayOffline();
});

window.addEventListener("online", () => {
  if (retry) clearTimeout(retry);
  attempts = 0;
  if (!socket) connect();
});

showEmptyStates();
connect();
