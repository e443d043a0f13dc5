// Copy buttons: <button data-copy="input-id">, with a spoken confirmation.
for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copy);
    const status = button.parentElement.querySelector(".copy-status");
    try {
      await navigator.clipboard.writeText(input.value);
      if (status) status.textContent = "Copied.";
    } catch {
      input.select();
      if (status) status.textContent = "Selected: press Ctrl-C to copy.";
    }
  });
}
