// The module page's htmx buttons that run the tenant's script (Load members, Test
// connection): while it runs, the button's box says so (its form's data-running), instead of
// showing the last answer. On a slow network "Connection works." stayed for seconds after
// the builder had changed the key and pressed the button again, as if the new key worked.
// (Clicks while one runs are dropped by the form's hx-sync="this:drop": one run at a time.)
document.body.addEventListener("htmx:beforeRequest", (event) => {
  const form = event.detail.elt;
  const words = form instanceof HTMLElement ? form.dataset.running : undefined;
  if (!words || !event.detail.target) return;
  const line = document.createElement("p");
  line.className = "help";
  line.textContent = words;
  event.detail.target.replaceChildren(line);
});
