#!/usr/bin/env node
// Vendors the WuKongIM JS SDK (npm `wukongimjssdk`, pinned in tests/js/package-lock.json) and
// the packages it imports into src/api/demo/static/vendor/, where the chat demo's page loads
// them as browser ES modules (the server embeds the directory in the binary, so neither
// building nor running Jindou needs node_modules).
//
//   bash scripts/install-test-deps.sh      # npm ci in tests/js
//   node scripts/vendor-jssdk.mjs          # rewrites src/api/demo/static/vendor/
//
// wukongimjssdk 1.0.4 ships only its TypeScript compiler output (ES modules whose imports omit
// the ".js" extension and name npm packages), no browser bundle. Nothing of it is changed:
//   * its lib/*.js files are copied byte for byte; the page's import map (written into
//     index.html between the importmap markers) resolves the extensionless sibling imports
//     and the package names;
//   * its ES-module dependencies (bignumber.js, md5-typescript) are copied byte for byte;
//   * its CommonJS dependencies (buffer with base64-js and ieee754, crypto-js, curve25519-js)
//     are wrapped, each file's text verbatim inside a function(module, exports, require), in
//     one small ES module per package that re-exports what the SDK imports.
// Every package's license goes to vendor/LICENSES/.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nm = path.join(root, 'tests/js/node_modules');
const staticDir = path.join(root, 'src/api/demo/static');
const out = path.join(staticDir, 'vendor');
const base = '/chatdemo/vendor';
const require = createRequire(path.join(nm, 'x.js'));

function read(rel) {
  return fs.readFileSync(path.join(nm, rel));
}
function write(rel, data) {
  const p = path.join(out, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
}
function version(pkg) {
  return JSON.parse(read(`${pkg}/package.json`)).version;
}

if (!fs.existsSync(path.join(nm, 'wukongimjssdk'))) {
  console.error('tests/js/node_modules/wukongimjssdk is missing: run bash scripts/install-test-deps.sh');
  process.exit(1);
}
fs.rmSync(out, { recursive: true, force: true });

// 1. The SDK, byte for byte.
const sdkFiles = fs
  .readdirSync(path.join(nm, 'wukongimjssdk/lib'))
  .filter((f) => f.endsWith('.js'))
  .sort();
for (const f of sdkFiles) write(`wukongimjssdk/lib/${f}`, read(`wukongimjssdk/lib/${f}`));
write('wukongimjssdk/package.json', read('wukongimjssdk/package.json'));

// 2. ES-module dependencies, byte for byte.
write('bignumber.mjs', read('bignumber.js/bignumber.mjs'));
write('md5-typescript.js', read('md5-typescript/dist/index.js'));

// 3. CommonJS dependencies wrapped as ES modules.
function cjsModule(name, files, entry) {
  // The names the entry file exports (by path: `require('buffer')` would be Node's own).
  const named = Object.keys(require(path.join(nm, files[name]))).filter(
    (k) => k !== 'default' && k !== '__esModule',
  );
  let s = `// ${name} ${version(name)} (npm), CommonJS wrapped as an ES module by scripts/vendor-jssdk.mjs.\n`;
  s += '// The text of each file below is the package file, unchanged.\n';
  s += 'const defs = {};\n';
  for (const [id, rel] of Object.entries(files)) {
    s += `defs[${JSON.stringify(id)}] = function (module, exports, require) {\n`;
    s += `// ---- ${rel}\n${read(rel).toString('utf8')}\n};\n`;
  }
  s += `const cache = {};
function load(id) {
  if (cache[id]) return cache[id].exports;
  if (!defs[id]) throw new Error('module ' + id + ' is not vendored');
  const module = (cache[id] = { exports: {} });
  defs[id].call(module.exports, module, module.exports, load);
  return module.exports;
}
const m = load(${JSON.stringify(name)});
export default m;
`;
  for (const k of named) s += `export const ${k} = m.${k};\n`;
  write(`${name}.js`, s);
}
cjsModule('buffer', {
  buffer: 'buffer/index.js',
  'base64-js': 'base64-js/index.js',
  ieee754: 'ieee754/index.js',
});
cjsModule('crypto-js', { 'crypto-js': 'crypto-js/crypto-js.js' });
cjsModule('curve25519-js', { 'curve25519-js': 'curve25519-js/lib/index.js' });

// 4. Licenses.
const licenses = {
  'bignumber.js': 'bignumber.js/LICENCE.md',
  buffer: 'buffer/LICENSE',
  'base64-js': 'base64-js/LICENSE',
  ieee754: 'ieee754/LICENSE',
  'crypto-js': 'crypto-js/LICENSE',
  'curve25519-js': 'curve25519-js/LICENSE',
  'md5-typescript': 'md5-typescript/LICENSE',
};
for (const [pkg, rel] of Object.entries(licenses)) write(`LICENSES/${pkg}.txt`, read(rel));
const sdk = JSON.parse(read('wukongimjssdk/package.json'));
write(
  'LICENSES/wukongimjssdk.txt',
  `wukongimjssdk ${sdk.version} (npm; author: ${sdk.author})\n\n` +
    `The package declares "license": "${sdk.license}" in its package.json (copied beside it as\n` +
    'wukongimjssdk/package.json) and ships no license text of its own. The ISC license:\n\n' +
    'Permission to use, copy, modify, and/or distribute this software for any purpose with or\n' +
    'without fee is hereby granted, provided that the above copyright notice and this permission\n' +
    'notice appear in all copies.\n\n' +
    'THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS\n' +
    'SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE\n' +
    'AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES\n' +
    'WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT,\n' +
    'NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR\n' +
    'PERFORMANCE OF THIS SOFTWARE.\n',
);

const versions = ['wukongimjssdk', 'bignumber.js', 'buffer', 'base64-js', 'ieee754', 'crypto-js', 'curve25519-js', 'md5-typescript']
  .map((p) => `| ${p} | ${version(p)} |`)
  .join('\n');
write(
  'README.md',
  `# Vendored browser modules of the chat demo

Generated by \`node scripts/vendor-jssdk.mjs\` from \`tests/js/node_modules\` (\`npm ci\` of
\`tests/js/package-lock.json\`); do not edit by hand. The server embeds this directory (build.rs)
and serves it under \`${base}/\`. Licenses: \`LICENSES/\`.

| package | version |
|---|---|
${versions}

\`wukongimjssdk/lib/*.js\`, \`bignumber.mjs\` and \`md5-typescript.js\` are the package files
unchanged; \`buffer.js\`, \`crypto-js.js\` and \`curve25519-js.js\` wrap the CommonJS package files
(unchanged text) as ES modules. The import map in \`../index.html\` resolves the SDK's
extensionless imports.
`,
);

// 5. The import map of index.html.
const imports = {
  wukongimjssdk: `${base}/wukongimjssdk/lib/sdk.js`,
  'bignumber.js': `${base}/bignumber.mjs`,
  'md5-typescript': `${base}/md5-typescript.js`,
  buffer: `${base}/buffer.js`,
  'crypto-js': `${base}/crypto-js.js`,
  'curve25519-js': `${base}/curve25519-js.js`,
};
for (const f of sdkFiles) {
  const mod = `${base}/wukongimjssdk/lib/${f.replace(/\.js$/, '')}`;
  imports[mod] = `${mod}.js`;
}
const map = {
  imports,
  scopes: { [`${base}/wukongimjssdk/lib/`]: { '.': `${base}/wukongimjssdk/lib/index.js` } },
};
const indexPath = path.join(staticDir, 'index.html');
const html = fs.readFileSync(indexPath, 'utf8');
const begin = '<!-- importmap:begin (scripts/vendor-jssdk.mjs) -->';
const end = '<!-- importmap:end -->';
const i = html.indexOf(begin);
const j = html.indexOf(end);
if (i < 0 || j < i) {
  console.error(`${indexPath} has no importmap markers`);
  process.exit(1);
}
const block = `${begin}\n<script type="importmap">\n${JSON.stringify(map, null, 2)}\n</script>\n`;
fs.writeFileSync(indexPath, html.slice(0, i) + block + html.slice(j));
console.log(`vendored ${sdkFiles.length} SDK modules and 5 dependencies into ${path.relative(root, out)}`);
