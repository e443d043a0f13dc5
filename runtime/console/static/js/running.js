// The module page's htmx buttons that run the tenant's script (Load members, Test
// connection): while it runs, the button's box says so (its form's data-running), instead of
// showing the last answer. On a slow network "Connection works." stayed for seconds after
// the builder had changed the key and pressed the button again, as if the new key worked.
// (Clicks while one runs are dropped by the form's hx-sync="this:drop": one run at a time.)
import { UNREACHABLE } from "./api.js";

document.body.addEventListener("htmx:beforeRequest", (event) => {
  const form = event.detail.elt;
  const words = form instanceof HTMLElement ? form.dataset.running : undefined;
  if (!words || !event.detail.target) return;
  const line = document.createElement("p");
  line.className = "help";
  line.textContent = words;
  event.detail.target.replaceChildren(line);
  const status = statusOf(form);
  if (status) status.textContent = words;
});

// A box whose answer is long (a table of members) is not a live region: the form names a
// status line (data-status) that says the answer's summary (its data-summary) instead. An
// error is an alert in the box, said by itself.
function statusOf(form) {
  const id = form instanceof HTMLElement ? form.dataset.status : undefined;
  return id ? document.getElementById(id) : null;
}
document.body.addEventListener("htmx:afterSwap", (event) => {
  const status = statusOf(event.detail.requestConfig && event.detail.requestConfig.elt);
  if (!status) return;
  const summary = event.detail.target.querySelector("[data-summary]");
  status.textContent = summary ? summary.dataset.summary : "";
});

// No answer at all (the connection dropped, the service restarting): the box said the script
// "is running…" for ever. It says what happened; the button is ready again.
document.body.addEventListener("htmx:sendError", (event) => {
  const form = event.detail.requestConfig ? event.detail.requestConfig.elt : event.detail.elt;
  const target = event.detail.target;
  if (!(form instanceof HTMLElement) || !form.dataset.running || !target) return;
  const button = form.querySelector("button");
  const line = document.createElement("p");
  line.className = "error";
  line.setAttribute("role", "alert");
  line.textContent = `${button ? button.textContent.trim() : "It"} did not run: ${UNREACHABLE}.`;
  target.replaceChildren(line);
  const status = statusOf(form);
  if (status) status.textContent = line.textContent;
});
