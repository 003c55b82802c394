// The API token form, shown when the server needs a token and this tab has
// none (or the one it had was refused).

import { get, token } from '../api.js';
import { h } from '../dom.js';

export function mount(main, { message, onToken }) {
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true,
    spellcheck: 'false', 'aria-describedby': 'token-help token-error',
  });
  const error = h('p', { id: 'token-error', class: 'field-error', role: 'alert' }, message || '');
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Continue');
  const form = h('form', { class: 'card narrow token-form', novalidate: true },
    h('h1', {}, 'API token'),
    h('p', { id: 'token-help', class: 'muted' },
      'This drover server needs an API token. It is kept in this browser tab only, until the tab is closed.'),
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'Token'), input, error),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (!t) {
      error.textContent = 'Enter the API token (the server\'s --api-token or DROVER_API_TOKEN).';
      input.focus();
      return;
    }
    submit.disabled = true;
    error.textContent = '';
    token.set(t);
    try {
      // Any authenticated call tells a good token from a bad one.
      await get('/jobs?limit=1', { auth: false });
    } catch (e) {
      token.clear();
      submit.disabled = false;
      error.textContent = e.status === 401
        ? 'That token is invalid: the server refused it. Check it and try again.'
        : e.message;
      input.setAttribute('aria-invalid', 'true');
      input.select();
      return;
    }
    onToken();
  });
  main.append(h('section', { class: 'page' }, form));
  input.focus();
  return () => {};
}
