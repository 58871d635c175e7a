// A few helpers to build DOM without a framework. h('div', {class: 'x',
// 'data-node': 'n1', onclick: fn}, child, 'text') makes an element; null,
// false and undefined children are skipped, arrays are flattened. Styles
// go through element.style (the Content-Security-Policy allows no inline
// style attribute).

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') {
      for (const [p, val] of Object.entries(v)) {
        if (p.startsWith('--')) el.style.setProperty(p, val);
        else el.style[p] = val;
      }
    }
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
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

export function h(tag, attrs, ...children) { return build(document.createElement(tag), attrs, children); }
export function s(tag, attrs, ...children) { return build(document.createElementNS(SVG_NS, tag), attrs, children); }

// fill replaces el's children, skipping null, false and undefined as h
// does.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// setText changes a node's text only when it differs (no needless layout).
export function setText(el, text) {
  text = String(text);
  if (el.textContent !== text) el.textContent = text;
}

// setAttr sets (or, for null, removes) an attribute when it differs.
export function setAttr(el, name, value) {
  if (value === null || value === undefined || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
    return;
  }
  value = value === true ? '' : String(value);
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

// ticking re-writes the text of every element under root that carries a
// data-since time as write(that time) every ms, so that "4s ago" moves
// while nothing else changes. Returns stop().
export function ticking(root, write, ms = 1000) {
  const t = setInterval(() => {
    for (const el of root.querySelectorAll('[data-since]')) setText(el, write(el.dataset.since));
  }, ms);
  return () => clearInterval(t);
}

// keyed reconciles the children of parent with items: one element per
// key, made by create(item) and brought up to date by update(el, item),
// in the order of items; elements whose key is gone are removed (through
// remove(el) when given, which may animate first).
export function keyed(parent, items, key, create, update, remove) {
  const have = new Map();
  for (const el of parent.children) if (el.dataset.key !== undefined && !el.dataset.leaving) have.set(el.dataset.key, el);
  let prev = null;
  for (const item of items) {
    const k = String(key(item));
    let el = have.get(k);
    if (el) have.delete(k);
    else {
      el = create(item);
      el.dataset.key = k;
    }
    update(el, item);
    const want = prev ? prev.nextSibling : parent.firstChild;
    if (want !== el) parent.insertBefore(el, want);
    prev = el;
  }
  for (const el of have.values()) (remove ? remove(el) : el.remove());
}

// section is a titled panel.
export function section(title, ...children) {
  return h('section', {class: 'panel'}, h('h2', {}, title), ...children);
}
