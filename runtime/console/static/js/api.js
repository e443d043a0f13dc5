// Calls to the console's JSON endpoints: same origin, the session cookie, the CSRF header.

const csrfMeta = document.querySelector('meta[name="csrf-token"]');
export const csrf = csrfMeta ? csrfMeta.content : "";

// No answer at all (the network is down, the service restarting) is status 0 with words to
// show: a caller always gets an answer to say, never a rejected promise that leaves its page
// saying "Saving…" for ever.
export const UNREACHABLE = "the service could not be reached; check the connection and try again";

async function answerOf(request) {
  let response;
  try { response = await request; } catch { return { status: 0, ok: false, data: { message: UNREACHABLE } }; }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { status: response.status, ok: response.ok, data };
}

export function postJSON(url, body) {
  return answerOf(fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  }));
}

export function getJSON(url) {
  return answerOf(fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }));
}

// DOM building with text only: tenant data never becomes markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
