/** @file torch.amp: autocast and the gradient scaler for mixed-precision training. */
export { autocast, autocastDtype, AUTOCAST, type AutocastOptions, type AutocastPolicy } from './autocast.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './gradScaler.js';
