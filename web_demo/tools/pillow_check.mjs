// Runs web_demo/pillow.js operations on raw RGB files for tests/test_web_demo.py, which compares
// the bytes with Pillow's. Usage: node pillow_check.mjs CASES.json (each case: op, args, input,
// output; input/output are raw RGB files of the sizes given).
import { readFileSync, writeFileSync } from "node:fs";
import * as P from "../pillow.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
for (const c of cases) {
  const img = new P.RGBImage(c.width, c.height, new Uint8Array(readFileSync(c.input)));
  let out;
  if (c.op === "resize") out = P.resize(img, c.size[0], c.size[1], c.box, c.reducing_gap);
  else if (c.op === "reduce") out = P.reduce(img, c.factor, c.factor);
  else if (c.op === "quad") out = P.quadTransform(img, c.size, c.quad);
  else throw new Error(`unknown op ${c.op}`);
  writeFileSync(c.output, out.data);
  c.out_size = [out.width, out.height];
}
writeFileSync(process.argv[2], JSON.stringify(cases));
