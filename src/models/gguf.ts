// GGUF files: a header reader (what a model file says about itself, without loading it) and a
// writer of llama-architecture models with random weights. No model can be downloaded on the
// machines this is built on, so the tests and benchmarks generate theirs: tiny ones for tests,
// realistic shapes (1.1B Q8_0, 7B Q4_0) for benchmarks, where the weights' values do not change
// the speed. llama.cpp loads them through its real path; a random model writes nonsense, which
// grammar-constrained output turns into valid tool calls all the same.
//
// Layout (little-endian): "GGUF", u32 version 3, u64 tensor count, u64 key-value count; each
// key-value: string key, u32 type, value; each tensor: name, u32 dimensions, u64 each (the row
// length first), u32 ggml type, u64 offset into the data section; the data section starts
// aligned to 32, and so does each tensor.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const ALIGNMENT = 32;

const ValueType = { U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10 } as const;

export const GGML_TYPES = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlType = keyof typeof GGML_TYPES;

/** Bytes per block and values per block of each type. */
const BLOCK: Record<GgmlType, { bytes: number; values: number }> = {
  F32: { bytes: 4, values: 1 },
  F16: { bytes: 2, values: 1 },
  Q4_0: { bytes: 18, values: 32 },
  Q8_0: { bytes: 34, values: 32 },
};

export type MetadataValue = string | number | boolean | bigint | { type: 'u32' | 'i32' | 'f32'; value: number } | MetadataValue[];

// ---- reading ------------------------------------------------------------------------------

export interface GgufHeader {
  version: number;
  tensorCount: bigint;
  metadata: Map<string, unknown>;
}

export class GgufError extends Error {}

/**
 * The header and metadata of a GGUF file (arrays longer than `maxArray` are left out: a
 * vocabulary is tens of thousands of strings). Throws GgufError saying what is wrong.
 */
export function readGgufHeader(file: string, maxArray = 64): GgufHeader {
  const fd = openSync(file, 'r');
  let position = 0;
  let buffer = Buffer.alloc(0);
  let start = 0;
  // Reads through a growing window: a header is small, but a vocabulary array can be megabytes.
  const need = (n: number): number => {
    if (position + n > start + buffer.length) {
      const size = Math.max(n, 1 << 20);
      buffer = Buffer.alloc(size);
      start = position;
      const got = readSync(fd, buffer, 0, size, position);
      if (got < n) throw new GgufError(`${file}: ends inside its header (at byte ${position})`);
      buffer = buffer.subarray(0, got);
    }
    const at = position - start;
    position += n;
    return at;
  };
  const u32 = (): number => buffer.readUInt32LE(need(4));
  const u64 = (): bigint => buffer.readBigUInt64LE(need(8));
  const string = (): string => {
    const length = Number(u64());
    if (length > 1 << 24) throw new GgufError(`${file}: a string of ${length} bytes at byte ${position}`);
    return buffer.toString('utf8', need(length), position - start);
  };
  const value = (type: number, keep: boolean): unknown => {
    switch (type) {
      case 0:
        return buffer.readUInt8(need(1));
      case 1:
        return buffer.readInt8(need(1));
      case 2:
        return buffer.readUInt16LE(need(2));
      case 3:
        return buffer.readInt16LE(need(2));
      case ValueType.U32:
        return u32();
      case ValueType.I32:
        return buffer.readInt32LE(need(4));
      case ValueType.F32:
        return buffer.readFloatLE(need(4));
      case ValueType.BOOL:
        return buffer.readUInt8(need(1)) !== 0;
      case ValueType.STRING:
        return string();
      case ValueType.ARRAY: {
        const elementType = u32();
        const count = Number(u64());
        const items: unknown[] = [];
        for (let i = 0; i < count; i++) {
          const item = value(elementType, keep && count <= maxArray);
          if (keep && count <= maxArray) items.push(item);
        }
        return keep && count <= maxArray ? items : { length: count };
      }
      case ValueType.U64:
        return u64();
      case 11:
        return buffer.readBigInt64LE(need(8));
      case 12:
        return buffer.readDoubleLE(need(8));
      default:
        throw new GgufError(`${file}: unknown value type ${type} at byte ${position}`);
    }
  };
  try {
    if (buffer.toString('latin1', need(4), 4) !== 'GGUF' && buffer.toString('latin1', 0, 4) !== 'GGUF') throw new GgufError(`${file}: not a GGUF file (no GGUF magic)`);
    const version = u32();
    if (version !== 2 && version !== 3) throw new GgufError(`${file}: GGUF version ${version}, not 2 or 3`);
    const tensorCount = u64();
    const kvCount = Number(u64());
    const metadata = new Map<string, unknown>();
    for (let i = 0; i < kvCount; i++) {
      const key = string();
      metadata.set(key, value(u32(), true));
    }
    return { version, tensorCount, metadata };
  } catch (error) {
    if (error instanceof GgufError) throw error;
    throw new GgufError(`${file}: unreadable GGUF header (${(error as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

// ---- writing ------------------------------------------------------------------------------

export interface TensorSpec {
  name: string;
  /** Row length first, as GGUF has it. */
  dims: number[];
  type: GgmlType;
  /** Fills the tensor's bytes (called with chunks in order); default: random weights. */
  fill?: 'random' | 'ones';
  /** Rows (along the second dimension) written as zeros. */
  zeroRows?: number[];
}

/** A deterministic generator (xorshift32): the same seed writes the same file. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function f16(value: number): number {
  // Enough for the small, normal values weights and scales are here.
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = (bits >>> 13) & 0x3ff;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  return sign | (exponent << 10) | mantissa;
}

function tensorBytes(spec: TensorSpec): number {
  const count = spec.dims.reduce((a, b) => a * b, 1);
  const block = BLOCK[spec.type];
  if (spec.dims[0]! % block.values !== 0) throw new GgufError(`${spec.name}: a row of ${spec.dims[0]} is not a multiple of ${block.values} (${spec.type})`);
  return (count / block.values) * block.bytes;
}

/** Writes a GGUF file: metadata, then the tensors (streamed, so a 7B shape needs no 4 GB buffer). */
export function writeGguf(file: string, metadata: Record<string, MetadataValue>, tensors: TensorSpec[], seed = 1): void {
  const chunks: Buffer[] = [];
  const u32 = (n: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    chunks.push(b);
  };
  const u64 = (n: number | bigint): void => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    chunks.push(b);
  };
  const string = (s: string): void => {
    const bytes = Buffer.from(s, 'utf8');
    u64(bytes.length);
    chunks.push(bytes);
  };
  const typeOf = (v: MetadataValue): number => {
    if (typeof v === 'string') return ValueType.STRING;
    if (typeof v === 'boolean') return ValueType.BOOL;
    if (typeof v === 'bigint') return ValueType.U64;
    if (typeof v === 'number') return Number.isInteger(v) ? ValueType.U32 : ValueType.F32;
    if (Array.isArray(v)) return ValueType.ARRAY;
    return { u32: ValueType.U32, i32: ValueType.I32, f32: ValueType.F32 }[v.type];
  };
  const writeValue = (v: MetadataValue, type: number): void => {
    if (Array.isArray(v)) {
      const elementType = v.length > 0 ? typeOf(v[0]!) : ValueType.U32;
      u32(elementType);
      u64(v.length);
      for (const item of v) writeValue(item, elementType);
      return;
    }
    const raw = typeof v === 'object' && typeof v !== 'bigint' ? v.value : v;
    const b = Buffer.alloc(type === ValueType.BOOL ? 1 : type === ValueType.U64 ? 8 : 4);
    if (type === ValueType.STRING) return string(raw as string);
    if (type === ValueType.BOOL) b.writeUInt8(raw ? 1 : 0);
    else if (type === ValueType.U64) b.writeBigUInt64LE(BigInt(raw as bigint));
    else if (type === ValueType.I32) b.writeInt32LE(raw as number);
    else if (type === ValueType.F32) b.writeFloatLE(raw as number);
    else b.writeUInt32LE(raw as number);
    chunks.push(b);
  };

  chunks.push(Buffer.from('GGUF', 'latin1'));
  u32(3);
  u64(tensors.length);
  u64(Object.keys(metadata).length);
  for (const [key, v] of Object.entries(metadata)) {
    string(key);
    const type = typeOf(v);
    u32(type);
    writeValue(v, type);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const tensor of tensors) {
    string(tensor.name);
    u32(tensor.dims.length);
    for (const d of tensor.dims) u64(d);
    u32(GGML_TYPES[tensor.type]);
    u64(offset);
    offsets.push(offset);
    offset += Math.ceil(tensorBytes(tensor) / ALIGNMENT) * ALIGNMENT;
  }
  const header = Buffer.concat(chunks);
  const fd = openSync(file, 'w');
  try {
    let at = writeSync(fd, header);
    const dataStart = Math.ceil(at / ALIGNMENT) * ALIGNMENT;
    const next = random(seed);
    for (const [i, tensor] of tensors.entries()) {
      at = dataStart + offsets[i]!;
      const total = tensorBytes(tensor);
      const block = BLOCK[tensor.type];
      // Whole blocks per chunk, about 4 MiB each.
      const perChunk = Math.max(1, Math.floor((4 << 20) / block.bytes)) * block.bytes;
      for (let done = 0; done < total; done += perChunk) {
        const size = Math.min(perChunk, total - done);
        const chunk = Buffer.alloc(size);
        fillBlocks(chunk, tensor.type, tensor.fill ?? 'random', next);
        const rowBytes = (tensor.dims[0]! / block.values) * block.bytes;
        for (const row of tensor.zeroRows ?? []) {
          const from = Math.max(row * rowBytes, done);
          const to = Math.min((row + 1) * rowBytes, done + size);
          if (from < to) chunk.fill(0, from - done, to - done);
        }
        writeSync(fd, chunk, 0, size, at + done);
      }
    }
    // The last tensor's padding, so the file is as long as the offsets say.
    const end = dataStart + offset;
    writeSync(fd, Buffer.alloc(1), 0, 1, end - 1);
  } finally {
    closeSync(fd);
  }
}

function fillBlocks(chunk: Buffer, type: GgmlType, fill: 'random' | 'ones', next: () => number): void {
  const weight = (): number => (fill === 'ones' ? 1 : (next() - 0.5) * 0.1);
  switch (type) {
    case 'F32':
      for (let i = 0; i < chunk.length; i += 4) chunk.writeFloatLE(weight(), i);
      break;
    case 'F16':
      for (let i = 0; i < chunk.length; i += 2) chunk.writeUInt16LE(f16(weight()), i);
      break;
    case 'Q8_0':
    case 'Q4_0': {
      // A scale per block, then random quantised values: fast to write, and any bytes are valid.
      const size = BLOCK[type].bytes;
      const scale = f16(fill === 'ones' ? 1 / 127 : 0.002);
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(Math.floor(next() * 4294967296) >>> 0, i - (i + 4 > chunk.length ? i + 4 - chunk.length : 0));
      for (let i = 0; i < chunk.length; i += size) chunk.writeUInt16LE(scale, i);
      break;
    }
  }
}

// ---- llama models -------------------------------------------------------------------------

export interface LlamaShape {
  name: string;
  embedding: number;
  layers: number;
  heads: number;
  kvHeads: number;
  feedForward: number;
  context: number;
  /** Extra vocabulary pieces after the byte tokens; the words of the tool calls tests expect. */
  pieces: string[];
  /** The type of the big matrices; norms are always F32. */
  type: GgmlType;
}

/** A few hundred pieces: letters, digits, punctuation and JSON's words, so any text tokenizes. */
export const BASIC_PIECES = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split(''),
  ...'{}[]":,._-/ \n'.split(''),
  ...['▁the', '▁a', '▁is', '▁to', '▁of', '▁and', '▁service', '▁restart', '▁status', 'nginx', 'name', 'path', 'true', 'false', 'null', '▁', '▁▁', '"name"', '":"'],
];

export const TINY_LLAMA: LlamaShape = { name: 'aios-test-tiny', embedding: 64, layers: 2, heads: 4, kvHeads: 2, feedForward: 128, context: 16384, pieces: BASIC_PIECES, type: 'F32' };

/** TinyLlama 1.1B's shape: what a small operational model costs. */
export const SHAPE_1_1B: LlamaShape = { name: 'aios-bench-1.1b', embedding: 2048, layers: 22, heads: 32, kvHeads: 4, feedForward: 5632, context: 2048, pieces: BASIC_PIECES, type: 'Q8_0' };
/** Llama 2 7B's shape: a tactical model. */
export const SHAPE_7B: LlamaShape = { name: 'aios-bench-7b', embedding: 4096, layers: 32, heads: 32, kvHeads: 32, feedForward: 11008, context: 2048, pieces: BASIC_PIECES, type: 'Q4_0' };

const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * A llama-architecture model with random weights: an SPM vocabulary (<unk>, <s>, </s>, the 256
 * byte tokens, ChatML's markers, then `shape.pieces`, padded to a multiple of 32) and every
 * tensor llama.cpp requires.
 */
export function writeLlamaModel(file: string, shape: LlamaShape, seed = 1): { vocabulary: number } {
  const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`), '<|im_start|>', '<|im_end|>', ...new Set(shape.pieces)];
  while (tokens.length % 32 !== 0) tokens.push(`<pad${tokens.length}>`);
  const types = tokens.map((t, i) => (i === 0 ? 2 : i <= 2 || t === '<|im_start|>' || t === '<|im_end|>' ? 3 : i < 259 ? 6 : t.startsWith('<pad') ? 5 : 1));
  const scores = tokens.map((t, i) => (types[i] === 1 ? -t.length : 0));
  const E = shape.embedding;
  const V = tokens.length;
  const headDim = E / shape.heads;
  const kv = headDim * shape.kvHeads;
  const tensors: TensorSpec[] = [
    { name: 'token_embd.weight', dims: [E, V], type: shape.type === 'F32' ? 'F32' : 'Q8_0' },
    { name: 'output_norm.weight', dims: [E], type: 'F32', fill: 'ones' },
    // Logits of 0 where the others are random, so greedy decoding never picks them: the
    // end-of-generation tokens (a reply never ends early, and generation speed is measured over
    // every token asked for), the other control tokens and the bytes 0x80 to 0xFF (they are no
    // text alone: a model repeating one streamed nothing until its reply was done).
    { name: 'output.weight', dims: [E, V], type: shape.type === 'F32' ? 'F32' : 'Q8_0', zeroRows: types.flatMap((type, i) => (type === 2 || type === 3 || (type === 6 && i - 3 >= 0x80) ? [i] : [])) },
  ];
  for (let layer = 0; layer < shape.layers; layer++) {
    const blk = `blk.${layer}`;
    tensors.push(
      { name: `${blk}.attn_norm.weight`, dims: [E], type: 'F32', fill: 'ones' },
      { name: `${blk}.attn_q.weight`, dims: [E, E], type: shape.type },
      { name: `${blk}.attn_k.weight`, dims: [E, kv], type: shape.type },
      { name: `${blk}.attn_v.weight`, dims: [E, kv], type: shape.type },
      { name: `${blk}.attn_output.weight`, dims: [E, E], type: shape.type },
      { name: `${blk}.ffn_norm.weight`, dims: [E], type: 'F32', fill: 'ones' },
      { name: `${blk}.ffn_gate.weight`, dims: [E, shape.feedForward], type: shape.type },
      { name: `${blk}.ffn_up.weight`, dims: [E, shape.feedForward], type: shape.type },
      { name: `${blk}.ffn_down.weight`, dims: [shape.feedForward, E], type: shape.type },
    );
  }
  writeGguf(
    file,
    {
      'general.architecture': 'llama',
      'general.name': shape.name,
      'general.alignment': { type: 'u32', value: ALIGNMENT },
      'llama.context_length': { type: 'u32', value: shape.context },
      'llama.embedding_length': { type: 'u32', value: E },
      'llama.block_count': { type: 'u32', value: shape.layers },
      'llama.feed_forward_length': { type: 'u32', value: shape.feedForward },
      'llama.attention.head_count': { type: 'u32', value: shape.heads },
      'llama.attention.head_count_kv': { type: 'u32', value: shape.kvHeads },
      'llama.rope.dimension_count': { type: 'u32', value: headDim },
      'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: 1e-5 },
      'tokenizer.ggml.model': 'llama',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.scores': scores.map((s) => ({ type: 'f32' as const, value: s })),
      'tokenizer.ggml.token_type': types.map((t) => ({ type: 'i32' as const, value: t })),
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: tokens.indexOf('<|im_end|>') },
      'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
      'tokenizer.ggml.add_bos_token': false,
      'tokenizer.chat_template': CHATML_TEMPLATE,
    },
    tensors,
    seed,
  );
  return { vocabulary: V };
}
