// Provider Portal: starts the GOV.UK Frontend components on every page.
//
// Loaded by layout.html as <script type="module" src="/assets/app.js">, so it
// runs only in browsers that support ES modules (the same test as the
// `govuk-frontend-supported` class set by the layout's inline script), after
// the document has been parsed.
import { initAll } from "/assets/govuk-frontend.min.js";

initAll();
