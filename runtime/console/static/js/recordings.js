// A recording that cannot play says why beside its player. The player's source runs the
// module's VoipGetCallLink and redirects to the link it returns; when that fails (the script
// raised, the link is unusable, the session ended) or the link gives nothing playable, the
// browser only greys the player out. On the player's error, the same address is asked again
// for JSON: the console's error in words, or a redirect (the link resolved, its audio did not
// play), then linked to open on its own.
import { el } from "./api.js";

async function whyNot(source) {
  let response;
  try {
    response = await fetch(source, {
      credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" },
    });
  } catch {
    return { text: "The recording could not be loaded: the service could not be reached." };
  }
  if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
    return { text: "The provider's link to this recording gave nothing this browser can play.", link: true };
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  const said = data && data.message ? data.message : `HTTP ${response.status}`;
  return { text: `The recording could not be loaded: ${said}.` };
}

document.addEventListener("error", async (event) => {
  const player = event.target;
  if (!(player instanceof HTMLAudioElement)) return;
  const note = player.parentElement && player.parentElement.querySelector(".recording-problem");
  if (!note || note.dataset.asked) return;
  note.dataset.asked = "1";
  const source = player.getAttribute("src");
  const why = await whyNot(source);
  // An alert inserted now is read out (the player's user pressed play); an empty live region
  // on each of a page's players would be noise.
  const said = el("span", { role: "alert" }, why.text);
  if (why.link) {
    said.append(" ", el("a", { href: source, target: "_blank", rel: "noopener" }, "Open the link"));
  }
  note.replaceChildren(said);
}, true); // a media element's error does not bubble: caught on its way down
