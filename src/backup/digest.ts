// A pass-through stream that hashes and counts what flows through it: the sha256 and size of exactly
// the bytes uploaded (backup) or downloaded (restore).
import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

export class Digest extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}
