// Sign-in with an API client's id and secret.

import { signIn } from "../api.js";
import { field, fill, h, showError } from "../dom.js";

/** Renders the sign-in form. */
export function render(page) {
  const clientId = h("input", { id: "client-id-input", name: "client_id", autocomplete: "username", required: true });
  const secret = h("input", { id: "client-secret-input", name: "client_secret", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", id: "sign-in" }, "Sign in");
  const form = h(
    "form",
    {
      class: "panel signin",
      "aria-labelledby": "signin-title",
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        try {
          await signIn(clientId.value.trim(), secret.value);
          location.hash = "#/sessions";
        } catch (err) {
          showError(err, "Signing in");
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", { class: "muted" }, "Use an API client's credentials (", h("code", {}, "rolemine client create"), ", or the demo client printed when the server started). The token stays in this browser tab."),
    field("Client id", clientId),
    field("Client secret", secret),
    submit,
  );
  fill(page, form);
  clientId.focus();
}
