/** @file Padding masks for the Hugging Face-style models: a [B, L] 0/1 attention mask as the [B, 1, 1, L] booleans attention takes. */
import { GraftShapeError, type Tensor, fmtShape } from '../../index.js';

/** true where a key may be attended to (attention mask 1: a real token); undefined without a mask. */
export function keyMask(owner: string, ids: Tensor, attentionMask?: Tensor): Tensor | undefined {
  if (!attentionMask) return undefined;
  if (attentionMask.shape.join() !== ids.shape.join()) throw new GraftShapeError(`${owner}: attention mask ${fmtShape(attentionMask.shape)} does not match input ids ${fmtShape(ids.shape)}`);
  const [b, l] = ids.shape as [number, number];
  return attentionMask.ne(0).reshape([b, 1, 1, l]);
}
