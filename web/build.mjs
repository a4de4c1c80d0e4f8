// Builds the one-tag embed. web/webchat.js is the bundle a site's tag names (so the name is stable
// and browsers revalidate it by ETag): Lit and <webchat-launcher>, minified. The conversation (every
// other element, the client and the transport) is dist/conversation-[hash].js, which the bundle
// imports when the page has a <webchat-app> or <webchat-chat>, or when a launcher opens: a closed
// launcher on every page of a site costs only the bundle. The bundle's bytes are also written as
// dist/webchat-[hash].js (cached for a year: the name changes with the content) for sites that pin
// a version, with the source maps and license notes beside. One file before the launcher renders,
// not a loader that imports the hashed file: that second, dependent request cost ~170 ms
// (bench/browser.py, shared 2-core machine).
import * as esbuild from 'esbuild';
import {copyFile, readFile, rm, writeFile} from 'node:fs/promises';
import {basename, dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// Lit's css`` templates are strings to esbuild, so it leaves their whitespace and comments in:
// hand each one without interpolations to esbuild's CSS minifier (about 6 kB less, 1 kB gzip).
const minifyCss = {
  name: 'minify-css-templates',
  setup(build) {
    build.onLoad({filter: /[\\/]web[\\/](components|lib)[\\/][^\\/]+\.js$/}, async (args) => {
      let src = await readFile(args.path, 'utf8');
      for (const m of [...src.matchAll(/\bcss`([^`$\\]*)`/g)].reverse()) {
        // utf8: an escape such as \2014 would be an invalid escape in the template literal (its
        // cooked string, which Lit reads, would be undefined)
        const {code} = await esbuild.transform(m[1], {loader: 'css', minify: true, charset: 'utf8'});
        src = `${src.slice(0, m.index)}css\`${code.trim()}\`${src.slice(m.index + m[0].length)}`;
      }
      return {contents: src, loader: 'js'};
    });
  },
};
const dist = join(here, 'dist');
await rm(dist, {recursive: true, force: true});
const common = {
  outdir: dist,
  // what is loaded only when needed (the site owner's diagnostics, the emoji picker) is a chunk of its own
  splitting: true,
  chunkNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
};

// The conversation (every element but the launcher) is built first, as a file of its own. Its
// Lit is the bundle's, handed over on a global when the bundle runs: in one build esbuild would
// move Lit (shared by the bundle and the chunk) into a third file that the bundle imports, one
// more request before the launcher could render.
const LIT = ['LitElement', 'html', 'css', 'nothing', 'svg', 'unsafeCSS', 'repeat'];
const litFromBundle = {
  name: 'lit-from-bundle',
  setup(build) {
    build.onResolve({filter: /^lit(\/directives\/repeat\.js)?$/}, () => ({path: 'lit', namespace: 'lit-from-bundle'}));
    build.onLoad({filter: /.*/, namespace: 'lit-from-bundle'}, () => ({
      contents: `const lit = globalThis[Symbol.for('webchat.lit')];\n`
        + LIT.map((n) => `export const ${n} = lit.${n};`).join('\n'),
      loader: 'js',
    }));
  },
};
const conversation = await esbuild.build({
  ...common,
  entryPoints: {conversation: join(here, 'conversation.entry.js')},
  entryNames: '[name]-[hash]',
  plugins: [minifyCss, litFromBundle],
});
const [conversationFile] = Object.entries(conversation.metafile.outputs)
  .filter(([p, out]) => p.endsWith('.js') && out.entryPoint).map(([p]) => basename(p));
// the bundle's on-demand imports of the conversation's elements are that file
const conversationChunk = {
  name: 'conversation-chunk',
  setup(build) {
    build.onResolve({filter: /[\\/]components[\\/]webchat-(chat|app)\.js$/},
      (args) => (args.kind === 'dynamic-import' ? {path: `./${conversationFile}`, external: true} : undefined));
  },
};
const result = await esbuild.build({
  ...common,
  entryPoints: {webchat: join(here, 'webchat.entry.js')},
  entryNames: '[name]-[hash]',
  plugins: [minifyCss, conversationChunk],
});
const [bundle] = Object.entries(result.metafile.outputs)
  .filter(([p, out]) => p.endsWith('.js') && out.entryPoint).map(([p]) => p);
const name = basename(bundle);
// the bundle's comments point at its map and license file by relative URL: from web/, that is dist/
const text = await readFile(join(dist, name), 'utf8');
await writeFile(join(here, 'webchat.js'), text
  .replace(`sourceMappingURL=${name}.map`, `sourceMappingURL=dist/${name}.map`)
  .replaceAll('import("./', 'import("./dist/')
  .replace(`see ${name}.LEGAL.txt`, `see dist/${name}.LEGAL.txt`));
// the emoji picker's data (emojibase, trimmed for emoji-picker-element) is served by the chat server
// itself at /web/dist/emoji-data-en.json: no CDN, so the picker works air-gapped and under a strict CSP
await copyFile(join(here, 'node_modules', 'emoji-picker-element-data', 'en', 'emojibase', 'data.json'),
  join(dist, 'emoji-data-en.json'));
const bytes = result.metafile.outputs[bundle].bytes;
const conversationBytes = Object.entries(conversation.metafile.outputs).find(([p]) => p.endsWith(conversationFile))[1].bytes;
console.log(`web/webchat.js (also web/dist/${name}): ${(bytes / 1024).toFixed(1)} KiB minified; `
  + `web/dist/${conversationFile}: ${(conversationBytes / 1024).toFixed(1)} KiB`);

// The agents' inbox (/inbox/) is a build of its own, not an entry beside the widget's: two entries
// in one build would share chunks, and the widget would then load a chunk it did not need before.
// Visitors never download a byte of the inbox, and the widget's bundle stays what it was.
const inbox = await esbuild.build({
  ...common,
  entryPoints: {inbox: join(here, 'inbox.entry.js')},
  entryNames: '[name]-[hash]',
  plugins: [minifyCss],
});
const [inboxBundle] = Object.entries(inbox.metafile.outputs)
  .filter(([p, out]) => p.endsWith('.js') && out.entryPoint).map(([p]) => p);
const inboxName = basename(inboxBundle);
const inboxText = await readFile(join(dist, inboxName), 'utf8');
await writeFile(join(here, 'inbox.js'), inboxText
  .replace(`sourceMappingURL=${inboxName}.map`, `sourceMappingURL=dist/${inboxName}.map`)
  .replaceAll('import("./', 'import("./dist/')
  .replace(`see ${inboxName}.LEGAL.txt`, `see dist/${inboxName}.LEGAL.txt`));
console.log(`web/inbox.js (also web/dist/${inboxName}): `
  + `${(inbox.metafile.outputs[inboxBundle].bytes / 1024).toFixed(1)} KiB minified`);
