// unit_page.test.mjs - checks of the page's files that need no browser: every module is
// preloaded by index.html (else the browser finds them level by level of the imports),
// and no script builds markup from text (every text goes in through dom.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../api/web');
const modules = fs.readdirSync(path.join(WEB, 'js')).filter((f) => f.endsWith('.js'));

test('index.html loads app.js and preloads every other module', () => {
  const html = fs.readFileSync(path.join(WEB, 'index.html'), 'utf8');
  assert.match(html, /<script type="module" src="js\/app.js"><\/script>/);
  for (const m of modules.filter((f) => f !== 'app.js')) {
    assert.ok(html.includes(`<link rel="modulepreload" href="js/${m}">`), `js/${m} is not preloaded`);
  }
});

test('no script of the page inserts markup: no innerHTML, outerHTML, insertAdjacentHTML or document.write', () => {
  for (const m of modules) {
    const src = fs.readFileSync(path.join(WEB, 'js', m), 'utf8');
    assert.doesNotMatch(src, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/, m);
  }
});
