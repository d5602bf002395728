/** @file Finding a WebGPU adapter (navigator.gpu in browsers, Dawn through the `webgpu` package in Node) and a device with its higher limits. */
import { platformGpu } from '../../core/platform/node.js';

export interface GpuAcquired {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: { vendor: string; architecture: string; device: string; description: string };
}

/** The GPU entry point: navigator.gpu, or in Node one Dawn instance. */
export async function gpuApi(): Promise<{ gpu: GPU | null; why: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, why: '' };
  return platformGpu();
}

const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

/**
 * An adapter and a device asking for the adapter's own limits and the features graft uses, less
 * those in `withhold` (to run as on an adapter without them); a reason when there is none.
 */
export async function acquireDevice(powerPreference: GPUPowerPreference = 'high-performance', withhold: readonly GPUFeatureName[] = []): Promise<GpuAcquired | { why: string }> {
  const { gpu, why } = await gpuApi();
  if (!gpu) return { why };
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) return { why: 'no WebGPU adapter was found' };
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const requiredFeatures = (['shader-f16', 'timestamp-query', 'subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f) && !withhold.includes(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const i = adapter.info;
  return { device, adapter, info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } };
}
