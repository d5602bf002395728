/** @file The command line refuses every bad option before any work, in one line; --weights loads strictly; a NaN stop keeps its run folder. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { manualSeed } from '../../index.js';
import { main } from '../../transfer/cli.js';
import { UsageError } from '../../transfer/cli/options.js';
import { saveSafetensors } from '../../transfer/import/safetensors.js';
import { ResNet } from '../../transfer/zoo/resnet.js';
import { MLP } from '../../transfer/zoo/small.js';

const dir = mkdtempSync(join(tmpdir(), 'graft-cli-'));
const cli = fileURLToPath(new URL('../../transfer/cli.ts', import.meta.url));

describe('graft command line', () => {
  it('refuses each bad option with a UsageError naming it, and creates no run folder', async () => {
    const out = join(dir, 'never');
    const bad: [string[], RegExp][] = [
      [['--batch-size', '0'], /--batch-size expects an integer >= 1, got '0'/],
      [['--epochs', '-1'], /--epochs expects an integer >= 1, got '-1'/],
      [['--epochs=-1'], /--epochs expects an integer >= 1, got '-1'/],
      [['--epochs', '1.5'], /--epochs expects an integer >= 1, got '1\.5'/],
      [['--lr', 'abc'], /--lr expects a number > 0, got 'abc'/],
      [['--lr=-1'], /--lr expects a number > 0, got '-1'/],
      [['--lr', ''], /--lr expects a number > 0, got ''/],
      [['--labels-per-class', '0'], /--labels-per-class expects an integer >= 1/],
      [['--label-smoothing', '2'], /--label-smoothing expects a number in \[0, 1\]/],
      [['--backend', 'gpu'], /--backend expects one of cpu, webgpu, auto, got 'gpu'/],
      [['--bogus'], /unknown option --bogus for 'graft finetune'/],
      [['--epoch', '3'], /unknown option --epoch .*did you mean --epochs\?/],
      [['--lr'], /--lr needs a value \(X\)/],
      [['--epochs', '--lr', '3'], /--epochs needs a value \(N\)/],
      [['--epochs', '2', '--epochs', '3'], /--epochs is given twice/],
      [['--quiet=yes'], /--quiet takes no value, got 'yes'/],
      [['stray'], /unexpected argument 'stray'/],
      [['--model', 'mlp', '--pool-grid', '2'], /--pool-grid applies only to --model mobilenetv2 \(got --model mlp\)/],
      [['--freeze', 'backbone', '--trainable-blocks', '2'], /--freeze and --trainable-blocks .* give one/],
      [['--non-strict'], /--non-strict needs --weights/],
      [['--data', join(dir, 'missing.safetensors')], /--data .*missing\.safetensors: no such file/],
      [['--data', dir], /--data: .*: no class folders \(expected one subfolder per class/],
      [['--weights', join(dir, 'missing.pt')], /--weights .*missing\.pt: no such file/],
    ];
    for (const [args, msg] of bad) {
      const err = await main(['finetune', ...args, '--out', out]).then(() => null, (e: unknown) => e);
      expect(err, args.join(' ')).toBeInstanceOf(UsageError);
      expect((err as Error).message, args.join(' ')).toMatch(msg);
    }
    await expect(main(['compare', '--budgets', '10,,5'])).rejects.toThrow(/--budgets expects a comma-separated list of integers >= 1/);
    await expect(main(['compare', '--labels-per-class', '3'])).rejects.toThrow(/unknown option --labels-per-class for 'graft compare'/);
    writeFileSync(join(dir, 'a-file'), 'x');
    await expect(main(['finetune', '--out', join(dir, 'a-file')])).rejects.toThrow(/--out .*a-file: is a file, not a folder/);
    expect(existsSync(out)).toBe(false);
  });

  it('prints each command\'s usage for --help, and exits 2 with one line and no stack trace on a bad option', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8' });
    for (const [cmd, option] of [['finetune', '--labels-per-class N'], ['compare', '--budgets N[,N]']] as const) {
      for (const args of [[cmd, '--help'], [cmd, '-h'], ['help', cmd], [cmd, '--lr', '1', '--help']]) {
        const r = run(...args);
        expect(r.status, args.join(' ')).toBe(0);
        expect(r.stdout).toContain(`Usage: graft ${cmd} [options]`);
        expect(r.stdout).toContain(option);
      }
    }
    const r = run('finetune', '--batch-size', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("graft: --batch-size expects an integer >= 1, got '0'\nrun 'graft finetune --help' for the options\n");
    const missing = run('finetune', '--model', 'mlp', '--data', join(dir, 'a-file'), '--quiet');
    expect(missing.status, missing.stderr).toBe(1);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    expect(missing.stderr).toMatch(/^graft: safetensors: .*a-file: /);
  });

  it('loads --weights strictly unless --non-strict, whatever the file is called', async () => {
    manualSeed(0);
    const resnet = join(dir, 'resnet.pt');
    writeFileSync(resnet, await saveSafetensors(new ResNet([1, 1, 1, 1], 10, 8).stateDict()));
    const base = ['finetune', '--model', 'mlp', '--labels-per-class', '2', '--epochs', '1', '--lr', '1e-9', '--quiet'];
    await expect(main([...base, '--weights', resnet, '--out', join(dir, 'strict')])).rejects.toThrow(/--weights .*resnet\.pt: does not fit --model MLP: 4 missing keys \(.*\), \d+ unexpected keys \(conv1\.weight, .*\); 0 keys match\. Pass --non-strict/);
    expect(existsSync(join(dir, 'strict'))).toBe(false);
    await main([...base, '--weights', resnet, '--non-strict', '--out', join(dir, 'loose')]);
    expect(JSON.parse(readFileSync(join(dir, 'loose', 'report.json'), 'utf8')).model).toMatch(/non-strict: 4 missing, \d+ unexpected keys/);
    const own = join(dir, 'mlp.bin');
    const mlp = new MLP(784, [256], 10);
    writeFileSync(own, await saveSafetensors(mlp.stateDict()));
    await main([...base, '--weights', own, '--out', join(dir, 'own')]);
    const report = JSON.parse(readFileSync(join(dir, 'own', 'report.json'), 'utf8'));
    expect(report.model).toMatch(/weights from .*mlp\.bin \(safetensors\)/);
  });

  it('a loss that stops being finite still writes the run folder with the restored weights, then fails', async () => {
    const out = join(dir, 'nan');
    await expect(main(['finetune', '--model', 'mlp', '--labels-per-class', '3', '--epochs', '2', '--lr', '1e30', '--quiet', '--out', out])).rejects.toThrow(/the loss became .*the model holds its weights from before training.*Wrote .*report\.json/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.stoppedOnNonFinite.epoch).toBeGreaterThanOrEqual(1);
    expect(report.stopped).toMatch(/the loss became/);
    expect(existsSync(join(out, 'best.safetensors'))).toBe(true);
  });
});
