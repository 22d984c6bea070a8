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

// --- Role lookup dialog (issue 15, item 1) -----------------------------------
// Edit user: "Add role" opens the role lookup in a dialog instead of a new page
// (seed 001's "Lookup records"). Without JavaScript, or where <dialog> is not
// supported, the link simply goes to the lookup page, which works the same way
// (there, Search and each × send the ticks back with the form).
// In the dialog: ticking a role shows it under "Selected records" with a ×
// ("Remove <role>") that unticks it; typing in Search filters the choices in
// place; the × at the top ("Close"), Cancel and Escape close the dialog, and
// focus goes back to "Add role"; Add goes on to Edit user with the roles
// staged, as without JavaScript. The native modal dialog keeps keyboard focus
// inside.
{
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
      const closer = document.createElement("button");
      closer.type = "button";
      closer.className = "portal-dialog__close";
      const cross = document.createElement("span");
      cross.setAttribute("aria-hidden", "true");
      cross.textContent = "×";
      const closeWords = document.createElement("span");
      closeWords.className = "govuk-visually-hidden";
      closeWords.textContent = "Close";
      closer.append(cross, closeWords);
      closer.addEventListener("click", () => dialog.close());
      dialog.append(closer, document.importNode(content, true));

      const form = dialog.querySelector("[data-lookup-form]");
      const search = form.querySelector("input[name='q']");
      const selected = form.querySelector("[data-lookup-selected]");
      const heading = form.querySelector("#selected-records");
      const boxes = () => form.querySelectorAll("input[type='checkbox'][name='add']");

      // Searching filters the choices in place (what is ticked stays ticked).
      const filter = () => {
        const text = search.value.trim().toLowerCase();
        for (const item of form.querySelectorAll(".govuk-checkboxes__item")) {
          const label = item.querySelector("label").textContent.toLowerCase();
          // Not the hidden attribute: GOV.UK styles set display on these items.
          item.style.display = text !== "" && !label.includes(text) ? "none" : "";
        }
      };
      search.addEventListener("input", filter);

      // "Selected records": every ticked role, and any the server carried
      // as a hidden field, each with a × to take it out again.
      const chosen = () => {
        const items = [];
        for (const box of boxes()) {
          if (box.checked) {
            const label = form.querySelector(`label[for='${box.id}']`);
            items.push({ name: label.textContent.trim(), take: () => (box.checked = false) });
          }
        }
        for (const field of form.querySelectorAll("input[type='hidden'][name='add']")) {
          items.push({ name: field.dataset.name || field.value, take: () => field.remove() });
        }
        return items;
      };
      const render = () => {
        const items = chosen();
        if (items.length === 0) {
          const none = document.createElement("p");
          none.className = "govuk-body";
          none.textContent = "None yet.";
          selected.replaceChildren(none);
          return;
        }
        const list = document.createElement("ul");
        list.className = "govuk-list portal-lookup-selected";
        items.forEach((item, index) => {
          const entry = document.createElement("li");
          entry.className = "portal-lookup-selected__item";
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "portal-lookup-remove";
          remove.dataset.lookupRemove = "";
          const mark = document.createElement("span");
          mark.setAttribute("aria-hidden", "true");
          mark.textContent = "×";
          const words = document.createElement("span");
          words.className = "govuk-visually-hidden";
          words.textContent = `Remove ${item.name}`;
          remove.append(mark, words);
          remove.addEventListener("click", () => {
            item.take();
            render();
            // Focus moves to the next ×, else the one before, else the heading.
            const left = selected.querySelectorAll("[data-lookup-remove]");
            (left[index] || left[index - 1] || heading).focus();
          });
          entry.append(`${item.name} `, remove);
          list.append(entry);
        });
        selected.replaceChildren(list);
      };
      form.addEventListener("change", (e) => {
        if (e.target.matches("input[type='checkbox'][name='add']")) {
          render();
        }
      });
      // Add goes on to Edit user; Search (or Enter in it) only filters here.
      form.addEventListener("submit", (e) => {
        if (e.submitter && e.submitter.name === "done") {
          return;
        }
        e.preventDefault();
        filter();
      });
      render();

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
}
// --- End of the role lookup dialog --------------------------------------------

// --- Timeout warning (issue 15, item 4) ---------------------------------------
// The GOV.UK timeout-warning pattern. Signed-in pages carry
// <template id="portal-timeout-warning"> with the seconds until the session
// ends if nothing more happens, and how long before that to warn. The warning
// is a native modal dialog: focus moves to "Stay signed in" and stays inside,
// the page behind is inert, Escape counts as "Stay signed in" (as in the
// pattern), and focus goes back where it was when it closes. The countdown is
// shown every second but spoken (a polite live region) only each minute, then
// every 15 seconds. "Stay signed in" posts the form token to /stay-signed-in,
// which starts the idle time again; "Sign out" is the ordinary sign-out form.
// If nothing is done, the page is loaded again when the time is up: the server
// then says "You have been signed out" and why. Without JavaScript none of
// this appears, and the server still signs out and says so.
{
  const source = document.getElementById("portal-timeout-warning");
  if (source && typeof HTMLDialogElement === "function") {
    const warnSeconds = Number(source.dataset.warnSeconds);
    let deadline = Date.now() + Number(source.dataset.secondsLeft) * 1000;
    let dialog = null;
    let returnFocus = null;
    let ticking = 0;
    let warning = 0;

    const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
    // "2 minutes" (rounded up) down to a minute, then "59 seconds"…
    const shown = (s) => (s >= 60 ? plural(Math.ceil(s / 60), "minute") : plural(s, "second"));
    // …spoken less often: each minute, then every 15 seconds.
    const spoken = (s) => (s >= 60 ? shown(s) : plural(Math.ceil(s / 15) * 15, "second"));
    const secondsLeft = () => Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    // The server decides: signed out (it then says so) or, if another tab
    // kept the session alive, the same page again.
    const timeUp = () => window.location.assign(window.location.pathname + window.location.search);

    const update = () => {
      const left = secondsLeft();
      if (left <= 0) {
        clearInterval(ticking);
        timeUp();
        return;
      }
      dialog.querySelector("[data-countdown]").textContent = shown(left);
      const live = dialog.querySelector("[data-countdown-spoken]");
      const words = `For your security, we will sign you out in ${spoken(left)}.`;
      if (live.textContent !== words) {
        live.textContent = words;
      }
    };

    const close = () => {
      clearInterval(ticking);
      dialog.close();
      dialog.remove();
      dialog = null;
      if (returnFocus && document.contains(returnFocus)) {
        returnFocus.focus();
      }
    };

    const schedule = () => {
      clearTimeout(warning);
      warning = setTimeout(open, Math.max(0, deadline - warnSeconds * 1000 - Date.now()));
    };

    // One "Stay signed in" at a time (a double click, or Escape then a click).
    let staying = false;
    // Near the 12-hour limit "Stay signed in" cannot help: the dialog says
    // when the session ends and offers only "Sign out"; Escape closes it.
    let final = false;

    const stay = async () => {
      if (!dialog || staying || final) {
        return;
      }
      staying = true;
      const token = dialog.querySelector("input[name='csrf_token']").value;
      try {
        const response = await fetch("/stay-signed-in", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ csrf_token: token }),
        });
        if (!response.ok) {
          throw new Error(`stay signed in: ${response.status}`);
        }
        const answer = await response.json();
        deadline = Date.now() + Number(answer.seconds_left) * 1000;
      } catch {
        timeUp();
        return;
      } finally {
        staying = false;
      }
      if (secondsLeft() <= warnSeconds) {
        final = true;
        // Removed, not hidden: the button's class would show it anyway.
        dialog.querySelector("[data-timeout-stay]").remove();
        dialog.querySelector("[data-timeout-final]").hidden = false;
        dialog.querySelector(".portal-timeout-dialog__sign-out button").focus();
        return;
      }
      close();
      schedule();
    };

    function open() {
      if (dialog || final) {
        return;
      }
      returnFocus = document.activeElement;
      dialog = document.importNode(source.content.firstElementChild, true);
      dialog.querySelector("[data-timeout-stay]").addEventListener("click", stay);
      dialog.addEventListener("cancel", (event) => {
        event.preventDefault();
        if (final) {
          // The countdown still ends it: the page is asked for again then.
          close();
          setTimeout(timeUp, Math.max(0, deadline - Date.now()));
          return;
        }
        stay();
      });
      document.body.append(dialog);
      update();
      dialog.showModal();
      ticking = setInterval(update, 1000);
    }

    schedule();
  }
}
// --- End of the timeout warning -----------------------------------------------
