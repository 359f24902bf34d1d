// Login: paste a token; the refusal is said in words.

import { el } from "../ui.js";

export function mount(root, { config, message = "", onLogin }) {
  root.className = "view view-login";
  const input = el("input.input", {
    id: "login-token",
    type: "password",
    testid: "login-token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "paste your token",
    "aria-describedby": "login-help login-error",
  });
  const error = el("p.login-error", { id: "login-error", testid: "login-error", role: "alert" }, message);
  error.hidden = !message;
  const submit = el("button.btn.btn-primary.btn-big", { type: "submit", testid: "login-submit" }, "Log in");
  const form = el(
    "form.login-card",
    { "aria-labelledby": "login-title", novalidate: true },
    el("h1#login-title", null, "Mission Control"),
    config.site ? el("p.muted", null, `Site: ${config.site}`) : null,
    el("label.label", { for: "login-token" }, "Access token"),
    input,
    el("p.muted#login-help", null, "Your administrator gives you a token (mission-control users add NAME --role ROLE)."),
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await onLogin(input.value);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      input.select();
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  root.replaceChildren(el("div.login-wrap", null, form));
  input.focus();
  return () => {};
}
