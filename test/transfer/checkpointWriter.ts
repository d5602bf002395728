/** @file Child process for the checkpoint test: saves checkpoints of a growing step count until killed. */
import { nn, optim } from '../../index.js';
import { saveCheckpoint } from '../../transfer/checkpoint.js';

const path = process.argv[2]!;
const model = new nn.Sequential(new nn.Linear(512, 512), new nn.Linear(512, 512), new nn.Linear(512, 256));
const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
process.stdout.write('ready\n');
for (let step = 1; ; step++) await saveCheckpoint(path, { model, optimizer: opt }, { step });
