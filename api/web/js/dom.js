// dom.js - building elements without innerHTML: every text goes in through a text node,
// so nothing the API or an event carries can ever become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(node, props, children) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.setAttribute('class', v);
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// h('div', {class: 'x', onclick: f}, 'text', child, ...): an HTML element. Props:
// `class`, `text`, `dataset`, `on<event>` handlers, other attributes as strings; false,
// null and undefined props and children are left out.
export function h(tag, props, ...children) {
  return fill(document.createElement(tag), props, children);
}

// The same for SVG elements.
export function s(tag, props, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), props, children);
}

// Sets an element's text only when it differs: a live page rewrites the same values
// many times a second, and an unchanged text node costs no layout.
export function setText(node, text) {
  const t = String(text);
  if (node.textContent !== t) node.textContent = t;
}

// Sets an attribute only when it differs.
export function setAttr(node, name, value) {
  const v = String(value);
  if (node.getAttribute(name) !== v) node.setAttribute(name, v);
}

// Replaces an element's children.
export function replaceChildren(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}
