#!/usr/bin/env node
// Reference scores from the ORIGINAL nsfwjs MobileNetV2 model, run by nsfwjs itself on
// TensorFlow.js's pure-JavaScript CPU backend. Used to check that the ONNX conversion
// (keras_to_onnx.py) run by OpenCV gives the same scores.
//
// Usage: node reference.js IN_FILE OUT_FILE
//
// IN_FILE (binary, little endian): repeated records of
//   uint32 height, uint32 width, height*width*3 bytes of RGB pixels (row major).
// OUT_FILE (text): one line per record, the 5 softmax scores (Drawing Hentai Neutral Porn Sexy)
// separated by spaces, 9 significant digits.
//
// Each record goes through nsfwjs's own infer(): /255, bilinear resize to 224x224 with
// alignCorners=true (skipped when already 224x224), model.predict.
"use strict";

const fs = require("fs");

// TensorFlow.js prints a hint that tfjs-node would be faster and nsfwjs prints which model it
// loads; keep stdout clean and send any other console output to stderr.
const HINTS = [/looks like you are running TensorFlow\.js in Node\.js/, /You're using the model/,
  /By not specifying 'modelOrUrl'/];
function quietConsole() {
  return function () {
    const text = Array.prototype.map.call(arguments, String).join(" ");
    if (HINTS.some((re) => re.test(text))) return;
    process.stderr.write(text + "\n");
  };
}
console.log = quietConsole();
console.info = quietConsole();
console.warn = quietConsole();
console.debug = quietConsole();

function fail(msg) {
  process.stderr.write("reference.js: " + msg + "\n");
  process.exit(1);
}

function readRecords(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    fail("cannot read " + file + ": " + e.message);
  }
  const records = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 8) fail(file + ": truncated record header at byte " + off);
    const h = buf.readUInt32LE(off);
    const w = buf.readUInt32LE(off + 4);
    off += 8;
    if (h === 0 || w === 0 || h > 16384 || w > 16384) fail(file + ": bad image size " + w + "x" + h + " in record " + records.length);
    const n = h * w * 3;
    if (buf.length - off < n) fail(file + ": truncated pixel data in record " + records.length);
    records.push({ h: h, w: w, pixels: buf.subarray(off, off + n) });
    off += n;
  }
  return records;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 2) {
    process.stderr.write("usage: node reference.js IN_FILE OUT_FILE\n");
    process.exit(2);
  }
  const records = readRecords(args[0]);

  let tf, nsfwjs;
  try {
    tf = require("@tensorflow/tfjs");
    nsfwjs = require("nsfwjs");
  } catch (e) {
    fail("cannot load @tensorflow/tfjs / nsfwjs; run `npm ci` in " + __dirname + " (" + e.message + ")");
  }
  if (!(await tf.setBackend("cpu"))) fail("cannot select the TensorFlow.js cpu backend");
  await tf.ready();
  if (tf.getBackend() !== "cpu") fail("TensorFlow.js backend is " + tf.getBackend() + ", not cpu");

  // The model bundled inside the nsfwjs package (no download).
  const model = await nsfwjs.load("MobileNetV2");

  const lines = [];
  for (const r of records) {
    const data = Int32Array.from(r.pixels);
    const img = tf.tensor3d(data, [r.h, r.w, 3], "int32");
    const out = model.infer(img);
    const scores = await out.data();
    img.dispose();
    out.dispose();
    if (scores.length !== 5) fail("model returned " + scores.length + " scores, expected 5");
    lines.push(Array.from(scores, (v) => v.toPrecision(9)).join(" "));
  }

  try {
    fs.writeFileSync(args[1], lines.map((l) => l + "\n").join(""));
  } catch (e) {
    fail("cannot write " + args[1] + ": " + e.message);
  }
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
