// Builds the one-tag embed. web/webchat.js is the whole bundle (Lit + every public element,
// minified): a site's tag names it, so the name is stable and browsers revalidate it by ETag.
// The same bytes are also written as dist/webchat-[hash].js (cached for a year: the name changes
// with the content) for sites that pin a version, with the source map and license notes beside.
// One file, not a loader that imports the hashed file: that second, dependent request cost
// ~170 ms before the launcher could render (bench/browser.py, shared 2-core machine).
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
        const {code} = await esbuild.transform(m[1], {loader: 'css', minify: true});
        src = `${src.slice(0, m.index)}css\`${code.trim()}\`${src.slice(m.index + m[0].length)}`;
      }
      return {contents: src, loader: 'js'};
    });
  },
};
const dist = join(here, 'dist');
await rm(dist, {recursive: true, force: true});
const result = await esbuild.build({
  entryPoints: {webchat: join(here, 'webchat.entry.js')},
  outdir: dist,
  entryNames: '[name]-[hash]',
  // what is loaded only when needed (the site owner's diagnostics) is a chunk of its own
  splitting: true,
  chunkNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  metafile: true,
  plugins: [minifyCss],
  logLevel: 'warning',
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
console.log(`web/webchat.js (also web/dist/${name}): ${(bytes / 1024).toFixed(1)} KiB minified`);
