// The execution log's replay form: "against the editor's draft" sends the draft this browser
// keeps for the module (the editor writes it as you type); "select all" toggles the rows.
const form = document.getElementById("replay-form");
if (form) {
  const moduleId = location.pathname.split("/")[3];
  const against = document.getElementById("replay-against");
  const help = document.getElementById("replay-help");
  const draft = () => {
    try { return JSON.parse(localStorage.getItem(`vr-draft:${moduleId}`) || "null"); } catch { return null; }
  };
  const describe = () => {
    if (against && against.value === "draft") {
      const d = draft();
      help.textContent = d ? `Draft from ${d.at.replace("T", " ").slice(0, 19)} UTC; nothing is stored or activated.`
        : "No unsaved draft in this browser: change the script in the editor first, or pick a version.";
    } else {
      help.textContent = "Nothing is stored or activated: you see which outcomes would change first.";
    }
  };
  if (against) { against.addEventListener("change", describe); describe(); }
  form.addEventListener("submit", (event) => {
    // Nothing ticked: said here, beside the button. The service's answer to it is an error
    // page, and coming back from it the log is drawn afresh (the choice of "Against" gone).
    if (!form.querySelector("input.pick:checked")) {
      event.preventDefault();
      help.textContent = "Select at least one execution to replay (the boxes in the table's first column).";
      return;
    }
    if (against && against.value === "draft") {
      const d = draft();
      if (!d) { event.preventDefault(); describe(); return; }
      document.getElementById("replay-source").value = d.source;
    }
  });
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      for (const box of form.querySelectorAll("input.pick")) box.checked = all.checked;
    });
  }
}
