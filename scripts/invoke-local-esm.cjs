// A small serverless plugin: `serverless invoke local` in osls loads handlers with require(), which
// cannot load the .mjs bundles we build (Lambda's ESM format). After serverless-esbuild has built
// the function, this writes a CommonJS twin (`<handler>.cjs`) that imports the .mjs bundle, which
// invoke local finds. Deploys and serverless offline are not affected.
const { existsSync, writeFileSync } = require("node:fs");
const path = require("node:path");

class InvokeLocalEsm {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options;
    this.hooks = { "before:invoke:local:invoke": () => this.writeTwin() };
  }

  writeTwin() {
    const fn = this.serverless.service.getFunction(this.options.function);
    const dot = fn.handler.lastIndexOf(".");
    const file = fn.handler.slice(0, dot);
    const name = fn.handler.slice(dot + 1);
    const base = path.join(this.serverless.serviceDir, file);
    if (!existsSync(`${base}.mjs`)) return;
    const target = JSON.stringify(`./${path.basename(file)}.mjs`);
    writeFileSync(
      `${base}.cjs`,
      `exports[${JSON.stringify(name)}] = async (event, context) => (await import(${target}))[${JSON.stringify(name)}](event, context);\n`,
    );
  }
}

module.exports = InvokeLocalEsm;
