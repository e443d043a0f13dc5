// A form sent after the session ended reaches nothing: the service answers with the sign-in
// page ("nothing was saved"), and after signing in the browser is back on the form's page
// (runtime/console/web.py `sign_in_redirect`), drawn afresh. What was typed (a contact's name
// and numbers, a module's settings, a user's name) was gone with the answer.
//
// So every plain form, as it is sent, is kept in this tab (sessionStorage: this tab only,
// gone with it) until the next page shows whether it arrived. The sign-in page that says it did
// not sends the browser back to the form's page marked so (runtime/console/auth_views.py), and
// that page, drawn afresh, gets the values back, says so, and sends nothing by itself. Any
// other page drops them. Passwords (a setting's secret value, the credential) and files are
// never kept; hidden fields are not put back, and a form whose hidden fields changed meanwhile
// (another row order, another record) gets nothing put back into it: the values are listed
// beside it instead.
const KEY = "vr-unsent-form";
const KEPT_FOR_MS = 12 * 3600 * 1000; // a console session's lifetime
const NOT_KEPT = new Set(["password", "file", "submit", "button", "reset", "image"]);
const PER_RENDER = /^csrf_token$|nonce/; // drawn anew with every page: never compared

function here() { return location.pathname + location.search; }

function read() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return kept && Date.now() - kept.at < KEPT_FOR_MS ? kept : null;
  } catch { return null; }
}

function write(kept) {
  try {
    if (kept) sessionStorage.setItem(KEY, JSON.stringify(kept));
    else sessionStorage.removeItem(KEY);
  } catch { /* storage full or refused: the form is sent as before */ }
}

function keptOf(form) {
  const fields = [];
  const hidden = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled) continue;
    const type = (field.type || "").toLowerCase();
    if (type === "hidden") {
      if (!PER_RENDER.test(field.name)) hidden[field.name] = field.value;
    } else if (type === "checkbox" || type === "radio") {
      fields.push({ name: field.name, value: field.value, checked: field.checked });
    } else if (!NOT_KEPT.has(type)) {
      fields.push({ name: field.name, value: field.value });
    }
  }
  const action = form.getAttribute("action") || "";
  // A page may have two forms to one address (the module page's bindings and its unbound
  // extensions): which one of them.
  const index = sameAction(action).indexOf(form);
  return { page: here(), action, index, fields, hidden, at: Date.now() };
}

function sameAction(action) {
  return [...document.querySelectorAll("form")].filter((f) => (f.getAttribute("action") || "") === action);
}

// Kept as the form leaves: after every other listener, so a form a script sends itself (its
// default prevented) is not kept.
window.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
  if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
  const action = form.getAttribute("action") || "";
  if (action === "/console/sign-in" || action === "/console/sign-out") return;
  write(keptOf(form));
});

function labelOf(form, name) {
  const field = form.elements.namedItem(name);
  const one = field instanceof RadioNodeList ? field[0] : field;
  const label = one && one.id ? document.querySelector(`label[for="${CSS.escape(one.id)}"]`) : null;
  return (label && label.textContent.trim()) || name;
}

function sameHidden(form, hidden) {
  const now = {};
  for (const field of form.elements) {
    if (field.name && (field.type || "").toLowerCase() === "hidden" && !PER_RENDER.test(field.name)) now[field.name] = field.value;
  }
  const names = new Set([...Object.keys(now), ...Object.keys(hidden)]);
  return [...names].every((name) => now[name] === hidden[name]);
}

function putBack(form, kept) {
  for (const saved of kept.fields) {
    for (const field of form.querySelectorAll(`[name="${CSS.escape(saved.name)}"]`)) {
      const type = (field.type || "").toLowerCase();
      if (type === "checkbox" || type === "radio") {
        if (field.value === saved.value) field.checked = saved.checked;
      } else if (!NOT_KEPT.has(type) && type !== "hidden") {
        field.value = saved.value;
      }
    }
  }
}

function notice(form, ...children) {
  const note = document.createElement("div");
  note.className = "notice kept-form";
  note.setAttribute("role", "status");
  note.append(...children);
  form.before(note);
  const details = form.closest("details");
  if (details) details.open = true;
  return note;
}

function restore(kept) {
  const form = sameAction(kept.action)[kept.index || 0];
  if (!form) return;
  const typed = kept.fields.filter((f) => f.value !== "" && f.checked !== false);
  if (!typed.length) return;
  if (sameHidden(form, kept.hidden)) {
    putBack(form, kept);
    const p = document.createElement("p");
    p.textContent = "What you typed before signing in again is back in this form. It has not been sent: check it and send it again.";
    notice(form, p);
    const first = form.querySelector(`[name="${CSS.escape(typed[0].name)}"]`);
    if (first) first.focus();
    return;
  }
  // The form changed meanwhile: its fields may mean other things now. The values, to copy.
  const p = document.createElement("p");
  p.textContent = "This form changed since you sent it, so what you typed was not put back into it (nothing was saved). It was:";
  const list = document.createElement("ul");
  for (const f of typed) {
    const item = document.createElement("li");
    item.textContent = `${labelOf(form, f.name)}: ${f.checked === true ? "checked" : f.value}`;
    list.append(item);
  }
  notice(form, p, list);
}

// The sign-in that followed the refused form comes back here with this fragment (the sign-in
// page itself runs no script: a credential is typed there).
const kept = read();
write(null);
if (location.hash === "#unsent-form") {
  history.replaceState(history.state, "", here());
  // (Sent from a refused form, drawn at the form's own address, .../edit: the sign-in comes
  // back to the page that address belongs to.)
  if (kept && (kept.page === here() || kept.page.startsWith(`${location.pathname}/`))) restore(kept);
}
