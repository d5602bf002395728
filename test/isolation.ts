/** @file Setup for every test file: after each test, its queued GPU work is waited for and any error it left fails that test. */
import { afterEach } from 'vitest';
import { settleBackends } from './backends.js';

afterEach(settleBackends);
