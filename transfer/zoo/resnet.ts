/** @file ResNet-18 (and other basic-block ResNets) with torchvision's names, so torchvision state dicts load as they are. */
import { type Tensor, nn } from '../../index.js';
import type { Source } from '../io.js';
import { loadStateDictFile } from '../import/detect.js';

/** ReLU as the clamp a convolution applies in its kernel. */
const RELU: [number, number] = [0, Infinity];

class BasicBlock extends nn.Module {
  conv1: nn.Conv2d;
  bn1: nn.BatchNorm2d;
  conv2: nn.Conv2d;
  bn2: nn.BatchNorm2d;
  downsample: nn.Sequential | null = null;
  constructor(inC: number, outC: number, stride: number) {
    super();
    this.conv1 = new nn.Conv2d(inC, outC, 3, { stride, padding: 1, bias: false });
    this.bn1 = new nn.BatchNorm2d(outC);
    this.conv2 = new nn.Conv2d(outC, outC, 3, { padding: 1, bias: false });
    this.bn2 = new nn.BatchNorm2d(outC);
    if (stride !== 1 || inC !== outC) this.downsample = new nn.Sequential(new nn.Conv2d(inC, outC, 1, { stride, bias: false }), new nn.BatchNorm2d(outC));
  }
  forward(x: Tensor): Tensor {
    const y = nn.convBatchNorm(this.conv2, this.bn2, nn.convBatchNorm(this.conv1, this.bn1, x, RELU));
    return y.add(this.downsample ? this.downsample.forward(x) : x).relu();
  }
}

/** torchvision's ResNet with basic blocks: conv1, bn1, layer1..layer4, fc. */
export class ResNet extends nn.Module {
  conv1: nn.Conv2d;
  bn1: nn.BatchNorm2d;
  maxpool = new nn.MaxPool2d(3, { stride: 2, padding: 1 });
  layer1: nn.Sequential;
  layer2: nn.Sequential;
  layer3: nn.Sequential;
  layer4: nn.Sequential;
  fc: nn.Linear;
  constructor(blocks: [number, number, number, number] = [2, 2, 2, 2], numClasses = 1000, width = 64, inChannels = 3) {
    super();
    this.conv1 = new nn.Conv2d(inChannels, width, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = new nn.BatchNorm2d(width);
    const stage = (inC: number, outC: number, n: number, stride: number) =>
      new nn.Sequential(...Array.from({ length: n }, (_, i) => new BasicBlock(i ? outC : inC, outC, i ? 1 : stride)));
    this.layer1 = stage(width, width, blocks[0], 1);
    this.layer2 = stage(width, width * 2, blocks[1], 2);
    this.layer3 = stage(width * 2, width * 4, blocks[2], 2);
    this.layer4 = stage(width * 4, width * 8, blocks[3], 2);
    this.fc = new nn.Linear(width * 8, numClasses);
  }
  /** Pooled features before the classifier: [N, 8 * width]. */
  features(x: Tensor): Tensor {
    let y = this.maxpool.forward(nn.convBatchNorm(this.conv1, this.bn1, x, RELU));
    for (const l of [this.layer1, this.layer2, this.layer3, this.layer4]) y = l.forward(y);
    return y.mean([2, 3]);
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(this.features(x));
  }
  replaceHead(numClasses: number): this {
    this.fc = new nn.Linear(this.fc.inFeatures, numClasses);
    return this;
  }
  /** A ResNet-18 carrying the weights of a torchvision state dict (torch.save, safetensors or ONNX initializers, told apart by their bytes). */
  static async fromPretrained(src: Source, opts: { numClasses?: number } = {}): Promise<ResNet> {
    const sd = await loadStateDictFile(src);
    const fc = sd.tensors.get('fc.weight');
    const model = new ResNet([2, 2, 2, 2], fc?.shape[0] ?? 1000, sd.tensors.get('conv1.weight')?.shape[0] ?? 64);
    model.loadStateDict(sd.tensors);
    if (opts.numClasses !== undefined) model.replaceHead(opts.numClasses);
    return model;
  }
}

export function resnet18(numClasses = 1000): ResNet {
  return new ResNet([2, 2, 2, 2], numClasses);
}
