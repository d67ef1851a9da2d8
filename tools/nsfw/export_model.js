#!/usr/bin/env node
// Writes the MobileNetV2 model bundled inside the npm package nsfwjs as plain files:
//   OUT_DIR/model.json   the {modelTopology, weightsManifest} object (a Keras model in tfjs layers format)
//   OUT_DIR/weights.bin  the raw weight bytes (still uint8-quantized, as described by weightsManifest)
//
// Usage: node export_model.js OUT_DIR
//
// The model files are browserify bundles: model.min.js exports the model JSON, and
// group1-shard1of1.min.js exports the weight data as one base64 string (nsfwjs decodes it the
// same way, see JSONHandler in nsfwjs/dist/cjs/index.js).
"use strict";

const fs = require("fs");
const path = require("path");

function fail(msg) {
  process.stderr.write("export_model.js: " + msg + "\n");
  process.exit(1);
}

function modelDir() {
  let main;
  try {
    main = require.resolve("nsfwjs"); // .../node_modules/nsfwjs/dist/cjs/index.js
  } catch (e) {
    fail("cannot find the npm package nsfwjs; run `npm ci` in " + __dirname + " (" + e.message + ")");
  }
  return path.join(path.dirname(main), "..", "models", "mobilenet_v2");
}

function loadBundle(file) {
  if (!fs.existsSync(file)) fail("missing model file " + file);
  try {
    const m = require(file);
    // A bundle may be wrapped as an ES module by some tooling; accept both.
    return m && m.__esModule && "default" in m ? m.default : m;
  } catch (e) {
    fail("cannot load " + file + ": " + e.message);
  }
}

// fs.mkdirSync(..., {recursive: true}) can spin forever on some paths (e.g. under /proc) in
// some Node versions, so create the missing directories one by one.
function makeDirs(dir) {
  const missing = [];
  let d = dir;
  while (!fs.existsSync(d)) {
    missing.unshift(d);
    const parent = path.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  for (const m of missing) fs.mkdirSync(m);
  if (!fs.statSync(dir).isDirectory()) throw new Error(dir + " is not a directory");
}

function main() {
  const args = process.argv.slice(2);
  if (args.length !== 1) {
    process.stderr.write("usage: node export_model.js OUT_DIR\n");
    process.exit(2);
  }
  const outDir = path.resolve(args[0]);

  const dir = modelDir();
  const model = loadBundle(path.join(dir, "model.min.js"));
  if (!model || typeof model !== "object" || !model.modelTopology || !Array.isArray(model.weightsManifest)) {
    fail("model.min.js did not yield an object with modelTopology and weightsManifest");
  }

  // Decode every weight shard named in the manifest, in manifest order.
  const parts = [];
  let expected = 0;
  for (const group of model.weightsManifest) {
    for (const p of group.paths) {
      const b64 = loadBundle(path.join(dir, p + ".min.js"));
      if (typeof b64 !== "string" || b64.length === 0) fail("weight shard " + p + ".min.js is not a base64 string");
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) fail("weight shard " + p + ".min.js is not valid base64");
      parts.push(Buffer.from(b64, "base64"));
    }
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      let bytesPer;
      if (q) {
        bytesPer = { uint8: 1, uint16: 2, float16: 2 }[q.dtype];
      } else {
        bytesPer = { float32: 4, int32: 4, bool: 1 }[w.dtype];
      }
      if (!bytesPer) fail("weight " + w.name + " has an unsupported dtype");
      expected += n * bytesPer;
    }
  }
  const data = Buffer.concat(parts);
  if (data.length !== expected) {
    fail("weight data is " + data.length + " bytes but the manifest describes " + expected + " bytes");
  }

  try {
    makeDirs(outDir);
    const json = { modelTopology: model.modelTopology, weightsManifest: model.weightsManifest };
    fs.writeFileSync(path.join(outDir, "model.json"), JSON.stringify(json));
    fs.writeFileSync(path.join(outDir, "weights.bin"), data);
  } catch (e) {
    fail("cannot write to " + outDir + ": " + e.message);
  }
}

main();
