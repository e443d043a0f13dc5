// A refused form is answered with its whole page again, opened at its top: the problems of a
// section far below (the module page's settings, a contact's edit form) were out of sight, and
// the page looked as if nothing had happened. The first problem the page shows as it opens
// takes the focus, which scrolls it into view, and a screen reader reads it. (A page opened at
// a fragment, or with one that keep-forms.js handles, keeps its place.)
const shown = [...document.querySelectorAll('main [role="alert"]')]
  .find((node) => !node.hidden && node.textContent.trim() !== "");
if (shown && !location.hash && (!document.activeElement || document.activeElement === document.body)) {
  if (!shown.hasAttribute("tabindex")) shown.tabIndex = -1;
  shown.focus();
}
