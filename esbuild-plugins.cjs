// esbuild plugins for the Lambda bundles (serverless.yml custom.esbuild.plugins, and bench/cold-start).
const path = require("node:path");

/**
 * zod 4 re-exports every locale (`z.locales`), about 260 KB of minified messages that tree-shaking
 * cannot drop through the namespace export. We only ever use English (zod's default), so its locale
 * index is replaced by one that exports English alone: bundles shrink by a third and import faster.
 */
const zodEnglishOnly = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!args.importer.includes(`${path.sep}node_modules${path.sep}zod${path.sep}`)) return undefined;
      return { path: path.join(path.dirname(args.importer), "../locales/en.js"), namespace: "zod-locales" };
    });
    build.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
    }));
  },
};

module.exports = [zodEnglishOnly];
