// run_ort.js - run an ONNX model written by `jetcnn export` in ONNX Runtime (CPU).
// usage: node run_ort.js MODEL.onnx IMAGES.f32 DIMS OUT.f32
//   IMAGES.f32  raw little-endian float32 pixels, laid out as the HDF5 /images dataset
//   DIMS        its shape, e.g. 5,40,40 (N,H,W) or 5,32,32,3 (N,H,W,C)
//   OUT.f32     the output `probs` (N,K) as raw float32; its shape is printed
// The package comes from tests/onnx/package-lock.json: npm ci --ignore-scripts --prefix tests/onnx
'use strict';
const fs = require('fs');

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.error(`run_ort.js: onnxruntime-node is not installed (${e.code || e.message}); ` +
                'install it with: npm ci --ignore-scripts --prefix tests/onnx');
  process.exit(2);
}

// The probabilities (N, K) for pixels (Float32Array of N*H*W[*C] raw pixels laid out as the
// file's /images) of shape dims ([N, H, W] or [N, H, W, C]). docs/formats.md shows this.
async function probabilities(model, pixels, dims) {
  const session = await ort.InferenceSession.create(model);
  const { probs } = await session.run({ images: new ort.Tensor('float32', pixels, dims) });
  return probs; // probs.dims = [N, K]; probs.data: Float32Array, row by row
}

async function main() {
  const [model, input, shape, output] = process.argv.slice(2);
  const dims = shape.split(',').map(Number);
  const bytes = fs.readFileSync(input);
  const pixels = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const probs = await probabilities(model, pixels, dims);
  fs.writeFileSync(output, Buffer.from(probs.data.buffer, probs.data.byteOffset, probs.data.byteLength));
  console.log(probs.dims.join(','));
}

main().catch((e) => {
  console.error(`run_ort.js: ${e.message}`);
  process.exit(1);
});
