// Step one of `npm run build`: bundle src/index.js into build/bundle.js. The Spin plugin
// keeps the WIT imports (fermyon:spin/...) external; `j2w` then turns the bundle into a
// component whose world merges wasi-http-proxy's http-trigger and ./wit's spin-host-apis.
import { build } from 'esbuild';
import { SpinEsbuildPlugin } from '@spinframework/build-tools/plugins/esbuild/index.js';

await build({
  entryPoints: ['./src/index.js'],
  outfile: './build/bundle.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  sourcemap: true,
  minify: false,
  logLevel: 'error',
  plugins: [await SpinEsbuildPlugin()],
});
