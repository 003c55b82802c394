// dom.js builds elements without innerHTML, so text from the API (job
// names, output, error messages) is never parsed as markup.

// h(tag, props, ...children): props are attributes, except "class", "text",
// "dataset", "style" (an object applied through CSSOM) and on* functions,
// which become event listeners. Children may be strings, nodes, arrays,
// null or false.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style') Object.assign(el.style, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k in el && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

// replace swaps el's children for the given ones.
export function replace(el, ...children) {
  clear(el);
  append(el, children);
}

// badge renders a job or worker state.
export function badge(state, extra) {
  const s = (state || 'UNKNOWN').toLowerCase();
  return h('span', { class: `badge st-${s}` + (extra ? ' ' + extra : '') }, h('span', { class: 'dot', 'aria-hidden': 'true' }), state || '—');
}

// bar renders a horizontal gauge with an accessible value.
export function bar(label, value, max, text, kind = '') {
  const frac = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0;
  const level = frac >= 0.9 ? ' high' : frac >= 0.7 ? ' mid' : '';
  return h('div', { class: 'gauge' },
    h('div', { class: 'gauge-head' }, h('span', { class: 'gauge-label' }, label), h('span', { class: 'gauge-text' }, text)),
    h('div', {
      class: 'gauge-track', role: 'meter', 'aria-label': label, 'aria-valuemin': '0',
      'aria-valuemax': String(max), 'aria-valuenow': String(Math.min(value, max)), 'aria-valuetext': text,
    }, h('div', { class: `gauge-fill ${kind}${level}`, style: { width: (frac * 100).toFixed(1) + '%' } })));
}

// chips renders labels (k=v) as small tags.
export function chips(labels) {
  return h('span', { class: 'chips' }, Object.entries(labels || {}).sort().map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`)));
}
