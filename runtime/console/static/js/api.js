// Calls to the console's JSON endpoints: same origin, the session cookie, the CSRF header.

const csrfMeta = document.querySelector('meta[name="csrf-token"]');
export const csrf = csrfMeta ? csrfMeta.content : "";

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { status: response.status, ok: response.ok, data };
}

export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { status: response.status, ok: response.ok, data };
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
