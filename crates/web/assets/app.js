// Provider Portal: starts the GOV.UK Frontend components on every page.
//
// Loaded by layout.html as <script type="module" src="/assets/app.js">, so it
// runs only in browsers that support ES modules (the same test as the
// `govuk-frontend-supported` class set by the layout's inline script), after
// the document has been parsed.
import { initAll } from "/assets/govuk-frontend.min.js";

initAll();

// Access key issued: a "Print this page" button (hidden without JavaScript,
// where the browser's own Print does the same).
for (const print of document.querySelectorAll("[data-portal-print]")) {
  print.hidden = false;
  print.querySelector("button")?.addEventListener("click", () => window.print());
}

// Edit user: "Add role" opens the role lookup in a dialog instead of a new page
// (seed 001's "Lookup records"). Without JavaScript, or where <dialog> is not
// supported, the link simply goes to the lookup page, which works the same way.
// The native modal dialog keeps keyboard focus inside, closes on Escape and
// returns focus to "Add role".
const trigger = document.querySelector("[data-role-lookup]");
if (trigger && typeof HTMLDialogElement === "function") {
  trigger.addEventListener("click", async (event) => {
    event.preventDefault();
    let content = null;
    try {
      const response = await fetch(trigger.href, { credentials: "same-origin" });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        content = page.querySelector("[data-lookup-content]");
      }
    } catch {
      content = null;
    }
    if (!content) {
      window.location.assign(trigger.href);
      return;
    }
    const dialog = document.createElement("dialog");
    dialog.className = "portal-dialog";
    dialog.setAttribute("aria-labelledby", "lookup-title");
    dialog.append(document.importNode(content, true));
    // Searching filters the choices in place.
    const searchForm = dialog.querySelector("[data-lookup-search]");
    const search = searchForm && searchForm.querySelector("input[name='q']");
    if (searchForm && search) {
      const filter = () => {
        const text = search.value.trim().toLowerCase();
        for (const item of dialog.querySelectorAll(".govuk-checkboxes__item")) {
          const label = item.querySelector("label").textContent.toLowerCase();
          // Not the hidden attribute: GOV.UK styles set display on these items.
          item.style.display = text !== "" && !label.includes(text) ? "none" : "";
        }
      };
      searchForm.addEventListener("submit", (e) => {
        e.preventDefault();
        filter();
      });
      search.addEventListener("input", filter);
    }
    for (const cancel of dialog.querySelectorAll("[data-lookup-cancel]")) {
      cancel.addEventListener("click", (e) => {
        e.preventDefault();
        dialog.close();
      });
    }
    dialog.addEventListener("close", () => {
      dialog.remove();
      trigger.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
