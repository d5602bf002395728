/** @file Finding a WebGPU adapter (navigator.gpu in browsers, Dawn through the `webgpu` package in Node) and a device with its higher limits. */

export interface GpuAcquired {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: { vendor: string; architecture: string; device: string; description: string };
}

let nodeGpu: GPU | null = null;

/** The GPU entry point: navigator.gpu, or in Node one Dawn instance whose enums become globals. */
export async function gpuApi(): Promise<{ gpu: GPU | null; why: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, why: '' };
  if (typeof process === 'undefined' || !process.versions?.node) return { gpu: null, why: 'navigator.gpu is missing' };
  if (!nodeGpu) {
    try {
      const mod = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
      // Dawn's enums (GPUBufferUsage, GPUMapMode, ...) become globals, as in a browser; existing ones stay.
      for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      nodeGpu = mod.create([]);
    } catch (e) {
      return { gpu: null, why: `the webgpu package did not load (${(e as Error).message})` };
    }
  }
  return { gpu: nodeGpu, why: '' };
}

const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

/** An adapter and a device asking for the adapter's own limits; null with a reason when there is none. */
export async function acquireDevice(powerPreference: GPUPowerPreference = 'high-performance'): Promise<GpuAcquired | { why: string }> {
  const { gpu, why } = await gpuApi();
  if (!gpu) return { why };
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) return { why: 'no WebGPU adapter was found' };
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const requiredFeatures = (['shader-f16', 'timestamp-query', 'subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const i = adapter.info;
  return { device, adapter, info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } };
}
